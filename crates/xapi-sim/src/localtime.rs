//! The host's local time zone, for `host.get_server_localtime`.
//!
//! The zone comes from `TZ` (a zoneinfo name or path, optionally after `:`,
//! or a POSIX rule such as `CET-1CEST,M3.5.0,M10.5.0/3`), else from
//! `/etc/localtime`; anything unreadable means UTC. Zone files are TZif
//! (RFC 8536): their transition table, then the POSIX rule in the footer for
//! instants after the last transition. Read once; no unsafe code, no libc.

use std::sync::OnceLock;

/// A POSIX TZ rule: standard offset and, optionally, daylight saving time.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    /// Seconds east of UTC in standard time.
    std: i64,
    dst: Option<Dst>,
}

#[derive(Debug, Clone, PartialEq)]
struct Dst {
    /// Seconds east of UTC while DST is in effect.
    offset: i64,
    start: (DayRule, i64),
    end: (DayRule, i64),
}

/// The day a DST period starts or ends on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum DayRule {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian1(u16),
    /// `n`: day 0..=365, February 29 counted.
    Julian0(u16),
    /// `Mm.w.d`: day `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    Month(u8, u8, u8),
}

/// A time zone as read from the system.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// `(transition instant, seconds east of UTC from then on)`, ascending.
    transitions: Vec<(i64, i64)>,
    /// The offset before the first transition.
    initial: i64,
    /// The rule after the last transition (or always, when there are none).
    rule: Option<Rule>,
}

impl Zone {
    const UTC: Zone = Zone { transitions: Vec::new(), initial: 0, rule: None };

    /// Seconds east of UTC at the Unix time `t`.
    pub fn offset_at(&self, t: i64) -> i64 {
        let i = self.transitions.partition_point(|(at, _)| *at <= t);
        match &self.rule {
            Some(rule) if i == self.transitions.len() => rule.offset_at(t),
            _ if i == 0 => self.initial,
            _ => self.transitions[i - 1].1,
        }
    }
}

/// The system's zone, read on first use.
pub fn system_zone() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    // The simulated host's zone is the machine's, as xapi's is its host's.
    #[allow(clippy::disallowed_methods)]
    let tz = std::env::var("TZ").ok();
    ZONE.get_or_init(|| load(tz.as_deref()).unwrap_or(Zone::UTC))
}

/// The host's wall-clock time at Unix time `t`, as xapi renders a datetime
/// without a time zone: `YYYYMMDDThh:mm:ss`, no `Z`.
pub fn wall_clock(t: i64) -> String {
    local_wall_clock(system_zone(), t)
}

/// Formats `t` in `zone` without a zone designator.
pub fn local_wall_clock(zone: &Zone, t: i64) -> String {
    let utc = xenapi::datetime::from_unix(t + zone.offset_at(t));
    utc.trim_end_matches('Z').to_string()
}

fn load(tz: Option<&str>) -> Option<Zone> {
    let Some(tz) = tz else {
        return std::fs::read("/etc/localtime").ok().and_then(|b| parse_tzif(&b));
    };
    let name = tz.strip_prefix(':').unwrap_or(tz);
    if name.is_empty() {
        return Some(Zone::UTC);
    }
    #[allow(clippy::disallowed_methods)]
    let dir = std::env::var("TZDIR").unwrap_or_else(|_| "/usr/share/zoneinfo".into());
    let path = if name.starts_with('/') { name.to_string() } else { format!("{dir}/{name}") };
    if !name.contains("..") {
        if let Some(z) = std::fs::read(&path).ok().and_then(|b| parse_tzif(&b)) {
            return Some(z);
        }
    }
    parse_rule(name).map(|rule| Zone { transitions: Vec::new(), initial: rule.std, rule: Some(rule) })
}

/// Reads a TZif file: the 64-bit data block when there is one (version 2+),
/// else the 32-bit one, then the footer rule.
fn parse_tzif(b: &[u8]) -> Option<Zone> {
    let header = |at: usize| -> Option<[usize; 6]> {
        if b.get(at..at + 4)? != b"TZif" {
            return None;
        }
        let mut counts = [0usize; 6];
        for (i, c) in counts.iter_mut().enumerate() {
            let o = at + 20 + 4 * i;
            *c = u32::from_be_bytes(b.get(o..o + 4)?.try_into().ok()?) as usize;
        }
        Some(counts)
    };
    let block_len = |c: [usize; 6], time_size: usize| {
        let [isut, isstd, leap, time, types, chars] = c;
        time * time_size + time + types * 6 + chars + leap * (time_size + 4) + isstd + isut
    };
    let first = header(0)?;
    let version = *b.get(4)?;
    let (start, counts, time_size) = if version >= b'2' {
        let second = 44 + block_len(first, 4);
        (second + 44, header(second)?, 8)
    } else {
        (44, first, 4)
    };
    let [_, _, _, timecnt, typecnt, _] = counts;
    let read_time = |o: usize| -> Option<i64> {
        Some(if time_size == 8 {
            i64::from_be_bytes(b.get(o..o + 8)?.try_into().ok()?)
        } else {
            i64::from(i32::from_be_bytes(b.get(o..o + 4)?.try_into().ok()?))
        })
    };
    let idx_at = start + timecnt * time_size;
    let types_at = idx_at + timecnt;
    let utoff = |ty: usize| -> Option<i64> {
        let o = types_at + ty * 6;
        Some(i64::from(i32::from_be_bytes(b.get(o..o + 4)?.try_into().ok()?)))
    };
    if typecnt == 0 {
        return None;
    }
    let mut transitions = Vec::with_capacity(timecnt);
    for i in 0..timecnt {
        let ty = usize::from(*b.get(idx_at + i)?);
        if ty >= typecnt {
            return None;
        }
        transitions.push((read_time(start + i * time_size)?, utoff(ty)?));
    }
    let rule = if version >= b'2' {
        let footer = b.get(start + block_len(counts, 8)..)?;
        let text = std::str::from_utf8(footer).ok()?.trim_matches('\n');
        parse_rule(text.lines().next().unwrap_or(""))
    } else {
        None
    };
    Some(Zone { transitions, initial: utoff(0)?, rule })
}

/// Parses a POSIX TZ rule; `None` when it is not one.
fn parse_rule(s: &str) -> Option<Rule> {
    let mut p = RuleParser { s: s.as_bytes(), pos: 0 };
    p.name()?;
    let std = -p.offset()?;
    if p.done() {
        return Some(Rule { std, dst: None });
    }
    p.name()?;
    let offset = if p.peek().is_some_and(|c| c != b',') { -p.offset()? } else { std + 3600 };
    // Without dates, POSIX leaves the rule to the implementation; the usual
    // choice is the United States' (second Sunday of March to first of November).
    let (start, end) = if p.done() {
        ((DayRule::Month(3, 2, 0), 7200), (DayRule::Month(11, 1, 0), 7200))
    } else {
        p.expect(b',')?;
        let start = p.date_time()?;
        p.expect(b',')?;
        (start, p.date_time()?)
    };
    p.done().then_some(Rule { std, dst: Some(Dst { offset, start, end }) })
}

struct RuleParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl RuleParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn done(&self) -> bool {
        self.pos == self.s.len()
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.pos += 1)
    }

    /// A zone abbreviation: three or more letters, or anything in `<...>`.
    fn name(&mut self) -> Option<()> {
        if self.expect(b'<').is_some() {
            let len = self.s[self.pos..].iter().position(|&c| c == b'>')?;
            self.pos += len + 1;
            return (len >= 3).then_some(());
        }
        let len = self.s[self.pos..].iter().take_while(|c| c.is_ascii_alphabetic()).count();
        self.pos += len;
        (len >= 3).then_some(())
    }

    fn number(&mut self) -> Option<i64> {
        let len = self.s[self.pos..].iter().take_while(|c| c.is_ascii_digit()).count();
        let text = std::str::from_utf8(&self.s[self.pos..self.pos + len]).ok()?;
        self.pos += len;
        text.parse().ok()
    }

    /// `[+|-]hh[:mm[:ss]]` in seconds, signed as written (POSIX: west positive).
    fn offset(&mut self) -> Option<i64> {
        let sign = match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                -1
            }
            Some(b'+') => {
                self.pos += 1;
                1
            }
            _ => 1,
        };
        let mut secs = self.number()? * 3600;
        if self.expect(b':').is_some() {
            secs += self.number()? * 60;
            if self.expect(b':').is_some() {
                secs += self.number()?;
            }
        }
        Some(sign * secs)
    }

    /// `date[/time]`; the time defaults to 02:00:00 and may be negative or past 24h.
    fn date_time(&mut self) -> Option<(DayRule, i64)> {
        let day = match self.peek()? {
            b'J' => {
                self.pos += 1;
                DayRule::Julian1(u16::try_from(self.number()?).ok().filter(|d| (1..=365).contains(d))?)
            }
            b'M' => {
                self.pos += 1;
                let m = self.number()?;
                self.expect(b'.')?;
                let w = self.number()?;
                self.expect(b'.')?;
                let d = self.number()?;
                let ok = (1..=12).contains(&m) && (1..=5).contains(&w) && (0..=6).contains(&d);
                ok.then_some(DayRule::Month(m as u8, w as u8, d as u8))?
            }
            _ => DayRule::Julian0(u16::try_from(self.number()?).ok().filter(|d| *d <= 365)?),
        };
        let at = if self.expect(b'/').is_some() { self.offset()? } else { 7200 };
        Some((day, at))
    }
}

impl Rule {
    fn offset_at(&self, t: i64) -> i64 {
        let Some(dst) = &self.dst else {
            return self.std;
        };
        let year = time::OffsetDateTime::from_unix_timestamp(t + self.std).map_or(1970, |d| d.year());
        // The start is written in standard time, the end in daylight time.
        let start = day_start(year, dst.start.0) + dst.start.1 - self.std;
        let end = day_start(year, dst.end.0) + dst.end.1 - dst.offset;
        let in_dst = if start < end { start <= t && t < end } else { !(end <= t && t < start) };
        if in_dst {
            dst.offset
        } else {
            self.std
        }
    }
}

/// Unix time of midnight (as if UTC) of the rule's day in `year`.
fn day_start(year: i32, rule: DayRule) -> i64 {
    use time::{Date, Month};
    let leap = time::util::is_leap_year(year);
    let date = match rule {
        DayRule::Julian1(n) => {
            let ordinal = if leap && n >= 60 { n + 1 } else { n };
            Date::from_ordinal_date(year, ordinal)
        }
        DayRule::Julian0(n) => Date::from_ordinal_date(year, (n + 1).min(if leap { 366 } else { 365 })),
        DayRule::Month(m, w, d) => {
            let month = Month::try_from(m).unwrap_or(Month::January);
            Date::from_calendar_date(year, month, 1).map(|first| {
                let dow = i64::from(first.weekday().number_days_from_sunday());
                let mut day = 1 + (i64::from(d) - dow).rem_euclid(7) + 7 * (i64::from(w) - 1);
                let len = i64::from(time::util::days_in_month(month, year));
                while day > len {
                    day -= 7;
                }
                first + time::Duration::days(day - 1)
            })
        }
    };
    date.map_or(0, |d| d.midnight().assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(rule: &str) -> Zone {
        load(Some(rule)).unwrap_or_else(|| panic!("{rule} parses"))
    }

    #[test]
    fn posix_rules_give_standard_and_summer_offsets() {
        let cet = zone("CET-1CEST,M3.5.0,M10.5.0/3");
        // 2026-01-15 12:00 UTC and 2026-07-15 12:00 UTC.
        assert_eq!(cet.offset_at(1_768_478_400), 3600);
        assert_eq!(cet.offset_at(1_784_116_800), 7200);
        // Summer time in 2026 starts on 29 March at 01:00 UTC.
        assert_eq!(cet.offset_at(1_774_746_000 - 1), 3600);
        assert_eq!(cet.offset_at(1_774_746_000), 7200);
        let sydney = zone("AEST-10AEDT,M10.1.0,M4.1.0/3");
        assert_eq!(sydney.offset_at(1_768_478_400), 11 * 3600);
        assert_eq!(sydney.offset_at(1_784_116_800), 10 * 3600);
        assert_eq!(zone("<+0530>-5:30").offset_at(0), 19_800);
        assert_eq!(zone("EST5EDT").offset_at(1_784_116_800), -4 * 3600);
        assert_eq!(zone("").offset_at(1_784_116_800), 0);
        assert!(parse_rule("nonsense!").is_none());
    }

    #[test]
    fn wall_clock_has_no_zone_designator() {
        let cet = zone("CET-1CEST,M3.5.0,M10.5.0/3");
        assert_eq!(local_wall_clock(&cet, 1_784_116_800), "20260715T14:00:00");
        assert_eq!(local_wall_clock(&Zone::UTC, 0), "19700101T00:00:00");
    }

    #[test]
    fn reads_zoneinfo_files_when_installed() {
        let Ok(bytes) = std::fs::read("/usr/share/zoneinfo/Europe/Paris") else {
            return;
        };
        let paris = parse_tzif(&bytes).expect("TZif parses");
        assert_eq!(paris.offset_at(1_768_478_400), 3600);
        assert_eq!(paris.offset_at(1_784_116_800), 7200);
        // September 2001, from the transition table rather than the footer.
        assert_eq!(paris.offset_at(1_000_000_000), 7200);
    }
}
