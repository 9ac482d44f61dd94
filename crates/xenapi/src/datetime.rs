//! XenAPI datetimes: `YYYYMMDDThh:mm:ssZ` on the wire, in UTC.

use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// The Unix epoch in wire form; xapi's default for unset datetimes.
pub const EPOCH: &str = "19700101T00:00:00Z";

/// Formats Unix seconds as a wire datetime.
pub fn from_unix(secs: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format(t)
}

/// Formats a time as a wire datetime.
pub fn format(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Returns the current time as a wire datetime.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// Parses the datetime spellings seen from xapi and its clients into Unix seconds:
/// `20240420T12:00:00Z`, without the `Z`, ISO 8601 with dashes, or Unix seconds.
pub fn parse(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.trim_end_matches('.').parse::<f64>() {
        return Some(secs as i64);
    }
    let compact: String = s.chars().filter(|c| *c != '-').collect();
    let compact = compact.trim_end_matches('Z');
    let (date, time) = compact.split_once('T')?;
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut hms = time.split(':');
    let h: u8 = hms.next()?.parse().ok()?;
    let m: u8 = hms.next()?.parse().ok()?;
    let sec: f64 = hms.next().unwrap_or("0").parse().ok()?;
    if hms.next().is_some() {
        return None;
    }
    let year: i32 = date[0..4].parse().ok()?;
    let month: u8 = date[4..6].parse().ok()?;
    let day: u8 = date[6..8].parse().ok()?;
    let d = time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let t = time::Time::from_hms(h, m, sec as u8).ok()?;
    Some(PrimitiveDateTime::new(d, t).assume_utc().unix_timestamp())
}

/// Normalises any accepted spelling to the wire form.
pub fn normalise(s: &str) -> Option<String> {
    parse(s).map(from_unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_in_the_wire_samples() {
        let want = Some(1713614400);
        assert_eq!(parse("20240420T12:00:00Z"), want);
        assert_eq!(parse("20240420T12:00:00"), want);
        assert_eq!(parse("2024-04-20T12:00:00Z"), want);
        assert_eq!(parse("1713614400."), want);
        assert_eq!(parse("garbage"), None);
        assert_eq!(from_unix(1713614400), "20240420T12:00:00Z");
    }
}
