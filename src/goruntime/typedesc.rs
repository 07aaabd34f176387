//! Struct layouts from the runtime type descriptors (`abi.Type`) a Go
//! binary carries even when stripped: a pointer type `*runtime.g` leads to
//! the struct type `runtime.g`, whose `abi.StructType` lists field names,
//! types and offsets. These describe the binary's real layout (whatever
//! GOEXPERIMENTs it was built with), so they take precedence over the
//! built-in tables for the structs they cover.

use std::collections::HashMap;

use crate::binary::dwarf::{DwarfTypes, Member, StructType};
use crate::error::{Error, Result};
use crate::goruntime::layout::LayoutSource;
use crate::memory::Memory;

/// abi.Kind values.
const KIND_PTR: u8 = 22;
const KIND_STRUCT: u8 = 25;
const KIND_MASK: u8 = 0x1f;
/// abi.TFlagExtraStar.
const TFLAG_EXTRA_STAR: u8 = 1 << 1;
/// Bounds against corrupt descriptors.
const MAX_FIELDS: u64 = 4096;
const MAX_STRUCTS: usize = 4096;

// abi.Type / PtrType / StructType / StructField offsets, identical in
// go1.21–1.27 (checked against each release's DWARF in the layout tables).
const TYPE_SIZE: u64 = 0;
const TYPE_TFLAG: u64 = 20;
const TYPE_KIND: u64 = 23;
const TYPE_STR: u64 = 40;
const PTR_ELEM: u64 = 48;
const STRUCT_FIELDS: u64 = 56;
const FIELD_SIZE: u64 = 24;

/// Reads an `abi.Name` (flags byte, uvarint length, bytes) at `addr`.
pub fn read_name(mem: &dyn Memory, addr: u64) -> Result<String> {
    let mut hdr = [0u8; 4];
    mem.read_partial(addr, &mut hdr)?;
    let (mut len, mut shift, mut i) = (0usize, 0u32, 1usize);
    while i < hdr.len() {
        len |= usize::from(hdr[i] & 0x7f) << shift;
        shift += 7;
        i += 1;
        if hdr[i - 1] & 0x80 == 0 {
            break;
        }
    }
    if len > 4096 {
        return Err(Error::Corrupt(format!(
            "name at {addr:#x} has length {len}"
        )));
    }
    let mut buf = vec![0u8; len];
    mem.read_exact(addr + i as u64, &mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The Go name of the type descriptor at `typ` (`types` is moduledata.types).
pub fn type_name(mem: &dyn Memory, types: u64, typ: u64) -> Result<String> {
    let str_off = mem.read_u32(typ + TYPE_STR)?;
    let tflag = mem.read_u8(typ + TYPE_TFLAG)?;
    let mut s = read_name(mem, types + u64::from(str_off))?;
    if tflag & TFLAG_EXTRA_STAR != 0 && s.starts_with('*') {
        s.remove(0);
    }
    Ok(s)
}

/// Struct layouts recovered from type descriptors.
pub struct TypeDescriptors {
    types: DwarfTypes,
}

impl TypeDescriptors {
    /// Finds the struct types named in `wanted` (and the struct types of
    /// their fields) among the descriptors in `[types, etypes)`.
    pub fn load(mem: &dyn Memory, types: u64, etypes: u64, wanted: &[&str]) -> Result<Self> {
        if etypes <= types || etypes - types > 512 << 20 {
            return Err(Error::Corrupt(format!(
                "moduledata types range {types:#x}..{etypes:#x}"
            )));
        }
        let mut region = vec![0u8; (etypes - types) as usize];
        let n = mem.read_partial(types, &mut region)?;
        region.truncate(n);
        // The name records: flags byte, uvarint length, "*runtime.g".
        let mut name_offs: HashMap<u32, String> = HashMap::new();
        for w in wanted.iter().filter(|w| !w.starts_with("var ")) {
            let star = format!("*{w}");
            let mut pat = vec![star.len() as u8];
            pat.extend_from_slice(star.as_bytes());
            let mut from = 0;
            while let Some(pos) = find(&region[from..], &pat) {
                let at = from + pos;
                if at >= 1 {
                    name_offs.insert((at - 1) as u32, w.to_string());
                }
                from = at + 1;
            }
        }
        // Descriptors (8-aligned) whose Str is one of those names.
        let mut roots: Vec<u64> = Vec::new();
        let mut off = 0usize;
        while off + 48 <= region.len() {
            let str_off =
                u32::from_le_bytes(region[off + 40..off + 44].try_into().unwrap_or([0; 4]));
            if name_offs.contains_key(&str_off) {
                let kind = region[off + 23] & KIND_MASK;
                let addr = types + off as u64;
                match kind {
                    KIND_STRUCT => roots.push(addr),
                    KIND_PTR => {
                        if let Ok(elem) = mem.read_u64(addr + PTR_ELEM) {
                            roots.push(elem);
                        }
                    }
                    _ => {}
                }
            }
            off += 8;
        }
        let mut structs: HashMap<String, StructType> = HashMap::new();
        let mut todo = roots;
        while let Some(t) = todo.pop() {
            if structs.len() >= MAX_STRUCTS {
                break;
            }
            let Ok(kind) = mem.read_u8(t + TYPE_KIND) else {
                continue;
            };
            if kind & KIND_MASK != KIND_STRUCT {
                continue;
            }
            let Ok(name) = type_name(mem, types, t) else {
                continue;
            };
            if structs.contains_key(&name) {
                continue;
            }
            let Ok(st) = read_struct(mem, types, t, &name, &mut todo) else {
                continue;
            };
            structs.insert(name, st);
        }
        Ok(TypeDescriptors {
            types: DwarfTypes::from_structs(structs.into_values()),
        })
    }

    /// Whether the descriptors describe a struct.
    pub fn has(&self, ty: &str) -> bool {
        self.types.get(ty).is_some()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes one struct descriptor; queues the struct types of its fields.
fn read_struct(
    mem: &dyn Memory,
    types: u64,
    t: u64,
    name: &str,
    todo: &mut Vec<u64>,
) -> Result<StructType> {
    let size = mem.read_u64(t + TYPE_SIZE)?;
    let fields = mem.read_u64(t + STRUCT_FIELDS)?;
    let nfields = mem.read_u64(t + STRUCT_FIELDS + 8)?;
    if nfields > MAX_FIELDS {
        return Err(Error::Corrupt(format!(
            "struct {name} has {nfields} fields"
        )));
    }
    let mut members = Vec::with_capacity(nfields as usize);
    for i in 0..nfields {
        let f = fields + i * FIELD_SIZE;
        let fname_ptr = mem.read_u64(f)?;
        let ftyp = mem.read_u64(f + 8)?;
        let offset = mem.read_u64(f + 16)?;
        let fname = read_name(mem, fname_ptr)?;
        let ftype_name = type_name(mem, types, ftyp)?;
        let fsize = mem.read_u64(ftyp + TYPE_SIZE)?;
        if mem.read_u8(ftyp + TYPE_KIND)? & KIND_MASK == KIND_STRUCT {
            todo.push(ftyp);
        }
        members.push(Member {
            name: fname,
            offset,
            type_name: ftype_name,
            size: fsize,
        });
    }
    Ok(StructType {
        name: name.to_string(),
        size,
        members,
    })
}

impl LayoutSource for TypeDescriptors {
    fn struct_size(&self, ty: &str) -> Option<u64> {
        self.types.struct_size(ty)
    }
    fn member(&self, ty: &str, name: &str) -> Option<(u64, u64, String)> {
        self.types.member(ty, name)
    }
    fn describe(&self) -> &'static str {
        "type descriptors"
    }
    fn member_names(&self, ty: &str) -> Vec<String> {
        LayoutSource::member_names(&self.types, ty)
    }
}

/// Type descriptors first, the built-in table for structs they lack.
pub struct Layered<A: LayoutSource, B: LayoutSource> {
    pub primary: A,
    pub fallback: B,
}

impl<B: LayoutSource> LayoutSource for Layered<TypeDescriptors, B> {
    fn struct_size(&self, ty: &str) -> Option<u64> {
        if self.primary.has(ty) {
            self.primary.struct_size(ty)
        } else {
            self.fallback.struct_size(ty)
        }
    }
    fn member(&self, ty: &str, name: &str) -> Option<(u64, u64, String)> {
        if self.primary.has(ty) {
            self.primary.member(ty, name)
        } else {
            self.fallback.member(ty, name)
        }
    }
    fn describe(&self) -> &'static str {
        "type descriptors + built-in table (no DWARF)"
    }
    fn member_names(&self, ty: &str) -> Vec<String> {
        if self.primary.has(ty) {
            self.primary.member_names(ty)
        } else {
            self.fallback.member_names(ty)
        }
    }
}
