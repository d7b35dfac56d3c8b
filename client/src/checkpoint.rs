//! Where an interrupted `shelf stream` resumes: after the last batch the
//! gateway acknowledged, with the counts so far. Written atomically
//! (temporary file, then rename) after every acknowledged batch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Data rows read from the file (parseable or not).
    pub read: u64,
    pub unparseable: u64,
    pub acknowledged: u64,
    /// Rows the gateway refused, by reason.
    pub refused: BTreeMap<String, u64>,
}

impl Counts {
    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Per input file: the last CSV line whose batch, and every batch
    /// before it, the gateway acknowledged.
    pub done_through: BTreeMap<String, u64>,
    pub finished: BTreeMap<String, bool>,
    /// When each finished file finished (UTC; absent in older checkpoints).
    #[serde(default)]
    pub finished_at: BTreeMap<String, String>,
    pub counts: BTreeMap<String, Counts>,
}

impl Checkpoint {
    pub fn load(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a checkpoint: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let tmp: PathBuf = path.with_extension("tmp");
        let text = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// A file name for the checkpoint of streaming these inputs to this
/// gateway: the same arguments find the same checkpoint.
pub fn name_for(inputs: &[&Path], gateway: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in inputs {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .hash(&mut h);
    }
    gateway.hash(&mut h);
    format!("stream-{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads() {
        let dir = std::env::temp_dir().join(format!("shelf-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        assert_eq!(Checkpoint::load(&path).unwrap(), Checkpoint::default());
        let mut c = Checkpoint::default();
        c.done_through.insert("products".into(), 42);
        c.counts.entry("products".into()).or_default().read = 41;
        c.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), c);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
