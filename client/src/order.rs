//! Keeping every version of a record in file order on the wire.
//!
//! A later row for an asin must reach the topic after the earlier one, or the
//! sink ends up holding the older version. Batches in flight at the same time
//! can land in any order (a retried 503 lands after the batch behind it), so a
//! batch that holds a key still unacknowledged in an earlier batch waits until
//! the batches before it are settled. Repeated keys close together are rare
//! in a catalogue, so this almost never holds anything back.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;
use shelf_contract::wire::{self, RecordKind};

/// The Kafka key the gateway derives from a record (the contract's
/// [`wire::record_key`]); `None` when it has none, in which case the
/// gateway refuses the record and its order does not matter.
pub fn record_key(record: &Value, kind: RecordKind) -> Option<String> {
    wire::record_key(kind, record.get(kind.key_field())).ok()
}

/// The keys of the batches queued and not yet settled, oldest first.
/// Batches settle in the order they were queued.
#[derive(Debug, Default)]
pub struct InFlight {
    batches: VecDeque<Vec<String>>,
    keys: HashMap<String, usize>,
}

impl InFlight {
    /// Whether any of `keys` is in a batch not yet settled.
    pub fn holds_any(&self, keys: &[String]) -> bool {
        keys.iter().any(|k| self.keys.contains_key(k))
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// A batch with these keys was queued.
    pub fn queued(&mut self, keys: Vec<String>) {
        for k in &keys {
            *self.keys.entry(k.clone()).or_default() += 1;
        }
        self.batches.push_back(keys);
    }

    /// The oldest batch was settled.
    pub fn settled(&mut self) {
        let Some(keys) = self.batches.pop_front() else {
            return;
        };
        for k in keys {
            if let Some(n) = self.keys.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    self.keys.remove(&k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn keys_as_the_gateway_makes_them() {
        let r = json!({"asin": " b0abc ", "id": 7});
        assert_eq!(
            record_key(&r, RecordKind::Product).as_deref(),
            Some("B0ABC")
        );
        assert_eq!(record_key(&r, RecordKind::Category).as_deref(), Some("7"));
        assert_eq!(
            record_key(&json!({"asin": 123}), RecordKind::Product).as_deref(),
            Some("123")
        );
        assert_eq!(
            record_key(&json!({"asin": "  "}), RecordKind::Product),
            None
        );
        assert_eq!(record_key(&json!({}), RecordKind::Product), None);
    }

    #[test]
    fn a_key_is_held_until_every_batch_with_it_settles() {
        let mut f = InFlight::default();
        f.queued(keys(&["A", "B"]));
        f.queued(keys(&["B", "C"]));
        assert!(f.holds_any(&keys(&["X", "B"])));
        assert!(!f.holds_any(&keys(&["X", "Y"])));
        f.settled();
        assert!(f.holds_any(&keys(&["B"])), "still in the second batch");
        assert!(!f.holds_any(&keys(&["A"])));
        f.settled();
        assert!(f.is_empty() && !f.holds_any(&keys(&["B", "C"])));
        f.settled(); // nothing left: no effect
        assert!(f.is_empty());
    }
}
