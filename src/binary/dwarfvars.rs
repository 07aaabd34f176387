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

use gimli::{AttributeValue, EndianSlice, LittleEndian};

use crate::binary::elf::Executable;

type Slice<'a> = EndianSlice<'a, LittleEndian>;

/// Bounds against corrupt DWARF.
const MAX_LOCLIST_ENTRIES: usize = 1024;
const MAX_RANGES: usize = 256;
const MAX_EXPR_OPS: usize = 64;
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
        let mut sections: HashMap<&'static str, Vec<u8>> = HashMap::new();
        for name in [
            ".debug_info",
            ".debug_abbrev",
            ".debug_str",
            ".debug_line_str",
            ".debug_str_offsets",
            ".debug_addr",
            ".debug_rnglists",
            ".debug_loclists",
            ".debug_ranges",
            ".debug_loc",
            // gimli reads each unit's line program header with the unit.
            ".debug_line",
        ] {
            if let Ok(Some(data)) = exe.section_decompressed(name) {
                sections.insert(name, data);
            }
        }
        if !sections.contains_key(".debug_info") {
            return None;
        }
        let empty: Vec<u8> = Vec::new();
        let load = |id: gimli::SectionId| -> Result<Slice<'_>, gimli::Error> {
            Ok(EndianSlice::new(
                sections.get(id.name()).unwrap_or(&empty),
                LittleEndian,
            ))
        };
        let dwarf = gimli::Dwarf::load(load).ok()?;
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

fn ref_offset(unit: &gimli::Unit<Slice<'_>>, v: AttributeValue<Slice<'_>>) -> Option<usize> {
    match v {
        AttributeValue::UnitRef(o) => o.to_debug_info_offset(&unit.header).map(|o| o.0),
        AttributeValue::DebugInfoRef(o) => Some(o.0),
        _ => None,
    }
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

/// Where one piece of a variable is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In memory at this address.
    Mem(u64),
    /// In a register (DWARF number) that is not known for the frame.
    Reg(u16),
    /// A computed value (DW_OP_stack_value), not in memory.
    Value(u64),
    /// Optimized out (an empty piece).
    None,
}

/// One piece of a variable: where it is and how many bytes (0 = the
/// whole variable, when the expression has no DW_OP_piece).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub place: Place,
    pub size: u64,
}

/// What a location expression may use: the frame's canonical frame address
/// (Go's frame base is DW_OP_call_frame_cfa) and its stack pointer.
#[derive(Debug, Clone, Copy)]
pub struct EvalFrame {
    pub cfa: u64,
    pub sp: Option<u64>,
    /// Added to static addresses (DW_OP_addr) of a PIE.
    pub bias: u64,
}

/// DWARF register number of rsp on amd64.
const REG_RSP: u16 = 7;

/// Evaluates the subset of DWARF location expressions that Go emits:
/// call_frame_cfa / fbreg with constant offsets, addr, breg of rsp, reg
/// (registers are not known, so such pieces are reported as `Reg`), piece
/// and stack_value. `None` for anything else or malformed input.
pub fn eval(expr: &[u8], fr: &EvalFrame) -> Option<Vec<Piece>> {
    let mut stack: Vec<u64> = Vec::new();
    let mut pieces = Vec::new();
    let mut reg: Option<u16> = None;
    let mut is_value = false;
    let mut r = Reader { b: expr, i: 0 };
    let mut ops = 0;
    while r.i < expr.len() {
        ops += 1;
        if ops > MAX_EXPR_OPS {
            return None;
        }
        let op = r.u8()?;
        match op {
            0x03 => stack.push(r.u64()?.wrapping_add(fr.bias)), // DW_OP_addr
            0x08 => stack.push(u64::from(r.u8()?)),             // const1u
            0x09 => stack.push(r.u8()? as i8 as i64 as u64),    // const1s
            0x0a => stack.push(u64::from(r.u16()?)),            // const2u
            0x0b => stack.push(r.u16()? as i16 as i64 as u64),  // const2s
            0x0c => stack.push(u64::from(r.u32()?)),            // const4u
            0x0d => stack.push(r.u32()? as i32 as i64 as u64),  // const4s
            0x0e | 0x0f => stack.push(r.u64()?),                // const8u/s
            0x10 => stack.push(r.uleb()?),                      // constu
            0x11 => stack.push(r.sleb()? as u64),               // consts
            0x1c => {
                // minus
                let b = stack.pop()?;
                let a = stack.pop()?;
                stack.push(a.wrapping_sub(b));
            }
            0x22 => {
                // plus
                let b = stack.pop()?;
                let a = stack.pop()?;
                stack.push(a.wrapping_add(b));
            }
            0x23 => {
                // plus_uconst
                let a = stack.pop()?;
                stack.push(a.wrapping_add(r.uleb()?));
            }
            0x30..=0x4f => stack.push(u64::from(op - 0x30)), // lit0..lit31
            0x50..=0x6f => reg = Some(u16::from(op - 0x50)), // reg0..reg31
            0x90 => reg = Some(u16::try_from(r.uleb()?).ok()?), // regx
            0x70..=0x8f => {
                // breg0..breg31: only rsp is known for a frame.
                let off = r.sleb()?;
                if u16::from(op - 0x70) != REG_RSP {
                    return None;
                }
                stack.push(fr.sp?.wrapping_add(off as u64));
            }
            0x91 => {
                // fbreg: Go's frame base is the CFA.
                let off = r.sleb()?;
                stack.push(fr.cfa.wrapping_add(off as u64));
            }
            0x9c => stack.push(fr.cfa), // call_frame_cfa
            0x9f => is_value = true,    // stack_value
            0x93 => {
                // piece
                let size = r.uleb()?;
                pieces.push(Piece {
                    place: take_place(&mut stack, &mut reg, &mut is_value),
                    size,
                });
            }
            _ => return None,
        }
    }
    if pieces.is_empty() {
        let place = take_place(&mut stack, &mut reg, &mut is_value);
        if place == Place::None {
            return None;
        }
        pieces.push(Piece { place, size: 0 });
    } else if !stack.is_empty() || reg.is_some() {
        // Trailing operations after the last piece: malformed.
        return None;
    }
    Some(pieces)
}

fn take_place(stack: &mut Vec<u64>, reg: &mut Option<u16>, is_value: &mut bool) -> Place {
    let p = if let Some(r) = reg.take() {
        Place::Reg(r)
    } else if let Some(v) = stack.pop() {
        if *is_value {
            Place::Value(v)
        } else {
            Place::Mem(v)
        }
    } else {
        Place::None
    };
    stack.clear();
    *is_value = false;
    p
}

/// A bounds-checked cursor over expression bytes.
struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.b.get(self.i..self.i + N)?;
        self.i += N;
        s.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take()?))
    }
    fn uleb(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn sleb(&mut self) -> Option<i64> {
        let mut v = 0i64;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            if shift < 64 {
                v |= i64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return Some(v);
            }
            if shift > 70 {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FR: EvalFrame = EvalFrame {
        cfa: 0xc000_1000,
        sp: Some(0xc000_0f00),
        bias: 0,
    };

    fn mem(a: u64, size: u64) -> Piece {
        Piece {
            place: Place::Mem(a),
            size,
        }
    }

    #[test]
    fn cfa_alone_is_the_first_argument_slot() {
        assert_eq!(eval(&[0x9c], &FR), Some(vec![mem(0xc000_1000, 0)]));
    }

    #[test]
    fn cfa_plus_consts_and_plus_uconst() {
        // DW_OP_call_frame_cfa; DW_OP_consts -24; DW_OP_plus
        assert_eq!(
            eval(&[0x9c, 0x11, 0x68, 0x22], &FR),
            Some(vec![mem(0xc000_1000 - 24, 0)])
        );
        // DW_OP_call_frame_cfa; DW_OP_plus_uconst 200 (uleb 0xc8 0x01)
        assert_eq!(
            eval(&[0x9c, 0x23, 0xc8, 0x01], &FR),
            Some(vec![mem(0xc000_1000 + 200, 0)])
        );
    }

    #[test]
    fn fbreg_and_breg_rsp() {
        // DW_OP_fbreg -8
        assert_eq!(eval(&[0x91, 0x78], &FR), Some(vec![mem(0xc000_0ff8, 0)]));
        // DW_OP_breg7 (rsp) +16
        assert_eq!(eval(&[0x77, 0x10], &FR), Some(vec![mem(0xc000_0f10, 0)]));
        // DW_OP_breg0 (rax): unknown register
        assert_eq!(eval(&[0x70, 0x10], &FR), None);
        let no_sp = EvalFrame { sp: None, ..FR };
        assert_eq!(eval(&[0x77, 0x10], &no_sp), None);
    }

    #[test]
    fn pieces_in_memory_and_registers() {
        // cfa; piece 8; fbreg 8; piece 8  (a string split in two slots)
        assert_eq!(
            eval(&[0x9c, 0x93, 0x08, 0x91, 0x08, 0x93, 0x08], &FR),
            Some(vec![mem(0xc000_1000, 8), mem(0xc000_1008, 8)])
        );
        // reg0; piece 8; reg3; piece 8
        assert_eq!(
            eval(&[0x50, 0x93, 0x08, 0x53, 0x93, 0x08], &FR),
            Some(vec![
                Piece {
                    place: Place::Reg(0),
                    size: 8
                },
                Piece {
                    place: Place::Reg(3),
                    size: 8
                },
            ])
        );
        // An empty piece is optimized out.
        assert_eq!(
            eval(&[0x93, 0x08, 0x9c, 0x93, 0x08], &FR),
            Some(vec![
                Piece {
                    place: Place::None,
                    size: 8
                },
                mem(0xc000_1000, 8)
            ])
        );
    }

    #[test]
    fn addr_is_biased_and_stack_value_is_no_memory() {
        let pie = EvalFrame { bias: 0x1000, ..FR };
        let mut e = vec![0x03];
        e.extend_from_slice(&0x50_0000u64.to_le_bytes());
        assert_eq!(eval(&e, &pie), Some(vec![mem(0x50_1000, 0)]));
        assert_eq!(
            eval(&[0x35, 0x9f], &FR),
            Some(vec![Piece {
                place: Place::Value(5),
                size: 0
            }])
        );
    }

    #[test]
    fn malformed_input_gives_nothing() {
        assert_eq!(eval(&[], &FR), None);
        assert_eq!(eval(&[0x91], &FR), None); // truncated sleb
        assert_eq!(eval(&[0x22], &FR), None); // plus on an empty stack
        assert_eq!(eval(&[0xff], &FR), None); // unsupported op
        assert_eq!(
            eval(
                &[0x91, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80],
                &FR
            ),
            None
        );
        assert_eq!(eval(&[0x9c; 100], &FR), None); // too many ops
    }

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
