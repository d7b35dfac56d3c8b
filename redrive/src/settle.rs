//! Waiting for the pipeline to settle what a replay sent: each redrive
//! either resolves its reject (stored) or rejects it again, marked with
//! the replay's id.

use std::collections::HashSet;
use std::time::Duration;

use bson::{doc, Document};
use futures::TryStreamExt;
use mongodb::Collection;
use shelf_contract::fields::reject as field;
use tokio::time::Instant;

use crate::error::RedriveError;
use crate::outcome::Outcome;

/// Ids asked about in one query.
const IDS_PER_QUERY: usize = 500;
const POLL: Duration = Duration::from_millis(500);

/// The outcome of each of `sent` once settled, or [`Outcome::Pending`]
/// for those not settled within `wait`. `progress` hears (settled, sent)
/// as it moves.
pub async fn settle(
    rejects: &Collection<Document>,
    replay: &str,
    sent: Vec<String>,
    wait: Duration,
    progress: impl Fn(usize, usize),
) -> Result<Vec<(String, Outcome)>, RedriveError> {
    let total = sent.len();
    let deadline = Instant::now() + wait;
    let mut pending: HashSet<String> = sent.into_iter().collect();
    let mut settled = Vec::with_capacity(total);
    loop {
        let ids: Vec<String> = pending.iter().cloned().collect();
        let before = settled.len();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let mut cursor = rejects
                .find(doc! { "_id": { "$in": chunk } })
                .projection(doc! {
                    field::REASON: 1, "detail": 1, field::REPLAY: 1, field::RESOLVED: 1,
                })
                .await?;
            while let Some(d) = cursor.try_next().await? {
                let (Ok(id), Some(outcome)) = (d.get_str("_id"), Outcome::settled(&d, replay))
                else {
                    continue;
                };
                if pending.remove(id) {
                    settled.push((id.to_owned(), outcome));
                }
            }
        }
        if settled.len() != before {
            progress(settled.len(), total);
        }
        if pending.is_empty() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    settled.extend(pending.into_iter().map(|id| (id, Outcome::Pending)));
    Ok(settled)
}
