//! The bytes the host writes for a module, and reads back from one, are
//! those of fluvio-protocol 0.50.1 as published: the build uses a patched
//! copy that writes byte runs at once (third_party/fluvio-protocol/PATCHED.md),
//! and a module built against the published crate must read them the same.
//! The expected bytes were written by the published crate.

use fluvio_smartmodule::dataplane::core::{Decoder, Encoder};
use fluvio_smartmodule::dataplane::record::{Record, RecordData};
use fluvio_smartmodule::dataplane::smartmodule::SmartModuleOutput;
use fluvio_smartmodule::SMARTMODULE_TIMESTAMPS_VERSION as VERSION;

use crate::module::encode_input;

fn records() -> Vec<Record> {
    vec![
        Record::new_key_value(
            RecordData::from(b"B0KEY".to_vec()),
            RecordData::from(br#"{"asin":"b0key","price":1.5}"#.to_vec()),
        ),
        Record::new(RecordData::from(vec![0u8, 255, 7, 128])),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The two records as `SmartModuleOutput::successes`, then no error.
const OUTPUT: &str = "0000000250000000010a42304b4559387b226173696e223a2262306b6579222c227072696365223a312e357d0014000000000800ff07800000";
/// `SmartModuleInput`: base offset, the records as `raw_bytes`, base
/// timestamp.
const INPUT: &str = "0000000000000000000000380000000250000000010a42304b4559387b226173696e223a2262306b6579222c227072696365223a312e357d0014000000000800ff078000000000000000000000000000000000";

#[test]
fn the_input_is_written_as_the_published_crate_writes_it() {
    let input = encode_input(records()).unwrap();
    assert_eq!(hex(&input), INPUT);
}

#[test]
fn the_output_is_read_and_written_as_the_published_crate_does() {
    let output = SmartModuleOutput {
        successes: records(),
        error: None,
    };
    let mut bytes = Vec::new();
    output.encode(&mut bytes, VERSION).unwrap();
    assert_eq!(hex(&bytes), OUTPUT);
    assert_eq!(output.write_size(VERSION), bytes.len());
    let mut back = SmartModuleOutput::default();
    back.decode(&mut std::io::Cursor::new(&bytes), VERSION)
        .unwrap();
    assert_eq!(back.successes.len(), 2);
    assert_eq!(back.successes[1].value.as_ref(), [0u8, 255, 7, 128]);
}
