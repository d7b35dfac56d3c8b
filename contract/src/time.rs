//! Observation time: the forms a record's `observed_at` (or an older
//! feed's `date`) may take, and how times and days are written.
//!
//! Times are milliseconds since 1970-01-01T00:00:00Z (what BSON dates and
//! Kafka timestamps hold). Hand-written rather than a date crate: the
//! contract builds for wasm32 with no dependencies beyond serde, and the
//! accepted forms are few and exact.

/// The years an observation may fall in (inclusive).
pub const YEARS: std::ops::RangeInclusive<i64> = 1990..=2100;

const MS_PER_DAY: i64 = 86_400_000;

/// Why a text is not an observation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeError {
    /// Not one of the accepted forms.
    Form,
    /// A month, day, hour, minute, second or offset out of range.
    Range,
    /// A real date, but outside [`YEARS`].
    Year(i64),
}

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeError::Form => f.write_str(
                "is not a date (YYYY-MM-DD), a date-time with an offset (YYYY-MM-DDTHH:MM[:SS[.fff]]Z or ±HH:MM) or DD/MM/YYYY HH:MM",
            ),
            TimeError::Range => f.write_str("is not a real date or time"),
            TimeError::Year(y) => write!(f, "has the year {y}, outside 1990–2100"),
        }
    }
}

/// An `observed_at` value: `2023-09-01` (midnight UTC) or an RFC 3339
/// date-time with `Z` or an offset (`T` or a space between date and time;
/// seconds and fractions optional; fractions below a millisecond are
/// dropped).
pub fn parse_observed_at(text: &str) -> Result<i64, TimeError> {
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(TimeError::Form);
    }
    let (year, month, day) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let date = days_from_civil_checked(year, month, day)?;
    if b.len() == 10 {
        return Ok(date * MS_PER_DAY);
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err(TimeError::Form);
    }
    let rest = &b[11..];
    let (clock, zone) = split_zone(rest)?;
    let offset_minutes = zone_minutes(zone)?;
    let ms = clock_ms(clock)?;
    Ok(date * MS_PER_DAY + ms - offset_minutes * 60_000)
}

/// An older feed's `date`: `DD/MM/YYYY HH:MM`, in UTC.
pub fn parse_feed_date(text: &str) -> Result<i64, TimeError> {
    let b = text.trim().as_bytes();
    if b.len() != 16 || b[2] != b'/' || b[5] != b'/' || b[10] != b' ' || b[13] != b':' {
        return Err(TimeError::Form);
    }
    let (day, month, year) = (num(&b[0..2])?, num(&b[3..5])?, num(&b[6..10])?);
    let (hour, minute) = (num(&b[11..13])?, num(&b[14..16])?);
    if hour > 23 || minute > 59 {
        return Err(TimeError::Range);
    }
    let date = days_from_civil_checked(year, month, day)?;
    Ok(date * MS_PER_DAY + (hour * 60 + minute) * 60_000)
}

/// A time as the contract writes it: `2023-09-01T06:30:00Z`, with
/// milliseconds only when there are any (`…T06:30:00.250Z`).
pub fn format_utc(ms: i64) -> String {
    let (date, in_day) = (ms.div_euclid(MS_PER_DAY), ms.rem_euclid(MS_PER_DAY));
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let mut out = format!("{}T{h:02}:{m:02}:{s:02}", format_day(date));
    if milli != 0 {
        out.push_str(&format!(".{milli:03}"));
    }
    out.push('Z');
    out
}

/// The UTC day of a time, counted from 1970-01-01.
pub fn day_number(ms: i64) -> i64 {
    ms.div_euclid(MS_PER_DAY)
}

/// The first millisecond of a day number.
pub fn day_start(day: i64) -> i64 {
    day * MS_PER_DAY
}

/// A day number as `YYYY-MM-DD`.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD` back to a day number.
pub fn parse_day(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (
        num(&b[0..4]).ok()?,
        num(&b[5..7]).ok()?,
        num(&b[8..10]).ok()?,
    );
    valid_date(y, m, d).then(|| days_from_civil(y, m, d))
}

fn num(digits: &[u8]) -> Result<i64, TimeError> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(TimeError::Form);
    }
    Ok(digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

/// `HH:MM[:SS[.f…]]` and the zone after it.
fn split_zone(rest: &[u8]) -> Result<(&[u8], &[u8]), TimeError> {
    let at = rest
        .iter()
        .position(|c| matches!(c, b'Z' | b'z' | b'+' | b'-'))
        .ok_or(TimeError::Form)?;
    Ok(rest.split_at(at))
}

fn zone_minutes(zone: &[u8]) -> Result<i64, TimeError> {
    match zone {
        [b'Z' | b'z'] => Ok(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (num(&[*h1, *h2])?, num(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return Err(TimeError::Range);
            }
            let minutes = h * 60 + m;
            Ok(if *sign == b'-' { -minutes } else { minutes })
        }
        _ => Err(TimeError::Form),
    }
}

fn clock_ms(clock: &[u8]) -> Result<i64, TimeError> {
    if clock.len() < 5 || clock[2] != b':' {
        return Err(TimeError::Form);
    }
    let (h, m) = (num(&clock[0..2])?, num(&clock[3..5])?);
    let (mut s, mut milli) = (0, 0);
    let rest = &clock[5..];
    if !rest.is_empty() {
        if rest.len() < 3 || rest[0] != b':' {
            return Err(TimeError::Form);
        }
        s = num(&rest[1..3])?;
        let fraction = &rest[3..];
        if !fraction.is_empty() {
            if fraction.len() < 2 || fraction[0] != b'.' {
                return Err(TimeError::Form);
            }
            let digits = &fraction[1..];
            num(digits)?; // all digits
            let mut three = [b'0'; 3];
            for (slot, d) in three.iter_mut().zip(digits) {
                *slot = *d;
            }
            milli = num(&three)?;
        }
    }
    if h > 23 || m > 59 || s > 59 {
        return Err(TimeError::Range);
    }
    Ok(((h * 60 + m) * 60 + s) * 1000 + milli)
}

fn valid_date(y: i64, m: i64, d: i64) -> bool {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

fn days_from_civil_checked(y: i64, m: i64, d: i64) -> Result<i64, TimeError> {
    if !valid_date(y, m, d) {
        return Err(TimeError::Range);
    }
    if !YEARS.contains(&y) {
        return Err(TimeError::Year(y));
    }
    Ok(days_from_civil(y, m, d))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accepted_forms() {
        let sep1 = 1_693_526_400_000; // 2023-09-01T00:00:00Z
        assert_eq!(parse_observed_at("2023-09-01"), Ok(sep1));
        assert_eq!(parse_observed_at(" 2023-09-01T00:00:00Z "), Ok(sep1));
        assert_eq!(
            parse_observed_at("2023-09-01T06:30:00Z"),
            Ok(sep1 + 23_400_000)
        );
        assert_eq!(
            parse_observed_at("2023-09-01 06:30Z"),
            Ok(sep1 + 23_400_000)
        );
        assert_eq!(
            parse_observed_at("2023-09-01T08:30:00+02:00"),
            Ok(sep1 + 23_400_000)
        );
        assert_eq!(parse_observed_at("2023-08-31T20:00:00-04:00"), Ok(sep1));
        assert_eq!(
            parse_observed_at("2023-09-01T00:00:00.2507Z"),
            Ok(sep1 + 250)
        );
        assert_eq!(parse_feed_date("31/12/2023 00:00"), Ok(1_703_980_800_000));
        assert_eq!(parse_feed_date("01/09/2023 06:30"), Ok(sep1 + 23_400_000));
    }

    #[test]
    fn what_is_refused_and_why() {
        for text in [
            "",
            "yesterday",
            "2023-9-1",
            "2023-09-01T06:30:00", // no offset
            "2023-09-01T06:30:00+0200",
            "01/09/2023",
            "2023/09/01",
            "1693526400000",
        ] {
            assert_eq!(parse_observed_at(text), Err(TimeError::Form), "{text}");
        }
        for text in ["2023-02-29", "2023-13-01", "2023-09-01T24:00:00Z"] {
            assert_eq!(parse_observed_at(text), Err(TimeError::Range), "{text}");
        }
        assert_eq!(parse_observed_at("1989-12-31"), Err(TimeError::Year(1989)));
        assert_eq!(parse_observed_at("2101-01-01"), Err(TimeError::Year(2101)));
        assert!(parse_observed_at("2100-12-31T23:59:59Z").is_ok());
        assert!(parse_observed_at("1990-01-01").is_ok());
        assert_eq!(parse_feed_date("31/02/2023 00:00"), Err(TimeError::Range));
        assert_eq!(parse_feed_date("2023-09-01"), Err(TimeError::Form));
    }

    #[test]
    fn written_and_read_back() {
        for ms in [0, 1_693_526_400_000, 1_693_549_800_250, -86_400_000] {
            let text = format_utc(ms);
            if ms >= 631_152_000_000 {
                assert_eq!(parse_observed_at(&text), Ok(ms), "{text}");
            }
        }
        assert_eq!(format_utc(1_693_549_800_250), "2023-09-01T06:30:00.250Z");
        assert_eq!(format_utc(1_693_526_400_000), "2023-09-01T00:00:00Z");
        let day = day_number(1_693_549_800_250);
        assert_eq!(format_day(day), "2023-09-01");
        assert_eq!(parse_day("2023-09-01"), Some(day));
        assert_eq!(day_start(day), 1_693_526_400_000);
        assert_eq!(format_day(day_number(-1)), "1969-12-31");
        // Leap days round-trip across the whole range.
        for day in day_number(631_152_000_000)..day_number(4_133_980_800_000) {
            assert_eq!(parse_day(&format_day(day)), Some(day));
        }
    }
}
