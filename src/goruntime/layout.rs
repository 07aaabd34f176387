//! Runtime struct layouts behind one provider. Callers ask for fields by
//! name ("sched.pc" of "runtime.g"); where the layout comes from (DWARF
//! today, built-in per-release tables for stripped binaries next) is the
//! provider's business.

use crate::binary::dwarf::DwarfTypes;
use crate::error::{Error, Result};

/// Where a field lives inside its outermost struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldLoc {
    pub offset: u64,
    pub size: u64,
}

/// A source of struct layouts.
pub trait LayoutSource: Send + Sync {
    /// Size of a struct type.
    fn struct_size(&self, ty: &str) -> Option<u64>;
    /// A direct member: offset, size and the member's type name.
    fn member(&self, ty: &str, name: &str) -> Option<(u64, u64, String)>;
    /// Short description for `info` ("DWARF").
    fn describe(&self) -> &'static str;
    /// The Go type name of a package-level variable (DWARF only).
    fn var_type(&self, _name: &str) -> Option<String> {
        None
    }
    /// Member names of a struct, in order.
    fn member_names(&self, _ty: &str) -> Vec<String> {
        Vec::new()
    }
}

impl LayoutSource for DwarfTypes {
    fn struct_size(&self, ty: &str) -> Option<u64> {
        self.get(ty).map(|s| s.size)
    }
    fn member(&self, ty: &str, name: &str) -> Option<(u64, u64, String)> {
        let m = self.get(ty)?.member(name)?;
        Some((m.offset, m.size, m.type_name.clone()))
    }
    fn describe(&self) -> &'static str {
        "DWARF"
    }
    fn var_type(&self, name: &str) -> Option<String> {
        DwarfTypes::var_type(self, name).map(|s| s.to_string())
    }
    fn member_names(&self, ty: &str) -> Vec<String> {
        self.get(ty)
            .map(|s| s.members.iter().map(|m| m.name.clone()).collect())
            .unwrap_or_default()
    }
}

/// The one layout provider.
pub struct Layouts {
    source: Box<dyn LayoutSource>,
}

impl std::fmt::Debug for Layouts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Layouts({})", self.source.describe())
    }
}

impl Layouts {
    /// Wraps a source.
    pub fn new(source: Box<dyn LayoutSource>) -> Self {
        Layouts { source }
    }

    /// Where the layouts come from.
    pub fn describe(&self) -> &'static str {
        self.source.describe()
    }

    /// Size of a struct, or an error naming it.
    pub fn size(&self, ty: &str) -> Result<u64> {
        self.source
            .struct_size(ty)
            .ok_or_else(|| Error::Layout(format!("type {ty} not found")))
    }

    /// Resolves a dotted field path inside `ty` ("sched.pc").
    pub fn field(&self, ty: &str, path: &str) -> Result<FieldLoc> {
        self.try_field(ty, path)
            .ok_or_else(|| Error::Layout(format!("field {ty}.{path} not found")))
    }

    /// Like [`Layouts::field`] but `None` when absent (version probes).
    pub fn try_field(&self, ty: &str, path: &str) -> Option<FieldLoc> {
        let mut cur_ty = ty.to_string();
        let mut offset = 0u64;
        let mut size = 0u64;
        for part in path.split('.') {
            let (off, sz, next) = self.source.member(&cur_ty, part)?;
            offset += off;
            size = sz;
            cur_ty = next;
        }
        Some(FieldLoc { offset, size })
    }

    /// The type name of a direct member of `ty`.
    pub fn member_type(&self, ty: &str, name: &str) -> Option<String> {
        self.source.member(ty, name).map(|(_, _, t)| t)
    }

    /// The Go type name of a package-level variable, when known.
    pub fn var_type(&self, name: &str) -> Option<String> {
        self.source.var_type(name)
    }

    /// The member of `ty` covering byte `offset`: its name, its own offset
    /// and its type (for naming an address inside a struct).
    pub fn member_at(
        &self,
        ty: &str,
        offset: u64,
        names: &[String],
    ) -> Option<(String, u64, String)> {
        // Zero-size members (`_ noCopy`) share offsets with real ones.
        names.iter().find_map(|n| {
            let (off, size, t) = self.source.member(ty, n)?;
            (size > 0 && n != "_" && offset >= off && offset < off + size)
                .then(|| (n.clone(), off, t))
        })
    }

    /// A direct member of a struct: its offset, size and type name.
    pub fn member(&self, ty: &str, name: &str) -> Option<(u64, u64, String)> {
        self.source.member(ty, name)
    }

    /// Member names of a struct in declaration order (DWARF/table sources).
    pub fn member_names(&self, ty: &str) -> Vec<String> {
        self.source.member_names(ty)
    }

    /// Whether a field exists (probe instead of comparing versions).
    pub fn has(&self, ty: &str, path: &str) -> bool {
        self.try_field(ty, path).is_some()
    }
}

/// Reads an unsigned little-endian field of `loc.size` bytes out of a
/// struct image, or 0 when the image is too short (callers validate sizes
/// up front so this only guards against corrupt layouts).
pub fn get_uint(buf: &[u8], loc: FieldLoc) -> u64 {
    let start = loc.offset as usize;
    let n = loc.size.min(8) as usize;
    let Some(b) = buf.get(start..start + n) else {
        return 0;
    };
    let mut w = [0u8; 8];
    w[..n].copy_from_slice(b);
    u64::from_le_bytes(w)
}
