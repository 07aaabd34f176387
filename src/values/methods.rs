//! What the `String()`/`Error()` methods of standard types return,
//! computed from the decoded fields (fmt prints that instead of the
//! fields), and decoded states of sync types for humans.
//!
//! Only methods whose result depends on the value alone are emulated; the
//! one exception, `timerCtx.String()`, includes `time.Until(deadline)`,
//! which is computed against the host's clock now.

use crate::goruntime::syncstate::{rwmutex_readers, waitgroup_counts, MutexState};
use crate::values::decode::Decoder;
use crate::values::format::{duration, time_string};
use crate::values::value::{Data, Value};

/// Bound on context parent chains, in decoder depth (two per parent).
const MAX_CONTEXT_DEPTH: usize = 60;

/// Seconds from Jan 1 year 1 to the Unix epoch (time.unixToInternal).
const UNIX_TO_INTERNAL: i64 = (1969 * 365 + 1969 / 4 - 1969 / 100 + 1969 / 400) * 86_400;
/// Seconds from Jan 1 year 1 to Jan 1 1885 (time.wallToInternal).
const WALL_TO_INTERNAL: i64 = (1884 * 365 + 1884 / 4 - 1884 / 100 + 1884 / 400) * 86_400;

/// Sets `v.method` / `v.note` for the types we know.
pub fn annotate(d: &Decoder<'_>, v: &mut Value, depth: usize) {
    if matches!(v.data, Data::Error(_)) {
        return;
    }
    let name = v.type_name.as_str();
    let method = match name {
        "time.Duration" => match v.data {
            Data::Int(n) => Some(duration(n)),
            _ => None,
        },
        "time.Time" => time_of(d, v).ok(),
        "*time.Time" | "*time.Duration" => match &v.data {
            // A nil receiver panics in the method; fmt prints <nil>.
            Data::Pointer { addr: 0, .. } => Some("<nil>".into()),
            Data::Pointer { addr, .. } => {
                let inner = name.trim_start_matches('*');
                d.types
                    .by_name(inner)
                    .map(|t| d.at(t, *addr, 1))
                    .and_then(|iv| iv.method)
            }
            _ => None,
        },
        "*errors.errorString" | "*fmt.wrapError" | "*fmt.wrapErrors" => error_text(d, v, depth),
        _ if name.starts_with("*context.") || name.starts_with("context.") => {
            context_name(d, v, depth)
        }
        _ => None,
    };
    if method.is_some() {
        v.method = method;
    } else {
        v.method = inherited(d, v);
    }
    v.note = match name {
        "sync.Mutex" => find_uint(v, "state").map(mutex_note),
        "sync.RWMutex" => rwmutex_note(v),
        "sync.WaitGroup" => find_uint(v, "state").map(|s| {
            let (counter, waiters) = waitgroup_counts(s, d.go_minor >= 25);
            format!("counter {counter}, waiters {waiters}")
        }),
        _ => v.note.take(),
    };
}

/// Methods a value gets from what it contains: `*T` has the methods of
/// `T`; a struct has those promoted from an embedded (non-interface)
/// field, when exactly one embedded field has one. Only methods emulated
/// here are known, and a type's own String/Error (not in DWARF) would
/// take precedence; goroscope cannot see those.
fn inherited(d: &Decoder<'_>, v: &Value) -> Option<String> {
    match &v.data {
        Data::Pointer {
            pointee: Some(p), ..
        } => p.method.clone(),
        Data::Struct(fields) => {
            let mut found = fields.iter().filter(|f| {
                f.value.method.is_some()
                    && f.value.kind != crate::values::types::Kind::Interface
                    && d.types
                        .by_name(&v.type_name)
                        .and_then(|t| d.types.get(t).field(&f.name))
                        .is_some_and(|fd| fd.embedded)
            });
            let first = found.next()?;
            if found.next().is_some() {
                // Ambiguous selectors are not promoted.
                return None;
            }
            first.value.method.clone()
        }
        _ => None,
    }
}

fn mutex_note(state: u64) -> String {
    let m = MutexState::from_state(state as u32);
    let mut parts = vec![if m.locked { "locked" } else { "unlocked" }.to_string()];
    if m.woken {
        parts.push("woken".into());
    }
    if m.starving {
        parts.push("starving".into());
    }
    parts.push(format!("{} waiters", m.waiters));
    parts.join(", ")
}

fn rwmutex_note(v: &Value) -> Option<String> {
    let w = field(v, "w").and_then(|w| find_uint(w, "state"))?;
    let count = field(v, "readerCount").and_then(|r| find_uint(r, "v"))? as u32 as i32;
    let (writer, readers) = rwmutex_readers(count);
    Some(format!(
        "{} readers, writer {}; {}",
        readers,
        if writer { "pending or holding" } else { "none" },
        mutex_note(w)
    ))
}

/// A direct field by name.
fn field<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    match &v.data {
        Data::Struct(fs) => fs.iter().find(|f| f.name == name).map(|f| &f.value),
        _ => None,
    }
}

/// The first integer field called `name`, searched depth-first (sync
/// types nest their state in internal structs and atomics).
fn find_uint(v: &Value, name: &str) -> Option<u64> {
    let Data::Struct(fs) = &v.data else {
        return None;
    };
    for f in fs {
        if f.name == name {
            match f.value.data {
                Data::Int(i) => return Some(i as u64),
                Data::Uint(u) => return Some(u),
                _ => {
                    if let Some(x) = find_uint(&f.value, "v") {
                        return Some(x);
                    }
                }
            }
        }
        if let Some(x) = find_uint(&f.value, name) {
            return Some(x);
        }
    }
    None
}

fn int_field(v: &Value, name: &str) -> Option<i64> {
    match field(v, name)?.data {
        Data::Int(i) => Some(i),
        Data::Uint(u) => Some(u as i64),
        _ => None,
    }
}

/// time.Time.String() from wall/ext/loc.
fn time_of(d: &Decoder<'_>, v: &Value) -> Result<String, String> {
    const HAS_MONOTONIC: u64 = 1 << 63;
    const NSEC_MASK: u64 = (1 << 30) - 1;
    let wall = int_field(v, "wall").ok_or("time.Time without wall")? as u64;
    let ext = int_field(v, "ext").ok_or("time.Time without ext")?;
    let loc = match field(v, "loc").map(|l| &l.data) {
        Some(Data::Pointer { addr, .. }) => *addr,
        _ => 0,
    };
    let nsec = (wall & NSEC_MASK) as u32;
    let (sec, mono) = if wall & HAS_MONOTONIC != 0 {
        (((wall << 1) >> 31) as i64 + WALL_TO_INTERNAL, Some(ext))
    } else {
        (ext, None)
    };
    let unix = sec - UNIX_TO_INTERNAL;
    let zone = zone_at(d, loc, unix)?;
    Ok(time_string(unix, nsec, (&zone.0, zone.1), mono))
}

/// The zone abbreviation and offset of `*time.Location` at `loc` for the
/// instant `unix` (Location.lookup: the cached zone, else the
/// transitions, else past the last one the `extend` TZ rule).
fn zone_at(d: &Decoder<'_>, loc: u64, unix: i64) -> Result<(String, i64), String> {
    if loc == 0 {
        return Ok(("UTC".into(), 0));
    }
    let lt = d
        .types
        .by_name("time.Location")
        .ok_or("no DWARF for time.Location")?;
    let l = d.at(lt, loc, 1);
    let zones = match field(&l, "zone").map(|z| &z.data) {
        Some(Data::List { items, .. }) => items.clone(),
        _ => return Err("time.Location.zone unreadable".into()),
    };
    if zones.is_empty() {
        return Ok(("UTC".into(), 0));
    }
    let zone_of = |z: &Value| -> (String, i64) {
        let name = match field(z, "name").map(|n| &n.data) {
            Some(Data::String { s, .. }) => s.clone(),
            _ => String::new(),
        };
        (name, int_field(z, "offset").unwrap_or(0))
    };
    let start = int_field(&l, "cacheStart").unwrap_or(0);
    let end = int_field(&l, "cacheEnd").unwrap_or(0);
    if let Some(Data::Pointer { addr, .. }) = field(&l, "cacheZone").map(|c| &c.data) {
        if *addr != 0 && start <= unix && unix < end {
            let zt = d
                .types
                .by_name("time.zone")
                .ok_or("no DWARF for time.zone")?;
            return Ok(zone_of(&d.at(zt, *addr, 1)));
        }
    }
    let tx = match field(&l, "tx").map(|t| &t.data) {
        Some(Data::List { items, .. }) => items.clone(),
        _ => Vec::new(),
    };
    let index = |t: &Value| int_field(t, "index").unwrap_or(0) as usize;
    let is_dst = |i: usize| {
        zones
            .get(i)
            .and_then(|z| field(z, "isDST"))
            .is_some_and(|b| matches!(b.data, Data::Bool(true)))
    };
    let idx = if tx.is_empty() || unix < int_field(&tx[0], "when").unwrap_or(i64::MIN) {
        // Location.lookupFirstZone: before the first transition, the
        // first standard-time zone.
        if !tx.iter().any(|t| index(t) == 0) {
            0
        } else if !tx.is_empty() && is_dst(index(&tx[0])) {
            (0..index(&tx[0]))
                .rev()
                .find(|&i| !is_dst(i))
                .or_else(|| (0..zones.len()).find(|&i| !is_dst(i)))
                .unwrap_or(0)
        } else {
            (0..zones.len()).find(|&i| !is_dst(i)).unwrap_or(0)
        }
    } else {
        let i = tx.partition_point(|t| int_field(t, "when").unwrap_or(i64::MIN) <= unix);
        if i == tx.len() {
            // Past the last transition Go applies the POSIX TZ rule.
            if let Some(Data::String { s: rule, .. }) = field(&l, "extend").map(|e| &e.data) {
                if let Some(z) = crate::values::tz::tzset(rule, unix) {
                    return Ok(z);
                }
            }
        }
        index(&tx[i - 1])
    };
    Ok(zone_of(zones.get(idx).unwrap_or(&zones[0])))
}

/// Error() of errors.New / fmt.Errorf values: the message they keep.
fn error_text(d: &Decoder<'_>, v: &Value, depth: usize) -> Option<String> {
    let Data::Pointer { addr, .. } = v.data else {
        return None;
    };
    if addr == 0 {
        return Some("<nil>".into());
    }
    let st = d.types.by_name(v.type_name.trim_start_matches('*'))?;
    let f = if v.type_name == "*errors.errorString" {
        "s"
    } else {
        "msg"
    };
    let inner = d.fields_at(st, addr, &[f], depth);
    match &field(&inner, f)?.data {
        Data::String { s, .. } => Some(s.clone()),
        _ => None,
    }
}

/// context's String() methods (contextName), following the parent
/// chain: "context.Background.WithCancel.WithValue(k, v)".
fn context_name(d: &Decoder<'_>, v: &Value, depth: usize) -> Option<String> {
    // Each parent is decoded deeper, so the decoder's depth bound ends
    // cycles; this one keeps the text short.
    if depth > MAX_CONTEXT_DEPTH {
        return Some("…".into());
    }
    let name = v.type_name.as_str();
    // go1.21+ (the supported window): Background and TODO are distinct
    // empty struct types with value-receiver String methods.
    match name {
        "context.backgroundCtx" => return Some("context.Background".into()),
        "context.todoCtx" => return Some("context.TODO".into()),
        _ => {}
    }
    let Data::Pointer { addr, .. } = v.data else {
        return None;
    };
    if addr == 0 {
        return Some("<nil>".into());
    }
    let st = d.types.by_name(name.trim_start_matches('*'))?;
    let inner = d.fields_at(
        st,
        addr,
        &["Context", "c", "cancelCtx", "deadline", "key", "val"],
        depth,
    );
    let parent_of = |s: &Value| -> String {
        match field(s, "Context").map(|c| &c.data) {
            Some(Data::Iface {
                dynamic: Some(p), ..
            }) => p
                .method
                .clone()
                .or_else(|| context_name(d, p, depth + 1))
                .unwrap_or_else(|| p.type_name.clone()),
            _ => "<nil>".into(),
        }
    };
    match name {
        "*context.cancelCtx" => Some(format!("{}.WithCancel", parent_of(&inner))),
        "*context.withoutCancelCtx" => {
            let p = match field(&inner, "c").map(|c| &c.data) {
                Some(Data::Iface {
                    dynamic: Some(p), ..
                }) => p.method.clone().unwrap_or_else(|| p.type_name.clone()),
                _ => "<nil>".into(),
            };
            Some(format!("{p}.WithoutCancel"))
        }
        "*context.timerCtx" => {
            // Only cancelCtx.Context matters (its children map leads back).
            let ct = d.types.by_name("context.cancelCtx")?;
            let cancel = &d.fields_at(
                ct,
                field(&inner, "cancelCtx")?.addr,
                &["Context"],
                depth + 1,
            );
            let deadline = field(&inner, "deadline")?;
            let text = deadline.method.clone()?;
            let until = until_now(deadline);
            Some(format!(
                "{}.WithDeadline({text} [{until}])",
                parent_of(cancel)
            ))
        }
        "*context.valueCtx" => {
            let key = field(&inner, "key")?;
            let val = field(&inner, "val")?;
            let old = d.go_minor < 23;
            Some(if old {
                format!(
                    "{}.WithValue(type {}, val {})",
                    parent_of(&inner),
                    iface_type_name(key),
                    stringify(val, true)
                )
            } else {
                format!(
                    "{}.WithValue({}, {})",
                    parent_of(&inner),
                    stringify(key, false),
                    stringify(val, false)
                )
            })
        }
        _ => None,
    }
}

fn iface_type_name(v: &Value) -> String {
    match &v.data {
        Data::Iface {
            dynamic: Some(d), ..
        } => d.type_name.clone(),
        _ => "<nil>".into(),
    }
}

/// context.stringify: Stringer, then string, then nil, then the type name
/// (go1.21–1.22 said "<not Stringer>" instead of the type name).
fn stringify(v: &Value, old: bool) -> String {
    match &v.data {
        Data::Iface {
            dynamic: Some(d), ..
        } => {
            if let Some(m) = &d.method {
                return m.clone();
            }
            if d.type_name == "string" {
                if let Data::String { s, .. } = &d.data {
                    return s.clone();
                }
            }
            if old {
                "<not Stringer>".into()
            } else {
                d.type_name.clone()
            }
        }
        _ if old => "<not Stringer>".into(),
        _ => "<nil>".into(),
    }
}

/// time.Until(deadline).String() against the host clock now.
fn until_now(deadline: &Value) -> String {
    let wall = int_field(deadline, "wall").unwrap_or(0) as u64;
    let ext = int_field(deadline, "ext").unwrap_or(0);
    let sec = if wall & (1 << 63) != 0 {
        ((wall << 1) >> 31) as i64 + WALL_TO_INTERNAL
    } else {
        ext
    };
    let nsec = (wall & ((1 << 30) - 1)) as i64;
    let unix_ns = (sec - UNIX_TO_INTERNAL).saturating_mul(1_000_000_000) + nsec;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    duration(unix_ns - now)
}
