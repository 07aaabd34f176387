//! Go types built from runtime type descriptors (`abi.Type` in target
//! memory) for dynamic types the DWARF lacks: the linker emits DWARF for
//! types the program names statically, so a type only ever stored in an
//! interface (go1.27 prunes these) has a descriptor but no DIE.
//!
//! Covers what descriptors describe completely: basic kinds, strings,
//! pointers, slices, arrays, structs, funcs, chans and interfaces. Maps
//! need the linker-synthesized header types, so a map only known from its
//! descriptor decodes to an error marker.

use crate::goruntime::typedesc::{read_name, type_name};
use crate::values::decode::Decoder;
use crate::values::types::{Field, GoType, Kind, TypeId};

// abi.Type and its kind-specific extensions (identical in go1.21–1.27,
// see goruntime::typedesc).
const TYPE_SIZE: u64 = 0;
const TYPE_KIND: u64 = 23;
const ELEM: u64 = 48;
const ARRAY_LEN: u64 = 64;
const STRUCT_FIELDS: u64 = 56;
const IFACE_METHODS: u64 = 56;
const FIELD_SIZE: u64 = 24;
/// abi.Name flag: the struct field is embedded.
const NAME_EMBEDDED: u8 = 1 << 3;
/// Bounds against corrupt descriptors.
const MAX_FIELDS: u64 = 4096;
const MAX_NESTING: usize = 32;

/// The type for the descriptor at runtime address `rtype`: DWARF's if it
/// has one, else one built from the descriptor.
pub fn type_for(d: &Decoder<'_>, rtype: u64) -> Option<TypeId> {
    lookup(d, rtype, 0)
}

fn lookup(d: &Decoder<'_>, rtype: u64, nesting: usize) -> Option<TypeId> {
    if rtype == 0 || nesting > MAX_NESTING {
        return None;
    }
    let link = rtype.wrapping_sub(d.bias);
    if let Some(t) = d.types.by_runtime_type(link) {
        return Some(t);
    }
    if let Some(t) = d.types.extra_by_rtype(link) {
        return Some(t);
    }
    let name = type_name(d.mem, d.types_base, rtype).ok()?;
    if let Some(t) = d.types.by_name(&name) {
        return Some(t);
    }
    let kind_byte = d.mem.read_u8(rtype + TYPE_KIND).ok()? & 0x1f;
    let size = d.mem.read_u64(rtype + TYPE_SIZE).ok()?;
    let id = d.types.reserve_extra(link);
    let mut t = GoType {
        name,
        kind: Kind::Other,
        size,
        target: None,
        elem: None,
        key: None,
        count: 0,
        fields: Vec::new(),
        signed: (2..=6).contains(&kind_byte),
        nonempty_iface: false,
    };
    let elem = |off: u64| -> Option<TypeId> {
        let e = d.mem.read_u64(rtype + off).ok()?;
        lookup(d, e, nesting + 1)
    };
    t.kind = match kind_byte {
        1 => Kind::Bool,
        2..=6 => Kind::Int,
        7..=12 => Kind::Uint,
        13 | 14 => Kind::Float,
        15 | 16 => Kind::Complex,
        24 => Kind::String,
        26 => Kind::UnsafePointer,
        19 => Kind::Func,
        18 => Kind::Chan,
        22 => {
            t.target = elem(ELEM);
            Kind::Pointer
        }
        23 => {
            t.elem = elem(ELEM);
            Kind::Slice
        }
        17 => {
            t.elem = elem(ELEM);
            t.count = d.mem.read_u64(rtype + ARRAY_LEN).unwrap_or(0);
            Kind::Array
        }
        20 => {
            let n = d.mem.read_u64(rtype + IFACE_METHODS + 8).unwrap_or(0);
            t.nonempty_iface = n > 0;
            Kind::Interface
        }
        25 => {
            let fields = d.mem.read_u64(rtype + STRUCT_FIELDS).unwrap_or(0);
            let n = d.mem.read_u64(rtype + STRUCT_FIELDS + 8).unwrap_or(0);
            if n <= MAX_FIELDS {
                for i in 0..n {
                    let f = fields + i * FIELD_SIZE;
                    let (Ok(np), Ok(ft), Ok(off)) = (
                        d.mem.read_u64(f),
                        d.mem.read_u64(f + 8),
                        d.mem.read_u64(f + 16),
                    ) else {
                        continue;
                    };
                    let (Ok(fname), Some(fty)) = (read_name(d.mem, np), lookup(d, ft, nesting + 1))
                    else {
                        continue;
                    };
                    let embedded = d.mem.read_u8(np).is_ok_and(|b| b & NAME_EMBEDDED != 0);
                    t.fields.push(Field {
                        name: fname,
                        offset: off,
                        ty: fty,
                        embedded,
                    });
                }
            }
            Kind::Struct
        }
        // Maps need the linker's synthesized header types (see above).
        _ => Kind::Other,
    };
    if t.kind == Kind::Chan {
        // Chans decode through hchan<T>; without it only the pointer is
        // known, which is what fmt prints.
        t.kind = Kind::UnsafePointer;
    }
    d.types.fill_extra(id, t);
    Some(id)
}
