//! Opening the analysts' database for `shelf report`, failing fast and in
//! one line: an unreachable store within [`REACH_TIMEOUT`], with a hint, and
//! a database that holds none of shelfstream's collections (a misspelt
//! `--database`) instead of empty charts.

use std::time::Duration;

use bson::doc;
use mongodb::options::ClientOptions;
use mongodb::Database;
use shelf_contract::collections;

use crate::ReportError;

/// How long the store may take to answer at all.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(4);

/// The database `name` at `uri`, once the store answered and the database
/// holds `products` or `category_stats`.
pub async fn open(uri: &str, name: &str) -> Result<Database, ReportError> {
    let unreachable = |reason: String| ReportError::Unreachable {
        uri: uri.to_owned(),
        reason,
    };
    let mut options = ClientOptions::parse(uri)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    options.server_selection_timeout = Some(REACH_TIMEOUT);
    options.connect_timeout = Some(REACH_TIMEOUT);
    let client = mongodb::Client::with_options(options).map_err(|e| unreachable(e.to_string()))?;
    let db = client.database(name);
    if let Err(e) = db.run_command(doc! { "ping": 1 }).await {
        return Err(unreachable(short(&e)));
    }
    let names = db.list_collection_names().await?;
    let ours = [collections::PRODUCTS, collections::CATEGORY_STATS];
    if !names.iter().any(|n| ours.contains(&n.as_str())) {
        let mut others = client.list_database_names().await.unwrap_or_default();
        others.retain(|d| !matches!(d.as_str(), "admin" | "local" | "config"));
        let shown = others.len().min(8);
        let mut listed = others[..shown].join(", ");
        if others.len() > shown {
            listed.push_str(&format!(" and {} more", others.len() - shown));
        }
        if others.is_empty() {
            listed = "none".into();
        }
        return Err(ReportError::NoData {
            database: name.to_owned(),
            others: listed,
        });
    }
    Ok(db)
}

/// The driver's reason without its topology dump.
fn short(e: &mongodb::error::Error) -> String {
    match *e.kind {
        mongodb::error::ErrorKind::ServerSelection { .. } => {
            format!("no server answered within {} s", REACH_TIMEOUT.as_secs())
        }
        _ => e.to_string().lines().next().unwrap_or_default().to_owned(),
    }
}
