//! `price-bucket`: adds the derived price fields to a cleaned product.
//!
//! Parameters (set at deploy time): `width` and `cap`, whole dollars,
//! defaults 5 and 300. Rejects from an earlier module pass through untouched.

use std::sync::OnceLock;

use fluvio_smartmodule::dataplane::smartmodule::SmartModuleExtraParams;
use fluvio_smartmodule::{smartmodule, RecordData, Result, SmartModuleRecord};
use shelf_rules::{derive, envelope, BucketParams, CleanProduct};

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

#[smartmodule(map)]
pub fn map(record: &SmartModuleRecord) -> Result<(Option<RecordData>, RecordData)> {
    let raw = record.value.as_ref();
    if envelope::is_reject(raw) {
        return Ok((record.key.clone(), record.value.clone()));
    }
    let product: CleanProduct = serde_json::from_slice(raw)?;
    let params = *PARAMS.get_or_init(BucketParams::default);
    let priced = derive(product, params);
    Ok((
        record.key.clone(),
        RecordData::from(serde_json::to_vec(&priced)?),
    ))
}
