//! Built-in runtime struct layouts per Go release, for binaries without
//! DWARF (`-ldflags=-w`, `-s -w`). The tables are generated from each
//! release's own DWARF by `scripts/gen-layouts` (which runs
//! `goroscope dump-layouts`), so adding a release is mechanical, and the
//! tests check them against unstripped builds.

use serde::{Deserialize, Serialize};

use crate::binary::dwarf::{DwarfTypes, Member, StructType};
use crate::goruntime::layout::LayoutSource;

/// Struct types the tool reads, roots of the generated tables; the types
/// of their struct-typed members are included too, so dotted paths resolve.
pub const ROOTS: &[&str] = &[
    "runtime.g",
    "runtime.m",
    "runtime.p",
    "runtime.schedt",
    "runtime.moduledata",
    "runtime.pcHeader",
    "runtime.hmap",
    "runtime._panic",
    "runtime._defer",
    "runtime.sudog",
    "runtime.hchan",
    "runtime.waitq",
    "runtime.semaRoot",
    "runtime.notifyList",
    "runtime.mspan",
    "runtime.mheap",
    "runtime.heapArena",
    "runtime.pollDesc",
    "runtime.timer",
    "runtime.itab",
    "runtime.funcval",
    "runtime.special",
    "runtime.specialfinalizer",
    "internal/abi.Type",
    "internal/abi.StructType",
    "internal/abi.StructField",
    "internal/abi.PtrType",
    "internal/abi.ChanType",
    "internal/abi.MapType",
    "internal/abi.SwissMapType",
    "internal/abi.InterfaceType",
    "internal/abi.UncommonType",
    "internal/abi.ITab",
    "internal/runtime/maps.Map",
    "internal/runtime/maps.table",
    "sync.Mutex",
    "sync.RWMutex",
    "sync.WaitGroup",
    "sync.Cond",
    "sync.Once",
    "internal/sync.Mutex",
    // IO waits: the fd around a pollDesc and the socket's addresses.
    "internal/poll.FD",
    "net.netFD",
    "net.TCPAddr",
    "net.UDPAddr",
    "net.IPAddr",
    "net.UnixAddr",
    // Context deadlines: the timer's context and its done channel.
    "context.cancelCtx",
    "context.timerCtx",
    "var runtime.debug",
];

/// One release's table, as stored.
#[derive(Debug, Serialize, Deserialize)]
pub struct Table {
    /// The toolchain that produced it ("go1.26.6").
    pub go: String,
    /// Struct name → size and members `[name, offset, size, type]`.
    pub structs: std::collections::BTreeMap<String, TableStruct>,
    /// Constant string arrays (`runtime.waitReasonStrings`,
    /// `runtime.gStatusStrings`) as the release defines them.
    #[serde(default)]
    pub strings: std::collections::BTreeMap<String, Vec<String>>,
}

/// String arrays recorded with the layouts.
pub const STRING_ARRAYS: &[&str] = &["runtime.waitReasonStrings", "runtime.gStatusStrings"];

/// A struct in a stored table.
#[derive(Debug, Serialize, Deserialize)]
pub struct TableStruct {
    pub size: u64,
    pub members: Vec<(String, u64, u64, String)>,
}

/// Extracts the table for ROOTS (and the struct types they contain).
pub fn extract(types: &DwarfTypes, go: &str) -> Table {
    let mut structs = std::collections::BTreeMap::new();
    let mut todo: Vec<String> = ROOTS.iter().map(|s| s.to_string()).collect();
    while let Some(name) = todo.pop() {
        if structs.contains_key(&name) {
            continue;
        }
        let Some(st) = types.get(&name) else { continue };
        for m in &st.members {
            if types.get(&m.type_name).is_some() && !structs.contains_key(&m.type_name) {
                todo.push(m.type_name.clone());
            }
        }
        structs.insert(
            name,
            TableStruct {
                size: st.size,
                members: st
                    .members
                    .iter()
                    .map(|m| (m.name.clone(), m.offset, m.size, m.type_name.clone()))
                    .collect(),
            },
        );
    }
    Table {
        go: go.to_string(),
        structs,
        strings: Default::default(),
    }
}

/// The stored tables, one per supported minor release.
const TABLES: &[(u32, &str)] = &[
    (21, include_str!("layouts/go1.21.json")),
    (22, include_str!("layouts/go1.22.json")),
    (23, include_str!("layouts/go1.23.json")),
    (24, include_str!("layouts/go1.24.json")),
    (25, include_str!("layouts/go1.25.json")),
    (26, include_str!("layouts/go1.26.json")),
    (27, include_str!("layouts/go1.27.json")),
];

/// Built-in layouts for a release.
pub struct BuiltinLayouts {
    types: DwarfTypes,
    strings: std::collections::BTreeMap<String, Vec<String>>,
    what: &'static str,
}

impl BuiltinLayouts {
    /// The table for go1.`minor`, if the tool ships one.
    pub fn for_minor(minor: u32) -> Option<Self> {
        let (_, json) = TABLES.iter().find(|(m, _)| *m == minor)?;
        let mut table: Table = serde_json::from_str(json).ok()?;
        let strings = std::mem::take(&mut table.strings);
        let structs = table.structs.into_iter().map(|(name, st)| StructType {
            name,
            size: st.size,
            members: st
                .members
                .into_iter()
                .map(|(name, offset, size, type_name)| Member {
                    name,
                    offset,
                    size,
                    type_name,
                })
                .collect(),
        });
        Some(BuiltinLayouts {
            types: DwarfTypes::from_structs(structs),
            strings,
            what: "built-in table (no DWARF)",
        })
    }

    /// A constant string array of the release.
    pub fn strings(&self, name: &str) -> Option<Vec<String>> {
        self.strings.get(name).cloned()
    }
}

impl LayoutSource for BuiltinLayouts {
    fn struct_size(&self, ty: &str) -> Option<u64> {
        self.types.struct_size(ty)
    }
    fn member(&self, ty: &str, name: &str) -> Option<(u64, u64, String)> {
        self.types.member(ty, name)
    }
    fn describe(&self) -> &'static str {
        self.what
    }
    fn member_names(&self, ty: &str) -> Vec<String> {
        LayoutSource::member_names(&self.types, ty)
    }
}
