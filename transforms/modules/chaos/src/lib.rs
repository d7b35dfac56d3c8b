//! `chaos`: a test fixture for the runtime's containment of bad modules.
//!
//! Passes records through unchanged, except a record whose value contains
//! `PANIC` (traps), `LOOP` (spins forever), `HOG` (allocates until memory
//! runs out) or `ERR` (returns an error, which makes the engine drop the rest
//! of the batch).

use fluvio_smartmodule::{eyre, smartmodule, RecordData, Result, SmartModuleRecord};

#[smartmodule(filter_map)]
pub fn filter_map(record: &SmartModuleRecord) -> Result<Option<(Option<RecordData>, RecordData)>> {
    let value = record.value.as_ref();
    let has = |needle: &[u8]| value.windows(needle.len()).any(|w| w == needle);
    if has(b"PANIC") {
        panic!("chaos: asked to panic");
    }
    if has(b"LOOP") {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
    if has(b"HOG") {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
    if has(b"ERR") {
        return Err(eyre!("chaos: asked to fail"));
    }
    Ok(Some((record.key.clone(), record.value.clone())))
}
