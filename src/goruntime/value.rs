//! Small Go values read from target memory: runtime type names (from
//! `abi.Type` and the module's name table) and the value a goroutine is
//! panicking with.

use crate::error::{Result, ResultExt};
use crate::goruntime::runtime::GoRuntime;
use crate::memory::Memory;

/// `abi.Kind` values we print specially.
const KIND_STRING: u8 = 24;
const KIND_MASK: u8 = 0x1f;

impl GoRuntime {
    /// The Go name of the type descriptor at `typ` (`*main.Store`, `string`).
    pub fn type_name(&self, mem: &dyn Memory, typ: u64) -> Result<String> {
        crate::goruntime::typedesc::type_name(mem, self.types_base, typ).ctx("abi.Type name")
    }

    fn type_kind(&self, mem: &dyn Memory, typ: u64) -> Result<u8> {
        let off = self.layouts.field("internal/abi.Type", "Kind_")?.offset;
        Ok(mem.read_u8(typ + off)? & KIND_MASK)
    }

    /// What `panic(v)` was called with, as Go's `printpanicval` would
    /// show it, for the innermost panic record at `panic` (`g._panic`).
    pub fn panic_message(&self, mem: &dyn Memory, panic: u64) -> Result<Option<String>> {
        if panic == 0 {
            return Ok(None);
        }
        let arg = self.layouts.field("runtime._panic", "arg")?.offset;
        let typ = mem.read_u64(panic + arg).ctx("_panic.arg")?;
        let data = mem.read_u64(panic + arg + 8).ctx("_panic.arg")?;
        if typ == 0 {
            return Ok(Some("nil".into()));
        }
        let name = self.type_name(mem, typ)?;
        let kind = self.type_kind(mem, typ)?;
        let text = |addr: u64| mem.read_go_string(addr, 1 << 16);
        let msg = match (name.as_str(), kind) {
            // errorString.Error() adds the prefix; plainError does not.
            ("runtime.errorString", _) => format!("runtime error: {}", text(data)?),
            (_, KIND_STRING) if name == "string" || name == "runtime.plainError" => text(data)?,
            // The common error implementations keep their message first.
            ("*errors.errorString" | "*fmt.wrapError" | "*fmt.wrapErrors", _) => text(data)?,
            (_, KIND_STRING) => format!("{name}({:?})", text(data)?),
            (_, 1..=14) => {
                let v = basic_value(mem, kind, data)?;
                if name.contains('.') {
                    format!("{name}({v})")
                } else {
                    v
                }
            }
            _ => format!("({name}) {data:#x}"),
        };
        Ok(Some(msg))
    }
}

/// A bool, integer or float held behind an interface's data pointer, as
/// Go's `printpanicval` prints it.
fn basic_value(mem: &dyn Memory, kind: u8, data: u64) -> Result<String> {
    let mut b = [0u8; 8];
    let size = match kind {
        1 | 3 | 8 => 1,
        4 | 9 => 2,
        5 | 10 | 13 => 4,
        _ => 8,
    };
    mem.read_exact(data, &mut b[..size])?;
    let u = u64::from_le_bytes(b);
    Ok(match kind {
        1 => (u != 0).to_string(),
        3 => (u as i8).to_string(),
        4 => (u as i16).to_string(),
        5 => (u as i32).to_string(),
        2 | 6 => (u as i64).to_string(),
        13 => format!("{:e}", f32::from_bits(u as u32)),
        14 => format!("{:e}", f64::from_bits(u)),
        _ => u.to_string(),
    })
}
