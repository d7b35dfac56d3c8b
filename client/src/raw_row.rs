//! The raw text of a CSV row, for the rejects file: read back from the
//! input at the row's first byte (rows are rejected rarely, so their text
//! is not kept for every row sent), and escaped onto one TSV cell.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

/// A row longer than this is cut (the rejects file stays readable).
const MAX_RAW_BYTES: usize = 1 << 20;

/// The CSV record that starts at byte `start` of `path`: up to the first
/// line end outside quotes, without it. With `first_line_only`, up to the
/// first line end at all (a row whose quoting is broken).
pub fn read_at(path: &Path, start: u64, first_line_only: bool) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut reader = BufReader::new(file);
    let mut raw = Vec::new();
    let mut in_quotes = false;
    loop {
        let before = raw.len();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        in_quotes ^= raw[before..].iter().filter(|&&b| b == b'"').count() % 2 == 1;
        if first_line_only || !in_quotes || raw.len() >= MAX_RAW_BYTES {
            break;
        }
    }
    raw.truncate(MAX_RAW_BYTES);
    while matches!(raw.last(), Some(b'\n' | b'\r')) {
        raw.pop();
    }
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

/// One TSV cell: `\`, tab, line feed and carriage return as `\\`, `\t`,
/// `\n`, `\r`.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_runs_to_the_line_end_outside_quotes() {
        let path = std::env::temp_dir().join(format!("shelf-raw-row-{}", std::process::id()));
        let text = "a,b\n1,\"two\nlines\"\n3,\"open\n4,x\n";
        std::fs::write(&path, text).unwrap();
        let at = |needle: &str| text.find(needle).unwrap() as u64;
        assert_eq!(read_at(&path, at("1,"), false).unwrap(), "1,\"two\nlines\"");
        assert_eq!(read_at(&path, at("3,"), true).unwrap(), "3,\"open");
        assert_eq!(read_at(&path, at("4,"), false).unwrap(), "4,x");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_cell_holds_tabs_and_line_ends_escaped() {
        assert_eq!(escape("a\tb\nc\\d\r"), "a\\tb\\nc\\\\d\\r");
    }
}
