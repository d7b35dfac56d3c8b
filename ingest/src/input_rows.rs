//! Where each record of a request came from, when the sender says so.
//!
//! `shelf stream` names the input file (`X-Shelf-Source`, an absolute path,
//! percent-encoded) and the line of every record (`X-Shelf-Lines`, ranges
//! such as `2-500,502,504-1001`, one line per record in body order). The
//! gateway puts both on each Kafka record as headers, so that a reject
//! downstream says which row it was and a row sent twice (a batch resent
//! after a crash) is still one reject. Both headers are optional; a request
//! that has one must have both, and the lines must match the records.

use shelf_contract::wire::{parse_line_range, InputRow};

/// Malformed input-row headers: the request is refused with 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputRowError {
    #[error("X-Shelf-Source and X-Shelf-Lines go together; only {0} was sent")]
    Half(&'static str),
    #[error("X-Shelf-Lines: {0:?} is not a line or a range of lines (such as 2-500)")]
    BadRange(String),
    #[error("X-Shelf-Lines names {lines} lines for {records} records")]
    Count { lines: u64, records: usize },
    #[error("X-Shelf-Source: not valid percent-encoded UTF-8")]
    BadSource,
}

/// The input row of every record, in body order, or `None` when the request
/// names none.
pub fn of_records(
    source: Option<&str>,
    lines: Option<&str>,
    records: usize,
) -> Result<Option<Vec<InputRow>>, InputRowError> {
    let (source, lines) = match (source, lines) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(InputRowError::Half("X-Shelf-Source")),
        (None, Some(_)) => return Err(InputRowError::Half("X-Shelf-Lines")),
        (Some(s), Some(l)) => (s, l),
    };
    let file = percent_decode(source.trim()).ok_or(InputRowError::BadSource)?;
    let mut ranges = Vec::new();
    let mut total = 0u64;
    for part in lines.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (first, last) =
            parse_line_range(part).ok_or_else(|| InputRowError::BadRange(part.to_owned()))?;
        total = total.saturating_add(last - first + 1);
        // Checked as we go, so a huge range cannot make us allocate.
        if total > records as u64 {
            break;
        }
        ranges.push((first, last));
    }
    if total != records as u64 {
        return Err(InputRowError::Count {
            lines: total,
            records,
        });
    }
    Ok(Some(
        ranges
            .into_iter()
            .flat_map(|(a, b)| a..=b)
            .map(|line| InputRow {
                file: file.clone(),
                line,
            })
            .collect(),
    ))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(o: Option<Vec<InputRow>>) -> Vec<u64> {
        o.unwrap().into_iter().map(|o| o.line).collect()
    }

    #[test]
    fn ranges_become_one_line_per_record() {
        let o = of_records(Some("/data/p%C3%A9.csv"), Some("2-4, 7 ,9-9"), 5).unwrap();
        assert_eq!(o.as_ref().unwrap()[0].file, "/data/pé.csv");
        assert_eq!(lines(o), [2, 3, 4, 7, 9]);
        assert_eq!(of_records(None, None, 3), Ok(None));
    }

    #[test]
    fn malformed_origins_are_refused() {
        let f = Some("/f.csv");
        assert_eq!(
            of_records(f, Some("2-4"), 4),
            Err(InputRowError::Count {
                lines: 3,
                records: 4
            })
        );
        assert!(matches!(
            of_records(f, Some("2-18446744073709551615"), 4),
            Err(InputRowError::Count { .. })
        ));
        assert!(matches!(
            of_records(f, Some("5-2"), 4),
            Err(InputRowError::BadRange(_))
        ));
        assert!(matches!(
            of_records(f, Some("x"), 1),
            Err(InputRowError::BadRange(_))
        ));
        assert!(matches!(
            of_records(f, None, 1),
            Err(InputRowError::Half(_))
        ));
        assert_eq!(
            of_records(Some("%ZZ"), Some("1"), 1),
            Err(InputRowError::BadSource)
        );
    }
}
