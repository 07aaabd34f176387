//! POSIX TZ rules (`Location.extend`, e.g. "CET-1CEST,M3.5.0,M10.5.0/3"),
//! which time.Location.lookup applies past a zone's last transition: a
//! port of time/zoneinfo.go `tzset` and its helpers, so times in zones
//! loaded from "slim" tzdata (transitions only up to the last rule
//! change) print with the offset Go uses.

const SECONDS_PER_DAY: i64 = 86_400;
const SECONDS_PER_HOUR: i64 = 3_600;

#[derive(Debug, Clone, Copy)]
enum RuleKind {
    Julian,
    Doy,
    MonthWeekDay,
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    kind: RuleKind,
    day: i64,
    week: i64,
    mon: i64,
    time: i64,
}

/// The zone (abbreviation, offset seconds) the rule `s` gives for Unix
/// time `sec`; None when `s` does not parse (Go then keeps the last
/// transition's zone).
pub fn tzset(s: &str, sec: i64) -> Option<(String, i64)> {
    let (std_name, s) = name(s)?;
    let (std_off, s) = offset(s)?;
    let std_off = -std_off;
    if s.is_empty() || s.starts_with(',') {
        return Some((std_name.to_string(), std_off));
    }
    let (dst_name, mut s) = name(s)?;
    let dst_off = if s.is_empty() || s.starts_with(',') {
        std_off + SECONDS_PER_HOUR
    } else {
        let (o, rest) = offset(s)?;
        s = rest;
        -o
    };
    let s = if s.is_empty() { ",M3.2.0,M11.1.0" } else { s };
    let s = s.strip_prefix(',').or_else(|| s.strip_prefix(';'))?;
    let (start_rule, s) = rule(s)?;
    let s = s.strip_prefix(',')?;
    let (end_rule, s) = rule(s)?;
    if !s.is_empty() {
        return None;
    }
    let (year, yday) = year_yday(sec);
    let ysec = (yday - 1) * SECONDS_PER_DAY + sec.rem_euclid(SECONDS_PER_DAY);
    let (mut std_name, mut dst_name) = (std_name, dst_name);
    let (mut std_off, mut dst_off) = (std_off, dst_off);
    let mut start = rule_time(year, start_rule, std_off);
    let mut end = rule_time(year, end_rule, dst_off);
    if end < start {
        std::mem::swap(&mut start, &mut end);
        std::mem::swap(&mut std_name, &mut dst_name);
        std::mem::swap(&mut std_off, &mut dst_off);
    }
    Some(if ysec < start || ysec >= end {
        (std_name.to_string(), std_off)
    } else {
        (dst_name.to_string(), dst_off)
    })
}

fn name(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('<') {
        let i = rest.find('>')?;
        return Some((&rest[..i], &rest[i + 1..]));
    }
    match s.find(|c: char| c.is_ascii_digit() || matches!(c, ',' | '-' | '+')) {
        Some(i) if i < 3 => None,
        Some(i) => Some((&s[..i], &s[i..])),
        None if s.len() < 3 => None,
        None => Some((s, "")),
    }
}

fn offset(s: &str) -> Option<(i64, &str)> {
    let (neg, s) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let (h, mut s) = num(s, 0, 24 * 7)?;
    let mut off = h * SECONDS_PER_HOUR;
    for mul in [60, 1] {
        let Some(rest) = s.strip_prefix(':') else {
            break;
        };
        let (n, rest) = num(rest, 0, 59)?;
        off += n * mul;
        s = rest;
    }
    Some((if neg { -off } else { off }, s))
}

fn rule(s: &str) -> Option<(Rule, &str)> {
    let mut r = Rule {
        kind: RuleKind::Doy,
        day: 0,
        week: 0,
        mon: 0,
        time: 2 * SECONDS_PER_HOUR,
    };
    let mut s = if let Some(rest) = s.strip_prefix('J') {
        let (d, rest) = num(rest, 1, 365)?;
        r.kind = RuleKind::Julian;
        r.day = d;
        rest
    } else if let Some(rest) = s.strip_prefix('M') {
        let (mon, rest) = num(rest, 1, 12)?;
        let (week, rest) = num(rest.strip_prefix('.')?, 1, 5)?;
        let (day, rest) = num(rest.strip_prefix('.')?, 0, 6)?;
        r.kind = RuleKind::MonthWeekDay;
        (r.mon, r.week, r.day) = (mon, week, day);
        rest
    } else {
        let (d, rest) = num(s, 0, 365)?;
        r.day = d;
        rest
    };
    if let Some(rest) = s.strip_prefix('/') {
        let (t, rest) = offset(rest)?;
        r.time = t;
        s = rest;
    }
    Some((r, s))
}

fn num(s: &str, min: i64, max: i64) -> Option<(i64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let mut n: i64 = 0;
    for c in s[..end].bytes() {
        n = n * 10 + i64::from(c - b'0');
        if n > max {
            return None;
        }
    }
    (n >= min).then_some((n, &s[end..]))
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(mon: i64, year: i64) -> i64 {
    match mon {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days before month `mon` (1-based) in a non-leap year.
fn days_before(mon: i64) -> i64 {
    (1..mon).map(|m| days_in(m, 1)).sum()
}

/// Year and 1-based day of the year of Unix time `sec` (UTC).
fn year_yday(sec: i64) -> (i64, i64) {
    let days = sec.div_euclid(SECONDS_PER_DAY);
    let (y, m, d) = crate::timefmt::civil(days);
    let mut yday = days_before(m as i64) + d as i64;
    if is_leap(y) && m > 2 {
        yday += 1;
    }
    (y, yday)
}

fn rule_time(year: i64, r: Rule, off: i64) -> i64 {
    let s = match r.kind {
        RuleKind::Julian => {
            let mut s = (r.day - 1) * SECONDS_PER_DAY;
            if is_leap(year) && r.day >= 60 {
                s += SECONDS_PER_DAY;
            }
            s
        }
        RuleKind::Doy => r.day * SECONDS_PER_DAY,
        RuleKind::MonthWeekDay => {
            // Zeller's congruence: weekday of the month's first day.
            let m1 = (r.mon + 9) % 12 + 1;
            let yy0 = if r.mon <= 2 { year - 1 } else { year };
            let (yy1, yy2) = (yy0 / 100, yy0 % 100);
            let mut dow = ((26 * m1 - 2) / 10 + 1 + yy2 + yy2 / 4 + yy1 / 4 - 2 * yy1) % 7;
            if dow < 0 {
                dow += 7;
            }
            let mut d = r.day - dow;
            if d < 0 {
                d += 7;
            }
            for _ in 1..r.week {
                if d + 7 >= days_in(r.mon, year) {
                    break;
                }
                d += 7;
            }
            d += days_before(r.mon);
            if is_leap(year) && r.mon > 2 {
                d += 1;
            }
            d * SECONDS_PER_DAY
        }
    };
    s + r.time - off
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_like_go() {
        let eu = "CET-1CEST,M3.5.0,M10.5.0/3";
        // 2024-07-01 08:00 UTC and 2024-01-15 12:00 UTC.
        assert_eq!(tzset(eu, 1_719_820_800), Some(("CEST".into(), 7200)));
        assert_eq!(tzset(eu, 1_705_320_000), Some(("CET".into(), 3600)));
        // 2024-03-31 00:59:59 UTC is still CET; 01:00:00 UTC is CEST.
        assert_eq!(tzset(eu, 1_711_846_799), Some(("CET".into(), 3600)));
        assert_eq!(tzset(eu, 1_711_846_800), Some(("CEST".into(), 7200)));
        let us = "EST5EDT,M3.2.0,M11.1.0";
        assert_eq!(tzset(us, 1_719_820_800), Some(("EDT".into(), -14400)));
        assert_eq!(tzset("<+0530>-5:30", 0), Some(("+0530".into(), 19800)));
        assert_eq!(tzset("UTC0", 0), Some(("UTC".into(), 0)));
        assert_eq!(tzset("X", 0), None);
        // Southern hemisphere: DST spans the new year.
        let au = "AEST-10AEDT,M10.1.0,M4.1.0/3";
        assert_eq!(tzset(au, 1_705_320_000), Some(("AEDT".into(), 39600)));
        assert_eq!(tzset(au, 1_719_820_800), Some(("AEST".into(), 36000)));
    }
}
