//! The Go type graph from the executable's DWARF: every type DIE the Go
//! linker emits (base types, strings, slices, arrays, structs, pointers,
//! maps, chans, funcs, interfaces, named types), addressable by Go name,
//! by DWARF offset and by the address of its runtime type descriptor
//! (`DW_AT_go_runtime_type`), which is how an interface's dynamic type is
//! found without guessing from names.
//!
//! Kept apart from `binary::dwarf` (struct layouts for the runtime walker):
//! values need the whole graph, including the linker-synthesized map and
//! chan internals (`hash<K,V>`, `map<K,V>`, `hchan<T>`).

use std::collections::HashMap;

use gimli::AttributeValue;

use crate::binary::dwarf::{ref_offset, DwarfSections};
use crate::binary::elf::Executable;
use crate::error::{Error, Result};

/// Go's own DWARF attributes (cmd/internal/dwarf).
const DW_AT_GO_KIND: u16 = 0x2900;
const DW_AT_GO_KEY: u16 = 0x2901;
const DW_AT_GO_ELEM: u16 = 0x2902;
const DW_AT_GO_EMBEDDED_FIELD: u16 = 0x2903;
const DW_AT_GO_RUNTIME_TYPE: u16 = 0x2904;

/// Index of a type in [`TypeGraph`].
pub type TypeId = usize;

/// What a type is, as Go sees it (abi.Kind, with named types resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    Complex,
    String,
    Pointer,
    UnsafePointer,
    Slice,
    Array,
    Struct,
    Map,
    Chan,
    Func,
    Interface,
    /// A DIE we do not decode (unspecified type, C types).
    Other,
}

/// A struct field.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub offset: u64,
    pub ty: TypeId,
    pub embedded: bool,
}

/// One Go type.
#[derive(Debug, Clone)]
pub struct GoType {
    pub name: String,
    pub kind: Kind,
    pub size: u64,
    /// Pointer: pointee. Array: element. Map: the `*hash<K,V>` /
    /// `*map<K,V>` header pointer. Chan: `*hchan<T>`. Interface:
    /// `runtime.eface`/`runtime.iface`.
    pub target: Option<TypeId>,
    /// Slice/array/chan/map element (map: value).
    pub elem: Option<TypeId>,
    /// Map key.
    pub key: Option<TypeId>,
    /// Array length.
    pub count: u64,
    pub fields: Vec<Field>,
    /// Signed integer (base types).
    pub signed: bool,
    /// Interface with methods (an `iface`, not an `eface`).
    pub nonempty_iface: bool,
}

impl GoType {
    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Every Go type of a binary.
#[derive(Debug, Default)]
pub struct TypeGraph {
    types: Vec<GoType>,
    by_name: HashMap<String, TypeId>,
    by_rtype: HashMap<u64, TypeId>,
    /// Package-level variable → type.
    vars: HashMap<String, TypeId>,
    /// .debug_info offset of the DIE → type (for variables whose DIEs
    /// others read, e.g. locals).
    by_offset: HashMap<usize, TypeId>,
    /// Types built from runtime type descriptors for dynamic types the
    /// DWARF lacks (the linker omits types only reached through
    /// interfaces). Append-only; ids continue after `types`. Entries are
    /// leaked so references stay valid while the table grows; bounded by
    /// the number of distinct types in the binary.
    extra: std::sync::Mutex<Vec<Option<&'static GoType>>>,
    /// Link-time descriptor address → id among `extra`.
    extra_by_rtype: std::sync::Mutex<HashMap<u64, TypeId>>,
}

struct Raw {
    tag: gimli::DwTag,
    name: String,
    size: Option<u64>,
    go_kind: Option<u64>,
    encoding: Option<u64>,
    target: Option<usize>,
    elem: Option<usize>,
    key: Option<usize>,
    count: Option<u64>,
    rtype: Option<u64>,
    fields: Vec<(String, u64, Option<usize>, bool)>,
}

impl TypeGraph {
    /// Reads every type DIE of `exe`. `Ok(None)` without DWARF.
    pub fn load(exe: &Executable) -> Result<Option<Self>> {
        let Some(sections) = DwarfSections::read(exe)? else {
            return Ok(None);
        };
        let dwarf = sections.dwarf()?;
        let mut raw: HashMap<usize, Raw> = HashMap::new();
        let mut order: Vec<usize> = Vec::new();
        let mut vars: Vec<(String, usize)> = Vec::new();
        let mut units = dwarf.units();
        while let Some(header) = units.next().map_err(dwarf_err)? {
            let unit = dwarf.unit(header).map_err(dwarf_err)?;
            let mut entries = unit.entries();
            // The type DIE whose children (members, subrange) we are in.
            let mut parent: Option<(usize, isize)> = None;
            while let Some(entry) = entries.next_dfs().map_err(dwarf_err)? {
                let depth = entry.depth();
                if matches!(parent, Some((_, d)) if depth <= d) {
                    parent = None;
                }
                let Some(off) = entry.offset().to_debug_info_offset(&unit.header) else {
                    continue;
                };
                let name = entry
                    .attr_value(gimli::DW_AT_name)
                    .and_then(|v| dwarf.attr_string(&unit, v).ok())
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let r = |at: u16| {
                    entry
                        .attr_value(gimli::DwAt(at))
                        .and_then(|v| ref_offset(&unit, v))
                };
                let u = |at: u16| {
                    entry
                        .attr_value(gimli::DwAt(at))
                        .and_then(|v| v.udata_value())
                };
                let tag = entry.tag();
                match tag {
                    // Package-level variables are the unit's children.
                    gimli::DW_TAG_variable if depth == 1 && !name.is_empty() => {
                        if let Some(ty) = r(gimli::DW_AT_type.0) {
                            vars.push((name, ty));
                        }
                    }
                    gimli::DW_TAG_member => {
                        if let Some((p, _)) = parent {
                            let loc = u(gimli::DW_AT_data_member_location.0).unwrap_or(0);
                            // Go writes the flag on every member, 0 when not embedded.
                            let embedded =
                                match entry.attr_value(gimli::DwAt(DW_AT_GO_EMBEDDED_FIELD)) {
                                    Some(AttributeValue::Flag(f)) => f,
                                    Some(v) => v.udata_value().unwrap_or(0) != 0,
                                    None => false,
                                };
                            if let Some(t) = raw.get_mut(&p) {
                                t.fields.push((name, loc, r(gimli::DW_AT_type.0), embedded));
                            }
                        }
                    }
                    gimli::DW_TAG_subrange_type => {
                        if let Some((p, _)) = parent {
                            if let Some(t) = raw.get_mut(&p) {
                                t.count = u(gimli::DW_AT_count.0).or(t.count);
                            }
                        }
                    }
                    gimli::DW_TAG_structure_type
                    | gimli::DW_TAG_base_type
                    | gimli::DW_TAG_pointer_type
                    | gimli::DW_TAG_typedef
                    | gimli::DW_TAG_array_type
                    | gimli::DW_TAG_subroutine_type
                    | gimli::DW_TAG_unspecified_type => {
                        let rtype = match entry.attr_value(gimli::DwAt(DW_AT_GO_RUNTIME_TYPE)) {
                            Some(AttributeValue::Addr(a)) => Some(a),
                            Some(v) => v.udata_value(),
                            None => None,
                        }
                        .filter(|&a| a != 0);
                        raw.insert(
                            off.0,
                            Raw {
                                tag,
                                name,
                                size: u(gimli::DW_AT_byte_size.0),
                                // Synthesized DIEs (map/chan internals) carry kind 0.
                                go_kind: u(DW_AT_GO_KIND).filter(|&k| k != 0),
                                encoding: match entry.attr_value(gimli::DW_AT_encoding) {
                                    Some(AttributeValue::Encoding(e)) => Some(u64::from(e.0)),
                                    Some(v) => v.udata_value(),
                                    None => None,
                                },
                                target: r(gimli::DW_AT_type.0),
                                elem: r(DW_AT_GO_ELEM),
                                key: r(DW_AT_GO_KEY),
                                count: None,
                                rtype,
                                fields: Vec::new(),
                            },
                        );
                        order.push(off.0);
                        if matches!(tag, gimli::DW_TAG_structure_type | gimli::DW_TAG_array_type) {
                            parent = Some((off.0, depth));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(Some(Self::build(raw, order, vars)))
    }

    fn build(raw: HashMap<usize, Raw>, order: Vec<usize>, vars: Vec<(String, usize)>) -> Self {
        let index: HashMap<usize, TypeId> =
            order.iter().enumerate().map(|(i, o)| (*o, i)).collect();
        let id = |o: Option<usize>| o.and_then(|o| index.get(&o).copied());
        let mut g = TypeGraph::default();
        for off in &order {
            let t = &raw[off];
            g.types.push(GoType {
                name: t.name.clone(),
                kind: Kind::Other,
                size: t.size.unwrap_or(0),
                target: id(t.target),
                elem: id(t.elem),
                key: id(t.key),
                count: t.count.unwrap_or(0),
                fields: t
                    .fields
                    .iter()
                    .filter_map(|(n, o, ty, e)| {
                        Some(Field {
                            name: n.clone(),
                            offset: *o,
                            ty: id(*ty)?,
                            embedded: *e,
                        })
                    })
                    .collect(),
                signed: t.encoding == Some(u64::from(gimli::DW_ATE_signed.0)),
                nonempty_iface: false,
            });
        }
        // Kinds: Go's own DW_AT_go_kind where present (abi.Kind), else the
        // DWARF tag. Typedefs of a named type take the kind of what they
        // name (resolved after all DIEs are known).
        for (i, off) in order.iter().enumerate() {
            let t = &raw[off];
            let kind = match t.go_kind {
                Some(k) => kind_of_abi(k),
                None => match t.tag {
                    gimli::DW_TAG_pointer_type => Kind::Pointer,
                    gimli::DW_TAG_array_type => Kind::Array,
                    gimli::DW_TAG_structure_type => Kind::Struct,
                    gimli::DW_TAG_subroutine_type => Kind::Func,
                    gimli::DW_TAG_base_type => match t.encoding.map(|e| e as u8) {
                        Some(e) if e == gimli::DW_ATE_boolean.0 => Kind::Bool,
                        Some(e) if e == gimli::DW_ATE_signed.0 => Kind::Int,
                        Some(e) if e == gimli::DW_ATE_float.0 => Kind::Float,
                        Some(e) if e == gimli::DW_ATE_complex_float.0 => Kind::Complex,
                        _ => Kind::Uint,
                    },
                    _ => Kind::Other,
                },
            };
            g.types[i].kind = kind;
        }
        // Plain typedefs (no go_kind): the typedef Go emits in front of a
        // named struct/pointer/slice/iface. Resolve them to their target's
        // kind and layout so callers never see the indirection.
        for (i, &off) in order.iter().enumerate() {
            if raw[&off].tag != gimli::DW_TAG_typedef || raw[&off].go_kind.is_some() {
                continue;
            }
            if let Some(t) = g.resolve_typedef(i) {
                if t != i {
                    let mut copy = g.types[t].clone();
                    copy.name = g.types[i].name.clone();
                    g.types[i] = copy;
                }
            }
        }
        for i in 0..g.types.len() {
            // An interface DIE is a typedef of its runtime representation:
            // runtime.iface (with methods: itab first) or runtime.eface.
            if g.types[i].kind == Kind::Interface {
                let rep = g.types[i].target.map(|t| g.types[t].name.clone());
                g.types[i].nonempty_iface = rep.as_deref() == Some("runtime.iface");
                if let Some(t) = g.types[i].target {
                    g.types[i].size = g.types[t].size;
                }
            }
            if matches!(
                g.types[i].kind,
                Kind::Map | Kind::Chan | Kind::Pointer | Kind::Func | Kind::UnsafePointer
            ) {
                g.types[i].size = 8;
            }
        }
        for (i, off) in order.iter().enumerate() {
            let t = &raw[off];
            if t.name.is_empty() {
                continue;
            }
            // Prefer the defining DIE over the typedef in front of it.
            let is_typedef = t.tag == gimli::DW_TAG_typedef && t.go_kind.is_none();
            match g.by_name.get(&t.name) {
                Some(_) if is_typedef => {}
                _ => {
                    g.by_name.insert(t.name.clone(), i);
                }
            }
            if let Some(rt) = t.rtype {
                g.by_rtype.insert(rt, i);
            }
        }
        for (name, off) in vars {
            if let Some(&t) = index.get(&off) {
                g.vars.insert(name, t);
            }
        }
        g.by_offset = index;
        g
    }

    fn resolve_typedef(&self, mut i: TypeId) -> Option<TypeId> {
        // Bounded: typedef chains are short; corrupt DWARF must not loop.
        for _ in 0..8 {
            let t = &self.types[i];
            if t.kind != Kind::Other {
                return Some(i);
            }
            i = t.target?;
        }
        None
    }

    /// A type by id.
    pub fn get(&self, id: TypeId) -> &GoType {
        static UNKNOWN: GoType = GoType {
            name: String::new(),
            kind: Kind::Other,
            size: 0,
            target: None,
            elem: None,
            key: None,
            count: 0,
            fields: Vec::new(),
            signed: false,
            nonempty_iface: false,
        };
        if let Some(t) = self.types.get(id) {
            return t;
        }
        let extra = self.extra.lock().unwrap_or_else(|e| e.into_inner());
        extra
            .get(id - self.types.len())
            .copied()
            .flatten()
            .unwrap_or(&UNKNOWN)
    }

    /// Reserves an id for a type built from a runtime descriptor (so that
    /// recursive types can refer to themselves before they are complete).
    pub(crate) fn reserve_extra(&self, rtype: u64) -> TypeId {
        let mut extra = self.extra.lock().unwrap_or_else(|e| e.into_inner());
        let id = self.types.len() + extra.len();
        extra.push(None);
        self.extra_by_rtype
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(rtype, id);
        id
    }

    /// Completes a reserved id.
    pub(crate) fn fill_extra(&self, id: TypeId, t: GoType) {
        let mut extra = self.extra.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = extra.get_mut(id - self.types.len()) {
            *slot = Some(Box::leak(Box::new(t)));
        }
    }

    /// A type already built from the descriptor at link-time `rtype`.
    pub(crate) fn extra_by_rtype(&self, rtype: u64) -> Option<TypeId> {
        self.extra_by_rtype
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&rtype)
            .copied()
    }

    /// A type by Go name ("main.Item", "map[string]int", "*main.T").
    pub fn by_name(&self, name: &str) -> Option<TypeId> {
        self.by_name.get(name).copied()
    }

    /// The type whose runtime descriptor (abi.Type) is at `addr` (an
    /// unrelocated link-time address).
    pub fn by_runtime_type(&self, addr: u64) -> Option<TypeId> {
        self.by_rtype.get(&addr).copied()
    }

    /// The type whose DIE is at `.debug_info` offset `off` (what a
    /// variable's DW_AT_type refers to).
    pub fn by_dwarf_offset(&self, off: usize) -> Option<TypeId> {
        self.by_offset.get(&off).copied()
    }

    /// The type of a package-level variable ("main.catalog").
    pub fn var(&self, name: &str) -> Option<TypeId> {
        self.vars.get(name).copied()
    }

    /// Whether a value of `id` is stored directly in an interface's data
    /// word (Go's isdirectiface: pointer-shaped types, and structs/arrays
    /// made of exactly one such thing).
    pub fn is_direct_iface(&self, id: TypeId) -> bool {
        let t = self.get(id);
        match t.kind {
            Kind::Pointer | Kind::UnsafePointer | Kind::Map | Kind::Chan | Kind::Func => true,
            Kind::Array => t.count == 1 && t.elem.is_some_and(|e| self.is_direct_iface(e)),
            Kind::Struct => t.fields.len() == 1 && self.is_direct_iface(t.fields[0].ty),
            _ => false,
        }
    }

    /// A graph of the given types, ids being their indexes (tests).
    #[cfg(test)]
    pub(crate) fn from_types(types: Vec<GoType>) -> Self {
        let by_name = types
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        TypeGraph {
            types,
            by_name,
            ..Default::default()
        }
    }

    /// Number of types.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

/// abi.Kind → [`Kind`].
fn kind_of_abi(k: u64) -> Kind {
    match k & 0x1f {
        1 => Kind::Bool,
        2..=6 => Kind::Int,
        7..=12 => Kind::Uint,
        13 | 14 => Kind::Float,
        15 | 16 => Kind::Complex,
        17 => Kind::Array,
        18 => Kind::Chan,
        19 => Kind::Func,
        20 => Kind::Interface,
        21 => Kind::Map,
        22 => Kind::Pointer,
        23 => Kind::Slice,
        24 => Kind::String,
        25 => Kind::Struct,
        26 => Kind::UnsafePointer,
        _ => Kind::Other,
    }
}

fn dwarf_err(e: gimli::Error) -> Error {
    Error::Layout(format!("reading DWARF types: {e}"))
}
