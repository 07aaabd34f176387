//! The `print` expression grammar:
//!
//! ```text
//! expr     := root selector*
//! root     := VARIABLE                 package-level, e.g. main.catalog
//!           | "*(" TYPE ")(" ADDR ")"  a typed address
//! selector := "." FIELD                through pointers, as Go does
//!           | "[" INDEX "]"            slices, arrays; map keys as %v
//!                                      prints them ("bob" or bob, 3)
//! ```

use crate::error::{Error, Result};
use crate::session::Session;
use crate::values::decode::Decoder;
use crate::values::format::format_value;
use crate::values::types::{Kind, TypeId};
use crate::values::value::Data;

/// Bound on implicit pointer dereferences per selector.
const MAX_DEREF: usize = 8;

#[derive(Debug, PartialEq)]
enum Sel {
    Field(String),
    Index(String),
}

/// Resolves `text` to a type and an address.
pub fn resolve(s: &Session, d: &Decoder<'_>, text: &str) -> Result<(TypeId, u64)> {
    let text = text.trim();
    let (mut ty, mut addr, rest) = if let Some(r) = text.strip_prefix("*(") {
        let close = matching(r, '(', ')')
            .ok_or_else(|| bad(text, "unbalanced parentheses in *(TYPE)(ADDR)"))?;
        let tname = r[..close].trim();
        let r = r[close + 1..]
            .strip_prefix('(')
            .ok_or_else(|| bad(text, "expected (ADDR) after *(TYPE)"))?;
        let end = r
            .find(')')
            .ok_or_else(|| bad(text, "expected ) after ADDR"))?;
        let addr = parse_addr(r[..end].trim()).ok_or_else(|| bad(text, "ADDR is not a number"))?;
        let ty = d.types.by_name(tname).ok_or_else(|| {
            Error::Other(format!("no Go type named {tname:?} in the binary's DWARF"))
        })?;
        (ty, addr, &r[end + 1..])
    } else {
        let (name, rest) = split_root(d, text).ok_or_else(|| {
            Error::Other(format!(
                "no package-level variable in {text:?} (try main.NAME)"
            ))
        })?;
        let ty = d
            .types
            .var(name)
            .ok_or_else(|| bad(text, "unknown variable"))?;
        let addr = s.rt.symbol(name).map_err(|e| {
            Error::Other(format!(
                "address of {name}: {e} (the symbol table is needed)"
            ))
        })?;
        (ty, addr, rest)
    };
    for sel in selectors(rest).ok_or_else(|| bad(text, "bad selector syntax"))? {
        (ty, addr) = step(d, ty, addr, &sel).map_err(|e| Error::Other(format!("{text}: {e}")))?;
    }
    Ok((ty, addr))
}

fn bad(text: &str, what: &str) -> Error {
    Error::Other(format!("cannot parse {text:?}: {what}"))
}

fn parse_addr(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Index of the `close` matching an already-consumed `open`.
fn matching(s: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// The longest prefix of `text` naming a package-level variable
/// (package paths contain dots and slashes, so try from the longest).
fn split_root<'t>(d: &Decoder<'_>, text: &'t str) -> Option<(&'t str, &'t str)> {
    let mut cuts: Vec<usize> = text
        .char_indices()
        .filter(|&(_, c)| c == '.' || c == '[')
        .map(|(i, _)| i)
        .collect();
    cuts.push(text.len());
    cuts.into_iter()
        .rev()
        .map(|i| (&text[..i], &text[i..]))
        .find(|(name, _)| d.types.var(name).is_some())
}

fn selectors(mut s: &str) -> Option<Vec<Sel>> {
    let mut out = Vec::new();
    while !s.is_empty() {
        if let Some(r) = s.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            out.push(Sel::Field(r[..end].to_string()));
            s = &r[end..];
        } else if let Some(r) = s.strip_prefix('[') {
            let end = if let Some(q) = r.strip_prefix('"') {
                // A quoted key may contain ']'.
                let close = q.find('"')? + 1;
                close + r[close..].find(']')?
            } else {
                r.find(']')?
            };
            out.push(Sel::Index(r[..end].trim().to_string()));
            s = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

fn step(
    d: &Decoder<'_>,
    mut ty: TypeId,
    mut addr: u64,
    sel: &Sel,
) -> std::result::Result<(TypeId, u64), String> {
    for _ in 0..MAX_DEREF {
        let t = d.types.get(ty);
        if t.kind != Kind::Pointer {
            break;
        }
        let p = d.mem.read_u64(addr).map_err(|e| e.to_string())?;
        if p == 0 {
            return Err(format!("nil pointer ({}) dereferenced", t.name));
        }
        addr = p;
        ty = t.target.ok_or("pointer without target type")?;
    }
    let t = d.types.get(ty);
    match sel {
        Sel::Field(name) => {
            if t.kind != Kind::Struct {
                return Err(format!("{} is not a struct (.{name})", t.name));
            }
            find_field(d, ty, name, 0)
                .map(|(fty, off)| (fty, addr.wrapping_add(off)))
                .ok_or_else(|| format!("{} has no field {name}", t.name))
        }
        Sel::Index(idx) => match t.kind {
            Kind::Array | Kind::Slice => {
                let i: u64 = idx
                    .parse()
                    .map_err(|_| format!("index {idx:?} is not a number"))?;
                let el = t.elem.or(t.target).ok_or("no element type")?;
                let esize = d.types.get(el).size;
                let (base, len) = if t.kind == Kind::Array {
                    (addr, t.count)
                } else {
                    let p = d.mem.read_u64(addr).map_err(|e| e.to_string())?;
                    let n = d
                        .mem
                        .read_u64(addr.wrapping_add(8))
                        .map_err(|e| e.to_string())?;
                    (p, n)
                };
                if i >= len {
                    return Err(format!("index {i} out of range [0:{len}]"));
                }
                Ok((el, base.wrapping_add(i.wrapping_mul(esize))))
            }
            Kind::Map => {
                let want = idx.trim_matches('"');
                let m = d.at(ty, addr, 1);
                let Data::Map { entries, .. } = &m.data else {
                    return Err(format!("map unreadable: {}", format_value(&m, false)));
                };
                let elem = t.elem.ok_or("map without value type")?;
                entries
                    .iter()
                    .find(|(k, _)| format_value(k, false) == want)
                    .map(|(_, v)| (elem, v.addr))
                    .ok_or_else(|| format!("key {idx} not in map"))
            }
            _ => Err(format!("{} cannot be indexed", t.name)),
        },
    }
}

/// A field, or a field promoted from an embedded struct (Go's selector
/// rule, shallowest first; bounded depth).
fn find_field(d: &Decoder<'_>, ty: TypeId, name: &str, depth: usize) -> Option<(TypeId, u64)> {
    let t = d.types.get(ty);
    if let Some(f) = t.field(name) {
        return Some((f.ty, f.offset));
    }
    if depth > 4 {
        return None;
    }
    t.fields
        .iter()
        .filter(|f| f.embedded && d.types.get(f.ty).kind == Kind::Struct)
        .find_map(|f| find_field(d, f.ty, name, depth + 1).map(|(t, o)| (t, o + f.offset)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_selectors() {
        assert_eq!(
            selectors(".items[3].Name[\"a]b\"]").unwrap(),
            vec![
                Sel::Field("items".into()),
                Sel::Index("3".into()),
                Sel::Field("Name".into()),
                Sel::Index("\"a]b\"".into()),
            ]
        );
        assert!(selectors("x").is_none());
        assert!(selectors(".").is_none());
        assert_eq!(parse_addr("0x10"), Some(16));
        assert_eq!(matching("a(b))x", '(', ')'), Some(4));
    }
}
