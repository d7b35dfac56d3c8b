//! `clean`: validates and normalises one raw product record.
//!
//! A record that breaks a rule is not returned as an `Err` (that would make
//! the engine drop the rest of the batch) but as an output marked as a
//! reject (see `shelf_rules::envelope`), which the runtime routes to the
//! dead-letter topic.

use fluvio_smartmodule::{smartmodule, RecordData, Result, SmartModuleRecord};
use shelf_rules::{clean_bytes, envelope};

#[smartmodule(filter_map)]
pub fn filter_map(record: &SmartModuleRecord) -> Result<Option<(Option<RecordData>, RecordData)>> {
    let raw = record.value.as_ref();
    match clean_bytes(raw) {
        Ok(product) => {
            let key = RecordData::from(product.asin.clone().into_bytes());
            let value = serde_json::to_vec(&product)?;
            Ok(Some((Some(key), RecordData::from(value))))
        }
        Err(reject) => Ok(Some((
            record.key.clone(),
            RecordData::from(envelope::encode_reject(&reject, raw)),
        ))),
    }
}
