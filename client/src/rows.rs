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
    pub cells: Vec<String>,
}

/// A row that cannot be used, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unparseable {
    pub line: u64,
    pub reason: String,
}

pub struct Rows {
    reader: csv::Reader<BufReader<File>>,
    record: csv::ByteRecord,
    pub header: Vec<String>,
    /// Bytes read so far (for progress).
    pub bytes: u64,
}

impl Rows {
    /// Opens `path` and reads its header; `expected` are the columns it
    /// must have, in order.
    pub fn open(path: &Path, expected: &[&str]) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
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
        if header != expected {
            return Err(format!(
                "line 1: the header is `{}`, expected `{}`",
                header.join(","),
                expected.join(",")
            ));
        }
        Ok(Self {
            reader,
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
                let position = self.record.position().cloned();
                self.bytes = position.as_ref().map_or(self.bytes, |p| p.byte());
                let line = position.map_or(0, |p| p.line());
                Some(Ok(self.row(line)))
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) => Some(Err(e.to_string())),
                _ => {
                    let line = e.position().map_or(0, |p| p.line());
                    Some(Ok(Err(Unparseable {
                        line,
                        reason: e.to_string(),
                    })))
                }
            },
        }
    }

    fn row(&self, line: u64) -> Result<Row, Unparseable> {
        if self.record.len() != self.header.len() {
            return Err(Unparseable {
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
        Ok(Row { line, cells })
    }
}
