//! Struct layouts from the executable's DWARF (gimli). Only types are
//! read; the result is an owned table keyed by Go type name so callers look
//! fields up by name and never hard-code offsets.

use std::collections::HashMap;

use gimli::{AttributeValue, EndianSlice, LittleEndian};

use crate::binary::elf::Executable;
use crate::error::{Error, Result};

/// Globals whose struct layout is kept under the key "var NAME".
const GLOBALS_WITH_STRUCT_TYPES: &[&str] = &["runtime.debug"];

/// A struct member.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub offset: u64,
    /// Go name of the member's type ("uint32", "*runtime.g", "runtime.gobuf").
    pub type_name: String,
    /// Size of the member's type in bytes.
    pub size: u64,
}

/// A struct type.
#[derive(Debug, Clone)]
pub struct StructType {
    pub name: String,
    pub size: u64,
    pub members: Vec<Member>,
}

impl StructType {
    /// A member by name.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

#[derive(Debug, Default, Clone)]
struct RawType {
    tag: u16,
    name: Option<String>,
    size: Option<u64>,
    target: Option<usize>,
    members: Vec<(String, u64, Option<usize>)>,
}

/// The struct types of a binary, by Go name.
#[derive(Debug, Default)]
pub struct DwarfTypes {
    structs: HashMap<String, StructType>,
    /// Package-level variable name → its type's Go name.
    var_types: HashMap<String, String>,
}

impl DwarfTypes {
    /// Reads struct types from `exe`'s DWARF, keeping those whose name
    /// passes `keep`. Returns `Ok(None)` when the binary has no DWARF.
    pub fn load(exe: &Executable, keep: impl Fn(&str) -> bool) -> Result<Option<Self>> {
        let Some(sections) = DwarfSections::read(exe)? else {
            return Ok(None);
        };
        let dwarf = sections.dwarf()?;
        let mut raw: HashMap<usize, RawType> = HashMap::new();
        let mut globals: Vec<(String, usize)> = Vec::new();
        let mut var_refs: Vec<(String, usize)> = Vec::new();
        let mut units = dwarf.units();
        while let Some(header) = units.next().map_err(dwarf_err)? {
            let unit = dwarf.unit(header).map_err(dwarf_err)?;
            let mut entries = unit.entries();
            let mut current_struct: Option<usize> = None;
            let mut struct_depth = 0isize;
            while let Some(entry) = entries.next_dfs().map_err(dwarf_err)? {
                let depth = entry.depth();
                if current_struct.is_some() && depth <= struct_depth {
                    current_struct = None;
                }
                let Some(off) = entry.offset().to_debug_info_offset(&unit.header) else {
                    continue;
                };
                let off = off.0;
                let tag = entry.tag();
                let name = match entry.attr_value(gimli::DW_AT_name) {
                    Some(v) => dwarf
                        .attr_string(&unit, v)
                        .ok()
                        .map(|s| s.to_string_lossy().into_owned()),
                    None => None,
                };
                let type_ref = entry
                    .attr_value(gimli::DW_AT_type)
                    .and_then(|v| ref_offset(&unit, v));
                match tag {
                    gimli::DW_TAG_variable => {
                        if let (Some(n), Some(ty)) = (name.as_deref(), type_ref) {
                            // Globals whose (often anonymous) struct type we need.
                            if GLOBALS_WITH_STRUCT_TYPES.contains(&n) {
                                globals.push((n.to_string(), ty));
                            }
                            // Package-level variables (children of the unit),
                            // for naming objects by the global that holds them.
                            if depth == 1 {
                                var_refs.push((n.to_string(), ty));
                            }
                        }
                    }
                    gimli::DW_TAG_member => {
                        if let Some(parent) = current_struct {
                            let loc = entry
                                .attr_value(gimli::DW_AT_data_member_location)
                                .and_then(|v| v.udata_value())
                                .unwrap_or(0);
                            if let Some(p) = raw.get_mut(&parent) {
                                p.members.push((name.unwrap_or_default(), loc, type_ref));
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
                        let size = entry
                            .attr_value(gimli::DW_AT_byte_size)
                            .and_then(|v| v.udata_value());
                        raw.insert(
                            off,
                            RawType {
                                tag: tag.0,
                                name,
                                size,
                                target: type_ref,
                                members: Vec::new(),
                            },
                        );
                        if tag == gimli::DW_TAG_structure_type {
                            current_struct = Some(off);
                            struct_depth = depth;
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut structs = HashMap::new();
        let named = raw
            .values()
            .filter(|t| t.tag == gimli::DW_TAG_structure_type.0)
            .filter_map(|t| Some((t.name.clone()?, t)))
            .filter(|(name, _)| keep(name));
        let of_globals = globals.iter().filter_map(|(var, ty)| {
            let t = raw.get(ty)?;
            (t.tag == gimli::DW_TAG_structure_type.0).then(|| (format!("var {var}"), t))
        });
        let wanted: Vec<(String, &RawType)> = named.chain(of_globals).collect();
        for (name, t) in wanted {
            let name = &name;
            let members = t
                .members
                .iter()
                .map(|(mname, off, ty)| {
                    let (type_name, size) = describe(&raw, *ty);
                    Member {
                        name: mname.clone(),
                        offset: *off,
                        type_name,
                        size,
                    }
                })
                .collect();
            structs.insert(
                name.clone(),
                StructType {
                    name: name.clone(),
                    size: t.size.unwrap_or(0),
                    members,
                },
            );
        }
        let var_types = var_refs
            .into_iter()
            .map(|(n, ty)| (n, describe(&raw, Some(ty)).0))
            .collect();
        Ok(Some(DwarfTypes { structs, var_types }))
    }

    /// A struct by its Go name ("runtime.g").
    pub fn get(&self, name: &str) -> Option<&StructType> {
        self.structs.get(name)
    }

    /// Builds a table from already-known struct types (built-in layouts).
    pub fn from_structs(structs: impl IntoIterator<Item = StructType>) -> Self {
        DwarfTypes {
            structs: structs.into_iter().map(|s| (s.name.clone(), s)).collect(),
            var_types: HashMap::new(),
        }
    }

    /// The Go type name of a package-level variable.
    pub fn var_type(&self, name: &str) -> Option<&str> {
        self.var_types.get(name).map(|s| s.as_str())
    }

    /// Number of struct types kept.
    pub fn len(&self) -> usize {
        self.structs.len()
    }

    /// Whether no struct type was kept.
    pub fn is_empty(&self) -> bool {
        self.structs.is_empty()
    }
}

/// The DWARF sections gimli reads (types, variables, locations, lines),
/// decompressed once and owned; every DWARF reader borrows from one.
pub(crate) struct DwarfSections(HashMap<&'static str, Vec<u8>>);

/// A DWARF section slice.
pub(crate) type Slice<'a> = EndianSlice<'a, LittleEndian>;

impl DwarfSections {
    /// The sections of `exe`, or `None` when it has no `.debug_info`.
    pub(crate) fn read(exe: &Executable) -> Result<Option<Self>> {
        let mut sections = HashMap::new();
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
            if let Some(data) = exe.section_decompressed(name)? {
                sections.insert(name, data);
            }
        }
        Ok(sections
            .contains_key(".debug_info")
            .then_some(DwarfSections(sections)))
    }

    /// gimli's view of the sections.
    pub(crate) fn dwarf(&self) -> Result<gimli::Dwarf<Slice<'_>>> {
        const EMPTY: &[u8] = &[];
        let load = |id: gimli::SectionId| -> std::result::Result<Slice<'_>, gimli::Error> {
            let data = self.0.get(id.name()).map(Vec::as_slice).unwrap_or(EMPTY);
            Ok(EndianSlice::new(data, LittleEndian))
        };
        gimli::Dwarf::load(load).map_err(dwarf_err)
    }
}

/// The .debug_info offset a type or origin reference attribute names.
pub(crate) fn ref_offset(
    unit: &gimli::Unit<Slice<'_>>,
    v: AttributeValue<Slice<'_>>,
) -> Option<usize> {
    match v {
        AttributeValue::UnitRef(o) => o.to_debug_info_offset(&unit.header).map(|o| o.0),
        AttributeValue::DebugInfoRef(o) => Some(o.0),
        _ => None,
    }
}

/// Name and size of the type at `off`, following typedefs for the size.
fn describe(raw: &HashMap<usize, RawType>, off: Option<usize>) -> (String, u64) {
    let Some(mut cur) = off else {
        return ("?".into(), 0);
    };
    let name = raw
        .get(&cur)
        .and_then(|t| t.name.clone())
        .unwrap_or_else(|| "?".into());
    // Bounded: typedef chains are short; corrupt DWARF must not loop.
    for _ in 0..16 {
        let Some(t) = raw.get(&cur) else { break };
        if let Some(size) = t.size {
            return (name, size);
        }
        if t.tag == gimli::DW_TAG_pointer_type.0 {
            return (name, 8);
        }
        match t.target {
            Some(next) => cur = next,
            None => break,
        }
    }
    (name, 0)
}

fn dwarf_err(e: gimli::Error) -> Error {
    Error::Layout(format!("reading DWARF: {e}"))
}
