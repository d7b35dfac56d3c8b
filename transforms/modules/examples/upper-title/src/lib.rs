//! `upper-title`: upper-cases each product's title and keeps the title as
//! it came in `title_original`, a field of its own. The example of
//! docs/transforms.md.
//!
//! Placed before `clean` (`shelf transform chain upper-title clean
//! price-bucket`) its field passes through the built-in modules and
//! reaches `products`. A record that is not a JSON object is passed on
//! unchanged, for `clean` to reject with its reason.

use fluvio_smartmodule::{smartmodule, RecordData, Result, SmartModuleRecord};
use serde_json::Value;

#[smartmodule(map)]
pub fn map(record: &SmartModuleRecord) -> Result<(Option<RecordData>, RecordData)> {
    let Ok(Value::Object(mut product)) = serde_json::from_slice(record.value.as_ref()) else {
        return Ok((record.key.clone(), record.value.clone()));
    };
    if let Some(Value::String(title)) = product.get("title").cloned() {
        product.insert("title".into(), Value::String(title.to_uppercase()));
        product.insert("title_original".into(), Value::String(title));
    }
    Ok((
        record.key.clone(),
        RecordData::from(serde_json::to_vec(&product)?),
    ))
}
