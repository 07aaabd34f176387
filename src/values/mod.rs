//! Go values from target memory, printed as Go's `fmt` prints them.
//!
//! - [`types`]: the Go type graph from DWARF (by name, offset, runtime
//!   type descriptor, and package-level variable).
//! - [`decode`]: a typed address → [`Value`] tree (strings, slices,
//!   arrays, structs, pointers, classic and swiss maps, chans, funcs,
//!   interfaces), bounded and cycle-safe.
//! - [`methods`]: what `String()`/`Error()` of standard types return
//!   (time, errors, contexts) and sync states.
//! - [`rtype`]: types from runtime descriptors where DWARF has none.
//! - [`tz`]: POSIX TZ rules of time.Location (times past the last transition).
//! - [`format`]: `%v` / `%+v` with fmtsort's map order.
//! - [`expr`]: the `print` expression grammar.
//!
//! Entry points for frontends (CLI `print`, debugger pretty-printers):
//! [`print_expr`] and [`decode_typed`].

pub mod decode;
pub mod expr;
pub mod format;
pub mod locals;
pub mod methods;
pub mod rtype;
pub mod types;
pub mod tz;
pub mod value;

pub use decode::{Decoder, Limits};
pub use format::format_value;
pub use types::{Kind, TypeGraph, TypeId};
pub use value::{Data, FieldValue, Value};

use crate::error::{Error, Result};
use crate::session::Session;

/// Where a session keeps its type graph (None: no DWARF; Err: unreadable).
pub type TypeGraphCell = std::sync::OnceLock<std::result::Result<Option<TypeGraph>, String>>;

/// The session's type graph, loaded from DWARF on first use.
pub fn type_graph(s: &Session) -> Result<&TypeGraph> {
    let g = s
        .value_types
        .get_or_init(|| TypeGraph::load(&s.rt.exe).map_err(|e| e.to_string()));
    match g {
        Ok(Some(g)) => Ok(g),
        Ok(None) => Err(Error::Other(format!(
            "{} has no DWARF (linked with -w?): print needs the binary's type information",
            s.exe_path().display()
        ))),
        Err(e) => Err(Error::Layout(e.clone())),
    }
}

/// A decoder over the session's memory and types.
pub fn decoder(s: &Session, limits: Limits) -> Result<Decoder<'_>> {
    let types = type_graph(s)?;
    let mut d = Decoder::new(s.target.as_ref(), types, s.rt.bias, s.rt.types_base, limits);
    d.go_minor = s.rt.version.minor;
    Ok(d)
}

/// Decodes the value of Go type `type_name` at `addr` (what a debugger
/// pretty-printer asks for: `decode_typed(s, "map[string]int", 0xc000…)`).
pub fn decode_typed(s: &Session, type_name: &str, addr: u64, limits: Limits) -> Result<Value> {
    let d = decoder(s, limits)?;
    let ty = d.types.by_name(type_name).ok_or_else(|| {
        Error::Other(format!(
            "no Go type named {type_name:?} in the binary's DWARF"
        ))
    })?;
    Ok(d.decode(ty, addr))
}

/// Evaluates a `print` expression: `main.catalog`, `main.catalog.items`,
/// `main.users[3]`, `main.byName["bob"]`, `*(main.Item)(0xc000012345)`.
pub fn print_expr(s: &Session, text: &str, limits: Limits) -> Result<Value> {
    let d = decoder(s, limits)?;
    let (ty, addr) = expr::resolve(s, &d, text)?;
    Ok(d.decode(ty, addr))
}

/// Where [`Overlay`] places a value's bytes: the top of the address space,
/// which no Go target maps.
pub const OVERLAY_BASE: u64 = 0xffff_ffff_ffff_0000;

/// Target memory plus one value's bytes at [`OVERLAY_BASE`]: a value that
/// is not in memory as a whole (held in registers by a debugger, or split
/// into pieces across stack slots) decoded as if it were.
pub struct Overlay<'a> {
    pub inner: &'a dyn crate::memory::Memory,
    pub bytes: Vec<u8>,
}

impl crate::memory::Memory for Overlay<'_> {
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        let end = OVERLAY_BASE + self.bytes.len() as u64;
        if addr >= OVERLAY_BASE && addr.saturating_add(buf.len() as u64) <= end {
            let off = (addr - OVERLAY_BASE) as usize;
            buf.copy_from_slice(&self.bytes[off..off + buf.len()]);
            return Ok(());
        }
        self.inner.read_exact(addr, buf)
    }
}

/// Decodes a value of Go type `type_name` from its bytes (pointers in it
/// still refer to target memory).
pub fn decode_bytes(s: &Session, type_name: &str, bytes: Vec<u8>, limits: Limits) -> Result<Value> {
    let mem = Overlay {
        inner: s.target.as_ref(),
        bytes,
    };
    let types = type_graph(s)?;
    let mut d = Decoder::new(&mem, types, s.rt.bias, s.rt.types_base, limits);
    d.go_minor = s.rt.version.minor;
    let ty = types.by_name(type_name).ok_or_else(|| {
        Error::Other(format!(
            "no Go type named {type_name:?} in the binary's DWARF"
        ))
    })?;
    let mut v = d.decode(ty, OVERLAY_BASE);
    v.addr = 0;
    Ok(v)
}
