//! What `shelf stream` says at its end: per file, the counts (over
//! resumed runs too) and how the run went against the checkpoint.

use std::path::PathBuf;
use std::time::Duration;

use crate::checkpoint::Counts;

/// The end of a run: counts per file (over resumed runs too), how each
/// file's run went against the checkpoint, and where the refused and
/// unparseable rows are listed.
#[derive(Debug)]
pub struct Report {
    pub counts: Vec<(String, Counts)>,
    /// Beside `counts`, file by file.
    pub runs: Vec<Resumption>,
    pub rejects_file: PathBuf,
    pub elapsed: Duration,
}

/// How a file's run went against the checkpoint of earlier runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumption {
    /// Streamed from its first row.
    Fresh,
    /// An earlier run stopped after acknowledging up to `after_line`; this
    /// one went on from the line after it.
    Resumed { after_line: u64 },
    /// An earlier run finished it (at `finished_at`, when it recorded the
    /// time): nothing was sent.
    Skipped { finished_at: Option<String> },
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (file, c)) in self.counts.iter().enumerate() {
            writeln!(f, "{file}:")?;
            match self.runs.get(i) {
                Some(Resumption::Skipped { finished_at }) => {
                    let when = finished_at
                        .as_deref()
                        .map(|t| format!(" on {t}"))
                        .unwrap_or_default();
                    writeln!(
                        f,
                        "  already streamed{when}: 0 sent now (the counts are that run's); \
                         --restart streams it again"
                    )?;
                }
                Some(Resumption::Resumed { after_line }) => writeln!(
                    f,
                    "  resumed at line {} (an earlier run had line {after_line} acknowledged); \
                     the counts cover both runs",
                    after_line + 1
                )?,
                _ => {}
            }
            writeln!(f, "  rows read      {:>10}", c.read)?;
            writeln!(f, "  unparseable    {:>10}", c.unparseable)?;
            writeln!(
                f,
                "  sent           {:>10}",
                c.acknowledged + c.refused_total()
            )?;
            writeln!(f, "  acknowledged   {:>10}", c.acknowledged)?;
            writeln!(f, "  refused        {:>10}", c.refused_total())?;
            for (reason, n) in &c.refused {
                writeln!(f, "    {n:>8}  {reason}")?;
            }
        }
        write!(
            f,
            "unparseable and refused rows: {} ({:.1}s)",
            self.rejects_file.display(),
            self.elapsed.as_secs_f64()
        )
    }
}
