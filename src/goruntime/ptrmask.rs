//! Which words of a runtime struct hold pointers, from its layout's member
//! types: what the GC's pointer bitmap for the type would say. A reachability
//! walk that scans a `runtime.p` word by word takes `pcache.base` (a page
//! address kept as a uintptr) or `puintptr` links for references, and
//! keeps alive whatever happens to sit there; the GC never does.

use std::collections::HashMap;

use crate::goruntime::layout::Layouts;

/// Deepest nesting followed (runtime structs nest a few levels).
const MAX_DEPTH: u32 = 12;

/// Byte offsets of the pointer words of `ty`, or `None` when its layout is
/// unknown. Pointers, `unsafe.Pointer`, strings, slices, maps, channels,
/// funcs and interfaces hold pointers; integers and the runtime's
/// `uintptr`-based handles (`guintptr`, `puintptr`, `muintptr`, …) do not.
pub fn pointer_offsets(layouts: &Layouts, ty: &str) -> Option<Vec<u64>> {
    layouts.size(ty).ok()?;
    let mut out = Vec::new();
    let mut memo = HashMap::new();
    walk(layouts, ty, 0, 0, &mut out, &mut memo);
    out.sort_unstable();
    out.dedup();
    Some(out)
}

fn walk(
    layouts: &Layouts,
    ty: &str,
    base: u64,
    depth: u32,
    out: &mut Vec<u64>,
    memo: &mut HashMap<String, Vec<u64>>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(offs) = memo.get(ty) {
        out.extend(offs.iter().map(|o| base + o));
        return;
    }
    let mut mine = Vec::new();
    let (size, _) = match layouts.size(ty) {
        Ok(s) => (s, ()),
        Err(_) => {
            type_words(layouts, ty, 0, depth, &mut mine, memo);
            out.extend(mine.iter().map(|o| base + o));
            return;
        }
    };
    for name in layouts.member_names(ty) {
        let Some(loc) = layouts.try_field(ty, &name) else {
            continue;
        };
        let Some(mty) = layouts.member_type(ty, &name) else {
            continue;
        };
        if loc.offset + loc.size > size {
            continue;
        }
        type_words(layouts, &mty, loc.offset, depth + 1, &mut mine, memo);
    }
    memo.insert(ty.to_string(), mine.clone());
    out.extend(mine.iter().map(|o| base + o));
}

/// The pointer words of one value of type `ty` at `off`.
fn type_words(
    layouts: &Layouts,
    ty: &str,
    off: u64,
    depth: u32,
    out: &mut Vec<u64>,
    memo: &mut HashMap<String, Vec<u64>>,
) {
    if ty.starts_with('*')
        || ty == "unsafe.Pointer"
        || ty.starts_with("chan ")
        || ty.starts_with("<-chan ")
        || ty.starts_with("map[")
        || ty.starts_with("func(")
        || ty.starts_with("[]")
        || ty == "string"
    {
        out.push(off);
    } else if ty.starts_with("interface {") || ty == "error" || ty == "interface {}" {
        out.push(off + 8);
    } else if let Some(rest) = ty.strip_prefix('[') {
        let Some((n, elem)) = rest.split_once(']') else {
            return;
        };
        let Ok(n) = n.parse::<u64>() else { return };
        let mut elem_offs = Vec::new();
        type_words(layouts, elem, 0, depth + 1, &mut elem_offs, memo);
        if elem_offs.is_empty() || n == 0 {
            return;
        }
        let stride = elem_size(layouts, elem).unwrap_or(8).max(1);
        for i in 0..n.min(1 << 16) {
            out.extend(elem_offs.iter().map(|o| off + i * stride + o));
        }
    } else if layouts.size(ty).is_ok() {
        walk(layouts, ty, off, depth + 1, out, memo);
    }
    // Anything else is a scalar: integers, floats, bools, uintptr and the
    // named uintptr handles.
}

/// Size of an array element type, where it can be told.
fn elem_size(layouts: &Layouts, ty: &str) -> Option<u64> {
    if ty.starts_with('*')
        || ty == "unsafe.Pointer"
        || ty.starts_with("chan ")
        || ty.starts_with("map[")
        || ty.starts_with("func(")
    {
        return Some(8);
    }
    if ty == "string" || ty.starts_with("interface {") || ty == "error" {
        return Some(16);
    }
    if ty.starts_with("[]") {
        return Some(24);
    }
    layouts.size(ty).ok()
}
