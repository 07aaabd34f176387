//! Parameters and local variables of each function, from the executable's
//! DWARF, looked up by pc: their names, types and locations (an expression,
//! or a location list: `.debug_loc` in DWARF 4, `.debug_loclists` with
//! `.debug_addr` in DWARF 5 — gimli resolves both). Used to name an object
//! after the local that references it (`s.mu` in `main.(*store).flush`).
//!
//! Everything is read once, on first use; a binary without DWARF (or with
//! unreadable DWARF) simply has no variables: local names are a bonus,
//! never a reason to fail.

use std::collections::HashMap;

use gimli::AttributeValue;

use crate::binary::dwarf::{ref_offset, DwarfSections, Slice};
use crate::binary::elf::Executable;

/// Bounds against corrupt DWARF.
const MAX_LOCLIST_ENTRIES: usize = 1024;
const MAX_RANGES: usize = 256;
const MAX_TYPE_CHAIN: usize = 16;

/// Where a variable lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// One expression valid wherever the variable's scope is.
    Expr(Vec<u8>),
    /// (begin, end, expression): pcs are link-time addresses.
    List(Vec<(u64, u64, Vec<u8>)>),
}

/// A parameter or local variable.
#[derive(Debug, Clone)]
pub struct VarInfo {
    /// Go's name; escaped variables are named `&x` with a pointer type.
    pub name: String,
    pub param: bool,
    /// Go name of the type ("*main.store", "chan int", "main.store").
    pub type_name: String,
    /// Size of the type in bytes (0 when unknown).
    pub type_size: u64,
    /// For pointer types: the pointee's name and size.
    pub pointee: Option<(String, u64)>,
    /// The function the variable belongs to: the frame's own function, or
    /// the inlined one whose scope holds it.
    pub scope: String,
    /// Declared inside an inlined call.
    pub inlined: bool,
    /// The pc ranges of the innermost lexical block or inlined call that
    /// declares it (empty: the whole function).
    pub ranges: Vec<(u64, u64)>,
    pub location: Location,
}

impl VarInfo {
    /// The location expression that applies at link-time `pc`, if the
    /// variable is in scope and has a location there.
    pub fn expr_at(&self, pc: u64) -> Option<&[u8]> {
        if !self.ranges.is_empty() && !self.ranges.iter().any(|&(b, e)| pc >= b && pc < e) {
            return None;
        }
        let e = match &self.location {
            Location::Expr(e) => e.as_slice(),
            Location::List(l) => l
                .iter()
                .find(|(b, e, _)| pc >= *b && pc < *e)
                .map(|(_, _, x)| x.as_slice())?,
        };
        (!e.is_empty()).then_some(e)
    }
}

/// The variables of one function.
#[derive(Debug, Clone)]
pub struct FuncVars {
    pub low: u64,
    pub high: u64,
    pub name: String,
    pub vars: Vec<VarInfo>,
}

/// Bound on the per-pc cache (distinct pcs in a stop's frames).
const MAX_CACHED_PCS: usize = 1 << 16;

/// A function's index and the indices of its variables located at a pc.
type LiveVars = std::sync::Arc<(usize, Vec<usize>)>;

/// Every function's variables, sorted by start address.
#[derive(Debug, Default)]
pub struct DwarfVars {
    funcs: Vec<FuncVars>,
    /// pc → (function index, indices of the variables located there):
    /// thousands of goroutines stop at the same few pcs.
    at_pc: std::sync::Mutex<HashMap<u64, LiveVars>>,
}

#[derive(Debug, Default, Clone)]
struct RawType {
    tag: u16,
    name: Option<String>,
    size: Option<u64>,
    target: Option<usize>,
}

/// A variable DIE as read, before abstract origins and types are resolved.
struct RawVar {
    func: usize,
    name: Option<String>,
    type_ref: Option<usize>,
    origin: Option<usize>,
    param: bool,
    scope_origin: Option<usize>,
    ranges: Vec<(u64, u64)>,
    location: Location,
}

/// An open lexical block or inlined call while walking a function.
struct Block {
    depth: isize,
    ranges: Vec<(u64, u64)>,
    /// Abstract subprogram of an inlined call.
    origin: Option<usize>,
}

impl DwarfVars {
    /// Reads every function's variables from `exe`'s DWARF; `None` when
    /// the binary has none or it cannot be read.
    pub fn load(exe: &Executable) -> Option<Self> {
        let sections = DwarfSections::read(exe).ok()??;
        let dwarf = sections.dwarf().ok()?;
        Some(Self::read(&dwarf))
    }

    fn read(dwarf: &gimli::Dwarf<Slice<'_>>) -> Self {
        let mut types: HashMap<usize, RawType> = HashMap::new();
        // Named variable and subprogram DIEs by offset, for abstract origins.
        let mut var_dies: HashMap<usize, (Option<String>, Option<usize>)> = HashMap::new();
        let mut sub_names: HashMap<usize, String> = HashMap::new();
        let mut funcs: Vec<FuncVars> = Vec::new();
        let mut raw_vars: Vec<RawVar> = Vec::new();
        let mut units = dwarf.units();
        while let Ok(Some(header)) = units.next() {
            let Ok(unit) = dwarf.unit(header) else {
                continue;
            };
            let mut entries = unit.entries();
            // The concrete function being walked: (index in funcs, depth).
            let mut cur: Option<(usize, isize)> = None;
            let mut blocks: Vec<Block> = Vec::new();
            while let Ok(Some(entry)) = entries.next_dfs() {
                let depth = entry.depth();
                if cur.is_some_and(|(_, d)| depth <= d) {
                    cur = None;
                }
                blocks.retain(|b| b.depth < depth);
                let Some(off) = entry.offset().to_debug_info_offset(&unit.header) else {
                    continue;
                };
                let off = off.0;
                let tag = entry.tag();
                let name = entry
                    .attr_value(gimli::DW_AT_name)
                    .and_then(|v| dwarf.attr_string(&unit, v).ok())
                    .map(|s| s.to_string_lossy().into_owned());
                let type_ref = entry
                    .attr_value(gimli::DW_AT_type)
                    .and_then(|v| ref_offset(&unit, v));
                let origin = entry
                    .attr_value(gimli::DW_AT_abstract_origin)
                    .and_then(|v| ref_offset(&unit, v));
                let ranges = || -> Vec<(u64, u64)> {
                    let mut out = Vec::new();
                    if let Ok(mut it) = dwarf.die_ranges(&unit, entry) {
                        while let Ok(Some(r)) = it.next() {
                            if out.len() >= MAX_RANGES {
                                break;
                            }
                            out.push((r.begin, r.end));
                        }
                    }
                    out
                };
                match tag {
                    gimli::DW_TAG_subprogram => {
                        if let Some(n) = &name {
                            sub_names.insert(off, n.clone());
                        }
                        let r = ranges();
                        // Abstract (inline-only) subprograms have no code.
                        if let (Some(n), false) = (name, r.is_empty()) {
                            let low = r.iter().map(|x| x.0).min().unwrap_or(0);
                            let high = r.iter().map(|x| x.1).max().unwrap_or(0);
                            funcs.push(FuncVars {
                                low,
                                high,
                                name: n,
                                vars: Vec::new(),
                            });
                            cur = Some((funcs.len() - 1, depth));
                        }
                    }
                    gimli::DW_TAG_lexical_block | gimli::DW_TAG_inlined_subroutine
                        if cur.is_some() =>
                    {
                        blocks.push(Block {
                            depth,
                            ranges: ranges(),
                            origin: if tag == gimli::DW_TAG_inlined_subroutine {
                                origin
                            } else {
                                blocks.last().and_then(|b| b.origin)
                            },
                        });
                    }
                    gimli::DW_TAG_formal_parameter | gimli::DW_TAG_variable => {
                        var_dies.insert(off, (name.clone(), type_ref));
                        let Some((func, _)) = cur else { continue };
                        let location = match entry.attr_value(gimli::DW_AT_location) {
                            Some(AttributeValue::Exprloc(e)) => {
                                Location::Expr(e.0.slice().to_vec())
                            }
                            Some(v) => match dwarf.attr_locations(&unit, v) {
                                Ok(Some(mut it)) => {
                                    let mut l = Vec::new();
                                    while let Ok(Some(e)) = it.next() {
                                        if l.len() >= MAX_LOCLIST_ENTRIES {
                                            break;
                                        }
                                        l.push((
                                            e.range.begin,
                                            e.range.end,
                                            e.data.0.slice().to_vec(),
                                        ));
                                    }
                                    Location::List(l)
                                }
                                _ => continue,
                            },
                            None => continue,
                        };
                        let block = blocks.last();
                        raw_vars.push(RawVar {
                            func,
                            name,
                            type_ref,
                            origin,
                            param: tag == gimli::DW_TAG_formal_parameter,
                            scope_origin: block.and_then(|b| b.origin),
                            ranges: block.map(|b| b.ranges.clone()).unwrap_or_default(),
                            location,
                        });
                    }
                    _ if is_type_tag(tag) => {
                        let size = entry
                            .attr_value(gimli::DW_AT_byte_size)
                            .and_then(|v| v.udata_value());
                        types.insert(
                            off,
                            RawType {
                                tag: tag.0,
                                name,
                                size,
                                target: type_ref,
                            },
                        );
                    }
                    _ => {}
                }
            }
        }
        for v in raw_vars {
            let (aname, atype) = v
                .origin
                .and_then(|o| var_dies.get(&o).cloned())
                .unwrap_or((None, None));
            let Some(name) = v.name.or(aname) else {
                continue;
            };
            let type_ref = v.type_ref.or(atype);
            let (type_name, type_size) = describe(&types, type_ref);
            let pointee = type_ref
                .and_then(|t| types.get(&t))
                .filter(|t| t.tag == gimli::DW_TAG_pointer_type.0)
                .and_then(|t| t.target)
                .map(|p| describe(&types, Some(p)));
            let Some(f) = funcs.get_mut(v.func) else {
                continue;
            };
            let scope = v
                .scope_origin
                .and_then(|o| sub_names.get(&o).cloned())
                .unwrap_or_else(|| f.name.clone());
            f.vars.push(VarInfo {
                name,
                param: v.param,
                type_name,
                type_size,
                pointee,
                scope,
                inlined: v.scope_origin.is_some(),
                ranges: v.ranges,
                location: v.location,
            });
        }
        funcs.retain(|f| !f.vars.is_empty());
        funcs.sort_by_key(|f| f.low);
        DwarfVars {
            funcs,
            at_pc: Default::default(),
        }
    }

    /// The variables that have a location at link-time `pc`, with it.
    pub fn vars_at(&self, pc: u64) -> Vec<(&VarInfo, &[u8])> {
        let cached = self.at_pc.lock().ok().and_then(|m| m.get(&pc).cloned());
        let hit = match cached {
            Some(h) => h,
            None => {
                let i = self.funcs.partition_point(|f| f.low <= pc);
                let Some(fi) = i.checked_sub(1).filter(|&fi| pc < self.funcs[fi].high) else {
                    return Vec::new();
                };
                let idx = self.funcs[fi]
                    .vars
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.expr_at(pc).is_some())
                    .map(|(k, _)| k)
                    .collect();
                let h = std::sync::Arc::new((fi, idx));
                if let Ok(mut m) = self.at_pc.lock() {
                    if m.len() < MAX_CACHED_PCS {
                        m.insert(pc, h.clone());
                    }
                }
                h
            }
        };
        let Some(f) = self.funcs.get(hit.0) else {
            return Vec::new();
        };
        hit.1
            .iter()
            .filter_map(|&k| {
                let v = f.vars.get(k)?;
                Some((v, v.expr_at(pc)?))
            })
            .collect()
    }

    /// The function containing link-time `pc`.
    pub fn func_at(&self, pc: u64) -> Option<&FuncVars> {
        let i = self.funcs.partition_point(|f| f.low <= pc);
        let f = self.funcs.get(i.checked_sub(1)?)?;
        (pc < f.high).then_some(f)
    }

    /// Number of functions with variables.
    pub fn len(&self) -> usize {
        self.funcs.len()
    }

    /// Whether no function has variables.
    pub fn is_empty(&self) -> bool {
        self.funcs.is_empty()
    }
}

fn is_type_tag(tag: gimli::DwTag) -> bool {
    matches!(
        tag,
        gimli::DW_TAG_structure_type
            | gimli::DW_TAG_base_type
            | gimli::DW_TAG_pointer_type
            | gimli::DW_TAG_typedef
            | gimli::DW_TAG_array_type
            | gimli::DW_TAG_subroutine_type
            | gimli::DW_TAG_unspecified_type
    )
}

/// Name and size of the type at `off`; typedefs (Go's chan and map types)
/// are followed for the size, bounded against cycles.
fn describe(types: &HashMap<usize, RawType>, off: Option<usize>) -> (String, u64) {
    let Some(mut cur) = off else {
        return ("?".into(), 0);
    };
    let name = types
        .get(&cur)
        .and_then(|t| t.name.clone())
        .unwrap_or_else(|| "?".into());
    for _ in 0..MAX_TYPE_CHAIN {
        let Some(t) = types.get(&cur) else { break };
        if t.tag == gimli::DW_TAG_pointer_type.0 {
            return (name, 8);
        }
        if let Some(size) = t.size {
            return (name, size);
        }
        match t.target {
            Some(next) => cur = next,
            None => break,
        }
    }
    (name, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, ranges: Vec<(u64, u64)>, location: Location) -> VarInfo {
        VarInfo {
            name: name.into(),
            param: false,
            type_name: "chan int".into(),
            type_size: 8,
            pointee: None,
            scope: "main.f".into(),
            inlined: false,
            ranges,
            location,
        }
    }

    #[test]
    fn vars_at_finds_the_function_and_its_live_variables() {
        let dv = DwarfVars {
            funcs: vec![FuncVars {
                low: 0x100,
                high: 0x200,
                name: "main.f".into(),
                vars: vec![
                    var("a", vec![], Location::Expr(vec![0x9c])),
                    var("b", vec![(0x180, 0x190)], Location::Expr(vec![0x91, 0x08])),
                    var(
                        "c",
                        vec![],
                        Location::List(vec![(0x100, 0x150, vec![0x50])]),
                    ),
                    var("d", vec![], Location::Expr(vec![])),
                ],
            }],
            at_pc: Default::default(),
        };
        let names = |pc| {
            dv.vars_at(pc)
                .iter()
                .map(|(v, _)| v.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(0x120), ["a", "c"]);
        assert_eq!(names(0x185), ["a", "b"]);
        assert_eq!(names(0x185), ["a", "b"]); // cached
        assert!(names(0x200).is_empty());
        assert!(names(0x50).is_empty());
    }

    #[test]
    fn expr_at_respects_scope_and_list_ranges() {
        let v = VarInfo {
            name: "s".into(),
            param: true,
            type_name: "*main.store".into(),
            type_size: 8,
            pointee: Some(("main.store".into(), 32)),
            scope: "main.(*store).flush".into(),
            inlined: false,
            ranges: vec![(0x100, 0x200)],
            location: Location::List(vec![(0x100, 0x120, vec![0x50]), (0x120, 0x200, vec![0x9c])]),
        };
        assert_eq!(v.expr_at(0x110), Some(&[0x50u8][..]));
        assert_eq!(v.expr_at(0x150), Some(&[0x9cu8][..]));
        assert_eq!(v.expr_at(0x250), None);
    }
}
