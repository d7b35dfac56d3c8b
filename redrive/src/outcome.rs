//! What became of each replayed reject, and the replay's summary.

use std::collections::BTreeMap;
use std::fmt;

use bson::Document;
use serde_json::json;
use shelf_contract::fields::reject as field;
use shelf_contract::RejectReason;

/// What became (or, in a dry run, would become) of one reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed the chain; stored (its reject is marked resolved).
    Stored { chain: String },
    /// Rejected again, for another reason than the stored one.
    RejectedAgain {
        reason: RejectReason,
        detail: String,
    },
    /// Rejected again for the same reason: not sent, nothing changes.
    Unchanged { detail: String },
    /// Its payload was cut when it was stored: it cannot be sent again.
    NotRedrivable { why: String },
    /// Sent, but neither stored nor rejected again before the wait ended.
    Pending,
}

impl Outcome {
    /// The word the output and the summary use.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Stored { .. } => "stored",
            Outcome::RejectedAgain { .. } => "rejected",
            Outcome::Unchanged { .. } => "unchanged",
            Outcome::NotRedrivable { .. } => "not_redrivable",
            Outcome::Pending => "pending",
        }
    }

    /// Is the record to be sent again? Only if the chain now does something
    /// else with it.
    pub fn is_sent(&self) -> bool {
        matches!(self, Outcome::Stored { .. } | Outcome::RejectedAgain { .. })
    }

    /// The chain's verdict on a payload, against the reason it was stored
    /// with.
    pub fn predict(
        stored: Option<RejectReason>,
        outcome: Option<&shelf_engine::Outcome>,
        chain: &str,
    ) -> Outcome {
        match outcome {
            // The chain filtered the record out: nothing would be stored.
            None => Outcome::NotRedrivable {
                why: "the chain filters it out (no output, no reject)".into(),
            },
            Some(shelf_engine::Outcome::Output { .. }) => Outcome::Stored {
                chain: chain.to_owned(),
            },
            Some(shelf_engine::Outcome::Reject { reject, .. }) if Some(reject.reason) == stored => {
                Outcome::Unchanged {
                    detail: reject.detail.clone(),
                }
            }
            Some(shelf_engine::Outcome::Reject { reject, .. }) => Outcome::RejectedAgain {
                reason: reject.reason,
                detail: reject.detail.clone(),
            },
        }
    }

    /// What the store says became of a reject sent by replay `replay`:
    /// `None` while the pipeline has not got to it.
    pub fn settled(stored: &Document, replay: &str) -> Option<Outcome> {
        if let Ok(resolved) = stored.get_document(field::RESOLVED) {
            if resolved.get_str("replay") == Ok(replay) {
                return Some(Outcome::Stored {
                    chain: resolved.get_str("chain").unwrap_or_default().to_owned(),
                });
            }
        }
        if stored.get_str(field::REPLAY) == Ok(replay) {
            let reason = stored.get_str(field::REASON).ok()?;
            return Some(Outcome::RejectedAgain {
                reason: RejectReason::from_name(reason)?,
                detail: stored.get_str("detail").unwrap_or_default().to_owned(),
            });
        }
        None
    }

    /// One line of the output: `{"reject", "outcome", …}`.
    pub fn line(&self, id: &str) -> String {
        let mut v = json!({ "reject": id, "outcome": self.name() });
        match self {
            Outcome::Stored { chain } => v["chain"] = json!(chain),
            Outcome::RejectedAgain { reason, detail } => {
                v["reason"] = json!(reason.as_str());
                v["detail"] = json!(detail);
            }
            Outcome::Unchanged { detail } => v["detail"] = json!(detail),
            Outcome::NotRedrivable { why } => v["detail"] = json!(why),
            Outcome::Pending => {}
        }
        v.to_string()
    }
}

/// Counts of a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub dry_run: bool,
    pub replay: String,
    pub selected: u64,
    pub stored: u64,
    pub rejected_again: BTreeMap<&'static str, u64>,
    pub unchanged: u64,
    pub not_redrivable: u64,
    pub pending: u64,
}

impl Summary {
    pub fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Stored { .. } => self.stored += 1,
            Outcome::RejectedAgain { reason, .. } => {
                *self.rejected_again.entry(reason.as_str()).or_default() += 1
            }
            Outcome::Unchanged { .. } => self.unchanged += 1,
            Outcome::NotRedrivable { .. } => self.not_redrivable += 1,
            Outcome::Pending => self.pending += 1,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (stored, rejected) = if self.dry_run {
            ("would be stored", "would be rejected again")
        } else {
            ("stored, reject resolved", "rejected again")
        };
        writeln!(
            f,
            "{} {} reject(s){}",
            if self.dry_run { "dry run:" } else { "replay" },
            self.selected,
            if self.dry_run {
                " run through the chain here; nothing sent or written".to_owned()
            } else {
                format!(" (replay {})", self.replay)
            }
        )?;
        writeln!(f, "  {:>8}  {stored}", self.stored)?;
        let again: u64 = self.rejected_again.values().sum();
        writeln!(f, "  {again:>8}  {rejected}")?;
        for (reason, n) in &self.rejected_again {
            writeln!(f, "      {n:>8}  {reason}")?;
        }
        writeln!(
            f,
            "  {:>8}  unchanged (the same reason; not sent)",
            self.unchanged
        )?;
        if self.not_redrivable > 0 {
            writeln!(
                f,
                "  {:>8}  not redrivable (see their lines)",
                self.not_redrivable
            )?;
        }
        if self.pending > 0 {
            writeln!(
                f,
                "  {:>8}  pending: sent, not yet stored or rejected; are `shelf transform run` and \
                 `shelf sink run` running? A later replay of the same selection sends them again, harmlessly",
                self.pending
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;
    use shelf_contract::Reject;

    fn rejected(reason: RejectReason) -> shelf_engine::Outcome {
        shelf_engine::Outcome::Reject {
            input: 0,
            reject: Reject::new(reason, "d"),
        }
    }

    #[test]
    fn the_same_reason_is_unchanged_and_not_sent() {
        let same = Outcome::predict(
            Some(RejectReason::InvalidCategory),
            Some(&rejected(RejectReason::InvalidCategory)),
            "c",
        );
        assert_eq!(same.name(), "unchanged");
        assert!(!same.is_sent());
        let other = Outcome::predict(
            Some(RejectReason::InvalidCategory),
            Some(&rejected(RejectReason::InvalidPrice)),
            "c",
        );
        assert_eq!(other.name(), "rejected");
        assert!(other.is_sent());
        let output = shelf_engine::Outcome::Output {
            input: 0,
            key: None,
            value: b"{}".to_vec(),
        };
        let stored = Outcome::predict(None, Some(&output), "default v2: x v1");
        assert!(stored.is_sent());
        assert!(stored.line("r").contains(r#""chain":"default v2: x v1""#));
        assert!(!Outcome::predict(None, None, "c").is_sent());
    }

    #[test]
    fn only_this_replays_marks_settle_it() {
        let resolved = doc! { "resolved": { "replay": "r2", "chain": "c v1: m v1" } };
        assert_eq!(Outcome::settled(&resolved, "r1"), None);
        assert_eq!(
            Outcome::settled(&resolved, "r2"),
            Some(Outcome::Stored {
                chain: "c v1: m v1".into()
            })
        );
        let again = doc! { "reason": "invalid_price", "detail": "d", "replay": "r1" };
        assert_eq!(Outcome::settled(&again, "r1").unwrap().name(), "rejected");
        assert_eq!(
            Outcome::settled(&doc! { "reason": "invalid_price" }, "r1"),
            None
        );
    }

    #[test]
    fn the_summary_names_what_is_pending() {
        let mut s = Summary {
            selected: 3,
            ..Default::default()
        };
        s.count(&Outcome::Pending);
        s.count(&Outcome::Stored { chain: "c".into() });
        s.count(&Outcome::RejectedAgain {
            reason: RejectReason::InvalidPrice,
            detail: "d".into(),
        });
        let text = s.to_string();
        assert!(text.contains("pending"), "{text}");
        assert!(text.contains("invalid_price"), "{text}");
    }
}
