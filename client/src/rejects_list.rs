//! The rejects file: one line per row that was not sent (unparseable) or
//! that the gateway refused, `file<TAB>line<TAB>reason<TAB>row` (the row as
//! it is in the file, escaped; see `raw_row`).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

/// Removes the entries of `file` for lines after `after`, which a resumed
/// run reads (and lists) again. Rewritten through a temporary file, so a
/// crash leaves the old list or the new one.
pub fn forget_after(list: &Path, file: &str, after: u64) -> std::io::Result<()> {
    let old = match std::fs::File::open(list) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let tmp = list.with_extension("tsv.tmp");
    let mut kept = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    for line in BufReader::new(old).lines() {
        let line = line?;
        if !is_after(&line, file, after) {
            writeln!(kept, "{line}")?;
        }
    }
    kept.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, list)
}

fn is_after(entry: &str, file: &str, after: u64) -> bool {
    let mut cells = entry.splitn(3, '\t');
    cells.next() == Some(file)
        && cells
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n > after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_only_the_given_files_later_lines() {
        let dir = std::env::temp_dir().join(format!("shelf-rejects-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let list = dir.join("r.tsv");
        std::fs::write(
            &list,
            "c.csv\t9\tunparseable: x\np.csv\t4\tunparseable: y\np.csv\t7\trefused by the gateway: z\np.csv\t12\tunparseable: w\n",
        )
        .unwrap();
        forget_after(&list, "p.csv", 7).unwrap();
        assert_eq!(
            std::fs::read_to_string(&list).unwrap(),
            "c.csv\t9\tunparseable: x\np.csv\t4\tunparseable: y\np.csv\t7\trefused by the gateway: z\n"
        );
        forget_after(&dir.join("missing.tsv"), "p.csv", 0).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
