//! Moments in sandbox-data files: `2026-01-15`, `2026-01-15T09:30:00Z` (offsets and fractions allowed; a
//! date-time without an offset is UTC) or Unix seconds. Written back as RFC 3339 in UTC.

use crate::calendar::{civil_from_days, days_from_civil};

use super::doc::When;

const DAY: i64 = 86_400;

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Unix seconds of `when`, or why it is not a moment.
pub(crate) fn parse(when: &When) -> Result<i64, String> {
    match when {
        When::Unix(n) => Ok(*n),
        When::Text(t) => parse_text(t.trim()).ok_or_else(|| {
            format!("{t:?} is not a date (2026-01-15), a date-time (2026-01-15T09:30:00Z) or Unix seconds")
        }),
    }
}

fn parse_text(t: &str) -> Option<i64> {
    let (date, rest) = if t.len() > 10 { t.split_at(10) } else { (t, "") };
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 || parts.next().is_some() {
        return None;
    }
    let (year, month, day) = (digits(y)?, u32::try_from(digits(m)?).ok()?, u32::try_from(digits(d)?).ok()?);
    if !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // 2026-02-30 would silently be March 2nd: refuse dates that do not round-trip.
    if civil_from_days(days) != (year, month, day) {
        return None;
    }
    if rest.is_empty() {
        return Some(days * DAY);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    // The time, then an optional offset.
    let (time, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let mut hms = time.split(':');
    let h = digits(hms.next()?)?;
    let min = digits(hms.next()?)?;
    let sec = match hms.next() {
        None => 0,
        Some(s) => digits(s.split('.').next()?)?,
    };
    if hms.next().is_some() || h > 23 || min > 59 || sec > 60 {
        return None;
    }
    let offset = match offset {
        "" | "Z" | "z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o[1..].split_once(':')?;
            if oh.len() != 2 || om.len() != 2 {
                return None;
            }
            sign * (digits(oh)? * 3_600 + digits(om)? * 60)
        }
    };
    Some(days * DAY + h * 3_600 + min * 60 + sec - offset)
}

/// RFC 3339 in UTC: `2026-01-15T00:00:00Z`.
pub(crate) fn format(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(DAY));
    let s = unix.rem_euclid(DAY);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3_600, s % 3_600 / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<i64> {
        parse(&When::Text(s.to_owned())).ok()
    }

    #[test]
    fn dates_and_date_times() {
        assert_eq!(p("1970-01-02"), Some(DAY));
        assert_eq!(p("2026-01-15T09:30:00Z"), Some(1_768_469_400));
        assert_eq!(p("2026-01-15 09:30:00"), Some(1_768_469_400));
        assert_eq!(p("2026-01-15T09:30"), Some(1_768_469_400));
        assert_eq!(p("2026-01-15T11:30:00.250+02:00"), Some(1_768_469_400));
        assert_eq!(p("2026-01-15T04:30:00-05:00"), Some(1_768_469_400));
        assert_eq!(parse(&When::Unix(5)), Ok(5));
    }

    #[test]
    fn nonsense_is_refused() {
        for s in
            ["", "2026", "2026-1-15", "2026-02-30", "2026-13-01", "2026-01-15T25:00:00Z", "yesterday", "2026-01-15X"]
        {
            assert_eq!(p(s), None, "{s}");
        }
    }

    #[test]
    fn format_round_trips() {
        for t in [0, 1_768_469_400, -DAY - 1, 4_102_444_799] {
            assert_eq!(p(&format(t)), Some(t));
        }
    }
}
