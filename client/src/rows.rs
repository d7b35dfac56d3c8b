//! Reading a CSV file as a stream of rows, each with its line number, and
//! turning a row that cannot be parsed into a reason instead of an error
//! that ends the read.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// A data row: the line it starts on (1-based, the header is line 1) and
/// its cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: u64,
    /// Its first byte in the file (where the rejects file reads its text).
    pub start: u64,
    pub cells: Vec<String>,
}

/// A row that cannot be used, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unparseable {
    pub line: u64,
    pub reason: String,
    /// Where its text is, when known.
    pub text_at: Option<TextAt>,
}

/// Where an unusable row's text is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextAt {
    pub start: u64,
    /// Only its first line is its own (its quoting is broken).
    pub first_line_only: bool,
}

pub struct Rows {
    reader: csv::Reader<BufReader<File>>,
    /// A second handle on the file, to find where a line ends when the
    /// reader has to start again after a broken quote.
    raw: File,
    record: csv::ByteRecord,
    pub header: Vec<String>,
    /// Bytes read so far (for progress).
    pub bytes: u64,
}

impl Rows {
    /// Opens `path` and reads its header; `expected` are the columns it
    /// must have and `optional` columns it may have besides, each once and
    /// in any order (cells are read by their column's name).
    pub fn open(path: &Path, expected: &[&str], optional: &[&str]) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        // Opened apart: a cloned handle would share (and move) the offset.
        let raw = File::open(path).map_err(|e| e.to_string())?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(BufReader::with_capacity(1 << 20, file));
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| format!("line 1: cannot read the header: {e}"))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
            .collect();
        check_columns(&header, expected, optional)?;
        Ok(Self {
            reader,
            raw,
            record: csv::ByteRecord::new(),
            header,
            bytes: 0,
        })
    }

    /// The next row, an unparseable one, or `None` at the end. An I/O error
    /// ends the read.
    pub fn next_row(&mut self) -> Option<Result<Result<Row, Unparseable>, String>> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let Some(start) = self.record.position().cloned() else {
                    return Some(Ok(self.row(0, None)));
                };
                self.bytes = start.byte();
                if self.reader.position().line() > start.line() + 1 {
                    let end = self.reader.position().byte();
                    match self.raw_span(start.byte(), end) {
                        Err(e) => return Some(Err(e)),
                        Ok(raw) if self.record.len() != self.header.len() || !well_quoted(&raw) => {
                            return Some(self.broken_quote(&start, &raw));
                        }
                        Ok(_) => {}
                    }
                }
                Some(Ok(self.row(start.line(), Some(start.byte()))))
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) => Some(Err(e.to_string())),
                _ => {
                    let line = e.position().map_or(0, |p| p.line());
                    Some(Ok(Err(Unparseable {
                        line,
                        reason: e.to_string(),
                        text_at: e.position().map(|p| TextAt {
                            start: p.byte(),
                            first_line_only: true,
                        }),
                    })))
                }
            },
        }
    }

    fn raw_span(&mut self, start: u64, end: u64) -> Result<Vec<u8>, String> {
        use std::io::{Read, Seek, SeekFrom};
        let mut raw = vec![0; end.saturating_sub(start) as usize];
        self.raw
            .seek(SeekFrom::Start(start))
            .and_then(|_| self.raw.read_exact(&mut raw))
            .map_err(|e| e.to_string())?;
        Ok(raw)
    }

    /// A quote opened on the record's first line and not closed there made
    /// the reader run on into the lines after it: the record spans lines
    /// and has the wrong column count or a quote that closes in the middle
    /// of a field. That first line is reported; reading starts again on
    /// the next one, so one stray quote costs one row, not the rest of the
    /// file. (A quoted field may hold line breaks; a well-formed record
    /// that spans lines is kept.)
    fn broken_quote(
        &mut self,
        start: &csv::Position,
        raw: &[u8],
    ) -> Result<Result<Row, Unparseable>, String> {
        let first_line = raw
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| i + 1);
        let mut next = csv::Position::new();
        next.set_byte(start.byte() + first_line as u64)
            .set_line(start.line() + 1)
            .set_record(start.record() + 1);
        self.reader.seek(next).map_err(|e| e.to_string())?;
        Ok(Err(Unparseable {
            line: start.line(),
            reason: "broken quoting: a quoted field opens on this line and does not close".into(),
            text_at: Some(TextAt {
                start: start.byte(),
                first_line_only: true,
            }),
        }))
    }

    fn row(&self, line: u64, start: Option<u64>) -> Result<Row, Unparseable> {
        let text_at = start.map(|start| TextAt {
            start,
            first_line_only: false,
        });
        if self.record.len() != self.header.len() {
            return Err(Unparseable {
                text_at,
                line,
                reason: format!(
                    "{} columns, expected {}",
                    self.record.len(),
                    self.header.len()
                ),
            });
        }
        let mut cells = Vec::with_capacity(self.record.len());
        for (i, cell) in self.record.iter().enumerate() {
            match std::str::from_utf8(cell) {
                Ok(s) => cells.push(s.to_owned()),
                Err(e) => {
                    return Err(Unparseable {
                        text_at,
                        line,
                        reason: format!(
                            "invalid UTF-8 in column `{}` at byte {}",
                            self.header[i],
                            e.valid_up_to()
                        ),
                    })
                }
            }
        }
        Ok(Row {
            line,
            start: start.unwrap_or_default(),
            cells,
        })
    }
}

/// Every expected column once, nothing unknown; the error names each
/// column missing, unknown or repeated.
fn check_columns(header: &[String], expected: &[&str], optional: &[&str]) -> Result<(), String> {
    let named = |names: Vec<&str>, what: &str| match names.len() {
        0 => None,
        1 => Some(format!("{what} column `{}`", names[0])),
        _ => Some(format!("{what} columns `{}`", names.join("`, `"))),
    };
    let missing = expected
        .iter()
        .filter(|c| !header.iter().any(|h| h == *c))
        .copied()
        .collect();
    let unknown = header
        .iter()
        .map(String::as_str)
        .filter(|h| !expected.contains(h) && !optional.contains(h))
        .collect();
    let mut repeated: Vec<&str> = header
        .iter()
        .enumerate()
        .filter(|(i, h)| header[..*i].contains(h))
        .map(|(_, h)| h.as_str())
        .collect();
    repeated.dedup();
    let problems: Vec<String> = [
        named(missing, "missing"),
        named(unknown, "unknown"),
        named(repeated, "repeated"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if problems.is_empty() {
        return Ok(());
    }
    let optional = if optional.is_empty() {
        String::new()
    } else {
        format!("; optional: {}", optional.join(", "))
    };
    Err(format!(
        "line 1: {} (the columns, in any order: {}{optional})",
        problems.join("; "),
        expected.join(", ")
    ))
}

/// Strict CSV quoting: a quote that opens a field closes it only when a
/// delimiter, a line end or the end follows (`""` is an escaped quote).
/// The reader itself is lenient and would take `"a"b` as `ab`.
fn well_quoted(raw: &[u8]) -> bool {
    let (mut in_quotes, mut field_start) = (false, true);
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if in_quotes {
            if b == b'"' {
                if raw.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                in_quotes = false;
                if !matches!(raw.get(i + 1), None | Some(b',' | b'\n' | b'\r')) {
                    return false;
                }
            }
        } else if b == b'"' && field_start {
            in_quotes = true;
        }
        field_start = !in_quotes && matches!(b, b',' | b'\n');
        i += 1;
    }
    !in_quotes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<String> {
        line.split(',').map(String::from).collect()
    }

    #[test]
    fn columns_in_any_order_are_accepted() {
        let expected = ["id", "category_name"];
        assert!(check_columns(&names("category_name,id"), &expected, &[]).is_ok());
        assert!(check_columns(&names("id,date,category_name"), &expected, &["date"]).is_ok());
    }

    #[test]
    fn missing_unknown_and_repeated_columns_are_named() {
        let expected = ["asin", "price", "listPrice"];
        let e = check_columns(&names("asin,prise"), &expected, &["date"]).unwrap_err();
        assert_eq!(
            e,
            "line 1: missing columns `price`, `listPrice`; unknown column `prise` \
             (the columns, in any order: asin, price, listPrice; optional: date)"
        );
        let e = check_columns(&names("asin,price,listPrice,price"), &expected, &[]).unwrap_err();
        assert!(e.starts_with("line 1: repeated column `price` ("), "{e}");
    }

    fn read(name: &str, text: &str) -> Vec<Result<Row, Unparseable>> {
        let path = std::env::temp_dir().join(format!("shelf-rows-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let mut rows = Rows::open(&path, &["a", "b", "c"], &[]).unwrap();
        let mut out = Vec::new();
        while let Some(r) = rows.next_row() {
            out.push(r.unwrap());
        }
        std::fs::remove_file(&path).unwrap();
        out
    }

    fn lines(rows: &[Result<Row, Unparseable>]) -> Vec<(u64, bool)> {
        rows.iter()
            .map(|r| match r {
                Ok(r) => (r.line, true),
                Err(u) => (u.line, false),
            })
            .collect()
    }

    #[test]
    fn a_broken_quote_costs_one_line() {
        let rows = read(
            "broken",
            "a,b,c\n1,x,y\n2,\"open,y\n3,\"q\"\"uoted\",z\n4,x,y\n5,x\n6,x,y\n",
        );
        assert_eq!(
            lines(&rows),
            [
                (2, true),
                (3, false),
                (4, true),
                (5, true),
                (6, false),
                (7, true)
            ]
        );
        let Err(u) = &rows[1] else { panic!() };
        assert!(u.reason.starts_with("broken quoting"), "{}", u.reason);
        let Ok(r) = &rows[2] else { panic!() };
        assert_eq!(r.cells, ["3", "q\"uoted", "z"]);
    }

    #[test]
    fn strict_quoting() {
        assert!(well_quoted(b"1,\"a, \"\"b\"\"\",c\n"));
        assert!(well_quoted(b"1,\"two\nlines\",y\n"));
        assert!(!well_quoted(b"2,\"open,y\n3,\"q\"\"uoted\",z\n"));
        assert!(!well_quoted(b"1,\"never closed\n"));
    }

    #[test]
    fn a_quoted_line_break_is_kept() {
        let rows = read("multiline", "a,b,c\n1,\"two\nlines\",y\n2,x,y\n");
        assert_eq!(lines(&rows), [(2, true), (4, true)]);
        let Ok(r) = &rows[0] else { panic!() };
        assert_eq!(r.cells[1], "two\nlines");
    }

    #[test]
    fn an_unclosed_quote_on_the_last_line() {
        let rows = read("last", "a,b,c\n1,x,y\n2,\"open,y\n");
        assert_eq!(lines(&rows), [(2, true), (3, false)]);
    }
}
