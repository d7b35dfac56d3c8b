//! `clean-price-bucket`: `clean` then `price-bucket` in one call, the
//! default chain's module.
//!
//! The same rules as the two modules (`shelf-rules`), so the same outputs
//! and rejects, but each record is parsed and written once instead of
//! twice, and crosses into and out of WebAssembly once: in a profile of
//! the two-module chain, moving records in and out of the modules and
//! between them took about as much CPU as the rules themselves
//! (docs/benchmarks.md). The two modules stay for chains that put a module
//! of their own between them.
//!
//! Parameters: those of `price-bucket` (`width`, `cap`).

use std::sync::OnceLock;

use fluvio_smartmodule::dataplane::smartmodule::SmartModuleExtraParams;
use fluvio_smartmodule::{smartmodule, RecordData, Result, SmartModuleRecord};
use shelf_rules::{clean_bytes, derive, envelope, BucketParams};

static PARAMS: OnceLock<BucketParams> = OnceLock::new();

// The host refuses any other parameter name at deploy.
shelf_rules::declare_params!("width", "cap");

#[smartmodule(init)]
fn init(params: SmartModuleExtraParams) -> Result<()> {
    let parsed = BucketParams::from_named(|name| params.get(name).map(String::as_str))?;
    // A second init in the same instance keeps the first parameters.
    let _ = PARAMS.set(parsed);
    Ok(())
}

#[smartmodule(filter_map)]
pub fn filter_map(record: &SmartModuleRecord) -> Result<Option<(Option<RecordData>, RecordData)>> {
    let raw = record.value.as_ref();
    match clean_bytes(raw) {
        Ok(product) => {
            let key = RecordData::from(product.asin.clone().into_bytes());
            let params = *PARAMS.get_or_init(BucketParams::default);
            let value = serde_json::to_vec(&derive(product, params))?;
            Ok(Some((Some(key), RecordData::from(value))))
        }
        Err(reject) => Ok(Some((
            record.key.clone(),
            RecordData::from(envelope::encode_reject(&reject, raw)),
        ))),
    }
}
