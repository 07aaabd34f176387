//! Go's `fmt` `%v` and `%+v` for decoded values (fmt/print.go
//! printValue), with map keys ordered as internal/fmtsort orders them.

use std::cmp::Ordering;

use crate::values::types::Kind;
use crate::values::value::{Data, Value};

/// `fmt.Sprintf("%v", x)` (or `%+v` with `plus`) for a top-level argument.
pub fn format_value(v: &Value, plus: bool) -> String {
    let mut out = String::new();
    print(&mut out, v, plus, 0, false);
    out
}

/// printValue: `ro` is reflect's read-only flag (the value was reached
/// through an unexported field), which stops fmt from calling methods.
fn print(out: &mut String, v: &Value, plus: bool, depth: usize, ro: bool) {
    // handleMethods: at depth 0 always, deeper only when CanInterface.
    if let Some(m) = &v.method {
        if depth == 0 || !ro {
            out.push_str(m);
            return;
        }
    }
    match &v.data {
        Data::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Data::Int(i) => out.push_str(&i.to_string()),
        Data::Uint(u) => out.push_str(&u.to_string()),
        Data::Float { v, bits } => out.push_str(&format_float(*v, *bits, false)),
        Data::Complex { re, im, bits } => {
            out.push('(');
            out.push_str(&format_float(*re, *bits, false));
            out.push_str(&format_float(*im, *bits, true));
            out.push_str("i)");
        }
        Data::String { s, len } => {
            out.push_str(s);
            if (s.len() as u64) < *len {
                out.push_str(&format!("…(+{} bytes)", len - s.len() as u64));
            }
        }
        Data::Pointer { addr, pointee } => match pointee {
            Some(p) if depth == 0 => {
                out.push('&');
                print(out, p, plus, depth + 1, ro);
            }
            _ => out.push_str(&pointer(*addr)),
        },
        Data::Struct(fields) => {
            out.push('{');
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if plus {
                    out.push_str(&f.name);
                    out.push(':');
                }
                print(out, &f.value, plus, depth + 1, ro || !f.exported());
            }
            out.push('}');
        }
        Data::List { items, len, .. } => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print(out, it, plus, depth + 1, ro);
            }
            if (items.len() as u64) < *len {
                out.push_str(&format!(" …(+{} more)", len - items.len() as u64));
            }
            out.push(']');
        }
        Data::Map { entries, len, .. } => {
            out.push_str("map[");
            for (i, (k, val)) in sorted_entries(entries).into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print(out, k, plus, depth + 1, ro);
                out.push(':');
                print(out, val, plus, depth + 1, ro);
            }
            if (entries.len() as u64) < *len {
                out.push_str(&format!(" …(+{} more)", len - entries.len() as u64));
            }
            out.push(']');
        }
        Data::Chan { addr, .. } => out.push_str(&pointer(*addr)),
        Data::Func(pc) => out.push_str(&pointer(*pc)),
        Data::Iface { dynamic, .. } => match dynamic {
            None => out.push_str("<nil>"),
            // A top-level interface is unwrapped: fmt's argument is its
            // contents, printed at depth 0.
            Some(d) => print(out, d, plus, if depth == 0 { 0 } else { depth + 1 }, ro),
        },
        Data::Error(e) => {
            out.push_str("<error: ");
            out.push_str(e);
            out.push('>');
        }
    }
}

/// fmtPointer with %v: `<nil>` or `0x` + lower-case hex.
fn pointer(addr: u64) -> String {
    if addr == 0 {
        "<nil>".into()
    } else {
        format!("{addr:#x}")
    }
}

/// strconv.FormatFloat(v, 'g', -1, bits) as fmt's %v prints it; `sign`
/// forces a leading '+' (the imaginary part of a complex).
pub fn format_float(v: f64, bits: u8, sign: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Shortest round-trip digits, from Rust's own shortest formatting.
    let e = if bits == 32 {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    let (neg, e) = match e.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, e),
    };
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let mut s = String::new();
    if neg {
        s.push('-');
    } else if sign {
        s.push('+');
    }
    // %e when the exponent is < -4 or >= the shortest-precision cutoff 6
    // (strconv's %g rule with eprec = 6 for shortest).
    let x = dp - 1;
    if !(-4..6).contains(&x) && digits != "0" {
        s.push_str(&digits[..1]);
        if nd > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if x < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", x.abs()));
        return s;
    }
    if dp <= 0 {
        s.push_str("0.");
        for _ in 0..(-dp) {
            s.push('0');
        }
        s.push_str(&digits);
    } else if dp >= nd {
        s.push_str(&digits);
        for _ in 0..(dp - nd) {
            s.push('0');
        }
    } else {
        s.push_str(&digits[..dp as usize]);
        s.push('.');
        s.push_str(&digits[dp as usize..]);
    }
    s
}

/// Map entries in internal/fmtsort order.
pub fn sorted_entries(entries: &[(Value, Value)]) -> Vec<(&Value, &Value)> {
    let mut v: Vec<(&Value, &Value)> = entries.iter().map(|(k, v)| (k, v)).collect();
    v.sort_by(|a, b| compare(a.0, b.0));
    v
}

/// internal/fmtsort.compare: numbers numerically, strings bytewise,
/// false before true, NaN first among floats, pointers and chans by
/// address, structs and arrays element by element, interfaces by
/// dynamic type (descriptor address) then value; nil first.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match (&a.data, &b.data) {
        (Data::Int(x), Data::Int(y)) => x.cmp(y),
        (Data::Uint(x), Data::Uint(y)) => x.cmp(y),
        (Data::String { s: x, .. }, Data::String { s: y, .. }) => x.as_bytes().cmp(y.as_bytes()),
        (Data::Float { v: x, .. }, Data::Float { v: y, .. }) => float_cmp(*x, *y),
        (Data::Complex { re: r1, im: i1, .. }, Data::Complex { re: r2, im: i2, .. }) => {
            float_cmp(*r1, *r2).then_with(|| float_cmp(*i1, *i2))
        }
        (Data::Bool(x), Data::Bool(y)) => x.cmp(y),
        (Data::Pointer { addr: x, .. }, Data::Pointer { addr: y, .. }) => x.cmp(y),
        (Data::Chan { addr: x, .. }, Data::Chan { addr: y, .. }) => x.cmp(y),
        (Data::Func(x), Data::Func(y)) => x.cmp(y),
        (Data::Struct(x), Data::Struct(y)) => {
            for (f, g) in x.iter().zip(y) {
                let c = compare(&f.value, &g.value);
                if c != Ordering::Equal {
                    return c;
                }
            }
            Ordering::Equal
        }
        (Data::List { items: x, .. }, Data::List { items: y, .. }) => {
            for (f, g) in x.iter().zip(y) {
                let c = compare(f, g);
                if c != Ordering::Equal {
                    return c;
                }
            }
            Ordering::Equal
        }
        (
            Data::Iface {
                rtype: t1,
                dynamic: d1,
            },
            Data::Iface {
                rtype: t2,
                dynamic: d2,
            },
        ) => match (d1, d2) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => t1.cmp(t2).then_with(|| compare(x, y)),
        },
        _ => kind_rank(a.kind).cmp(&kind_rank(b.kind)),
    }
}

fn kind_rank(k: Kind) -> u8 {
    k as u8
}

/// fmtsort's float order: NaN < everything, then numeric.
fn float_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// time.Duration.String().
pub fn duration(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0 => return "0s".into(),
            1..=999 => (0, "ns"),
            1_000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (frac, int) = frac(u, prec);
        u = int;
        out.push_str(&u.to_string());
        out.push_str(&frac);
        out.push_str(unit);
    } else {
        let (frac, int) = frac(u, 9);
        u = int;
        let secs = format!("{}{frac}s", u % 60);
        u /= 60;
        if u > 0 {
            let mins = u % 60;
            u /= 60;
            if u > 0 {
                out.push_str(&format!("{u}h"));
            }
            out.push_str(&format!("{mins}m"));
        }
        out.push_str(&secs);
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// fmtFrac: the fraction of v/10^prec without trailing zeros (and no
/// dot when zero), and v/10^prec.
fn frac(mut v: u64, prec: u32) -> (String, u64) {
    let mut digits = Vec::new();
    let mut print = false;
    for _ in 0..prec {
        let d = v % 10;
        print = print || d != 0;
        if print {
            digits.push(char::from(b'0' + d as u8));
        }
        v /= 10;
    }
    if print {
        digits.push('.');
    }
    (digits.into_iter().rev().collect(), v)
}

/// time.Time.String() for `unix` seconds + `nsec`, shown in a zone
/// `(abbrev, offset seconds)`, with the monotonic reading if present.
pub fn time_string(unix: i64, nsec: u32, zone: (&str, i64), mono: Option<i64>) -> String {
    let local = unix + zone.1;
    let (y, mo, d) = crate::timefmt::civil(local.div_euclid(86_400));
    let sod = local.rem_euclid(86_400);
    let mut s = String::new();
    if y < 0 {
        s.push_str(&format!("-{:04}", -y));
    } else {
        s.push_str(&format!("{y:04}"));
    }
    s.push_str(&format!(
        "-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    ));
    if nsec != 0 {
        let f = format!("{nsec:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    let off = zone.1 / 60;
    let (sign, off) = if off < 0 { ('-', -off) } else { ('+', off) };
    s.push_str(&format!(" {sign}{:02}{:02} ", off / 60, off % 60));
    if zone.0.is_empty() {
        s.push_str(&format!("{sign}{:02}{:02}", off / 60, off % 60));
    } else {
        s.push_str(zone.0);
    }
    if let Some(m) = mono {
        let sign = if m < 0 { '-' } else { '+' };
        let m2 = m.unsigned_abs();
        let (m1, m2) = (m2 / 1_000_000_000, m2 % 1_000_000_000);
        let (m0, m1) = (m1 / 1_000_000_000, m1 % 1_000_000_000);
        s.push_str(&format!(" m={sign}"));
        if m0 != 0 {
            s.push_str(&format!("{m0}{m1:09}"));
        } else {
            s.push_str(&m1.to_string());
        }
        s.push_str(&format!(".{m2:09}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(data: Data, kind: Kind) -> Value {
        Value {
            type_name: String::new(),
            kind,
            addr: 0,
            data,
            method: None,
            note: None,
        }
    }

    #[test]
    fn floats_like_strconv_g() {
        assert_eq!(format_float(0.0, 64, false), "0");
        assert_eq!(format_float(1.5, 64, false), "1.5");
        assert_eq!(format_float(1e6, 64, false), "1e+06");
        assert_eq!(format_float(123456.0, 64, false), "123456");
        assert_eq!(format_float(0.0001, 64, false), "0.0001");
        assert_eq!(format_float(0.00001, 64, false), "1e-05");
        assert_eq!(format_float(1.23456, 64, false), "1.23456");
        assert_eq!(format_float(-2.5e-10, 64, false), "-2.5e-10");
        assert_eq!(format_float(f64::from(0.1f32), 32, false), "0.1");
        assert_eq!(format_float(2.0, 64, true), "+2");
        assert_eq!(format_float(1.2345678e21, 64, false), "1.2345678e+21");
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(1), "1ns");
        assert_eq!(duration(1_500), "1.5µs");
        assert_eq!(duration(2_000_000), "2ms");
        assert_eq!(duration(90 * 60 * 1_000_000_000 + 500_000_000), "1h30m0.5s");
        assert_eq!(duration(-3_000_000_000), "-3s");
        assert_eq!(duration(3_600_000_000_000), "1h0m0s");
    }

    #[test]
    fn times_like_go() {
        // 2009-11-10 23:00:00 UTC, Go's playground epoch.
        assert_eq!(
            time_string(1_257_894_000, 0, ("UTC", 0), None),
            "2009-11-10 23:00:00 +0000 UTC"
        );
        assert_eq!(
            time_string(
                1_257_894_000,
                120_000_000,
                ("CET", 3600),
                Some(1_000_000_001)
            ),
            "2009-11-11 00:00:00.12 +0100 CET m=+1.000000001"
        );
    }

    #[test]
    fn methods_only_through_exported_fields() {
        let time = |name: &str| {
            let mut v = val(Data::Struct(Vec::new()), Kind::Struct);
            v.type_name = name.into();
            v.method = Some("2024-03-15 12:00:00 +0000 UTC".into());
            v
        };
        let s = val(
            Data::Struct(vec![
                crate::values::value::FieldValue {
                    name: "At".into(),
                    value: time("time.Time"),
                },
                crate::values::value::FieldValue {
                    name: "at".into(),
                    value: time("time.Time"),
                },
            ]),
            Kind::Struct,
        );
        // reflect cannot Interface() a value reached through an unexported
        // field, so fmt prints its fields instead of calling String().
        assert_eq!(
            format_value(&s, true),
            "{At:2024-03-15 12:00:00 +0000 UTC at:{}}"
        );
    }

    #[test]
    fn fmtsort_order() {
        let s = |x: &str| {
            val(
                Data::String {
                    s: x.into(),
                    len: x.len() as u64,
                },
                Kind::String,
            )
        };
        let i = |x: i64| val(Data::Int(x), Kind::Int);
        let m = val(
            Data::Map {
                entries: vec![(s("b"), i(2)), (s("a"), i(1)), (s("B"), i(3))],
                len: 3,
                nil: false,
            },
            Kind::Map,
        );
        assert_eq!(format_value(&m, false), "map[B:3 a:1 b:2]");
        let m = val(
            Data::Map {
                entries: vec![(i(10), s("x")), (i(-1), s("y")), (i(2), s("z"))],
                len: 3,
                nil: false,
            },
            Kind::Map,
        );
        assert_eq!(format_value(&m, false), "map[-1:y 2:z 10:x]");
        let nan = val(
            Data::Float {
                v: f64::NAN,
                bits: 64,
            },
            Kind::Float,
        );
        let one = val(Data::Float { v: 1.0, bits: 64 }, Kind::Float);
        assert_eq!(compare(&nan, &one), Ordering::Less);
    }
}
