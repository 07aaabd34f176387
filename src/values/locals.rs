//! Parameters and locals of a goroutine's frames, found through the
//! binary's DWARF variable locations and printed as fmt prints them: what
//! `info locals` shows, for every frontend — the CLI on a core, and LLDB,
//! which cannot read Go variables itself.

use serde::Serialize;

use crate::binary::dwarfexpr::{Piece, Place};
use crate::binary::dwarfvars::VarInfo;
use crate::command::FrameSelect;
use crate::error::{Error, Result};
use crate::goruntime::funcname::is_user_function;
use crate::session::Session;
use crate::unwind;
use crate::values::{decode_bytes, decode_typed, format_value, Limits};

/// Bound on one variable's bytes assembled from pieces.
const MAX_PIECED: u64 = 1 << 16;

/// What `locals` reports.
#[derive(Debug, Serialize)]
pub struct LocalsReport {
    pub goroutine: u64,
    pub frames: Vec<FrameLocals>,
}

/// The variables of one (logical) frame.
#[derive(Debug, Serialize)]
pub struct FrameLocals {
    /// Frame number, innermost 0, inlined calls counted (as `--frame`
    /// takes it).
    pub index: usize,
    pub function: String,
    pub file: String,
    pub line: i32,
    pub vars: Vec<LocalVar>,
}

/// One parameter or local.
#[derive(Debug, Serialize)]
pub struct LocalVar {
    pub name: String,
    /// A parameter (else a local).
    pub arg: bool,
    #[serde(rename = "type")]
    pub type_name: String,
    /// The value as fmt's `%v` (or `%+v`) prints it; empty if unavailable.
    pub value: String,
    /// Why there is no value (kept in a register, optimized out, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

impl Session {
    /// The variables of goroutine `goid`'s frames: every frame of the
    /// program's own code, or the frames `only` selects.
    pub fn frame_locals(
        &self,
        goid: u64,
        only: FrameSelect,
        plus: bool,
        limits: Limits,
    ) -> Result<LocalsReport> {
        let g = self
            .all_gs()
            .iter()
            .flatten()
            .find(|g| g.goid == goid && !g.is_dead())
            .ok_or_else(|| Error::Other(format!("no goroutine with id {goid}")))?;
        if self.dwarf_vars().is_none() {
            return Err(Error::Other(format!(
                "{} has no DWARF variable information (built with -w or stripped)",
                self.exe_path().display()
            )));
        }
        let mut frames = Vec::new();
        let mut index = 0usize;
        let phys = self.phys_frames(g);
        for (p, pf) in phys.iter().enumerate() {
            let logical = unwind::logical_frames(&self.rt, &self.sym, pf);
            let vars = self.frame_vars(pf);
            for (k, lf) in logical.iter().enumerate() {
                let i = index;
                index += 1;
                let wanted = match only {
                    FrameSelect::Logical(n) => n == i,
                    FrameSelect::Physical(n) => n == p,
                    FrameSelect::User => is_user_function(&lf.name),
                };
                if !wanted {
                    continue;
                }
                // A variable belongs to the function whose scope declares
                // it; what matches no inlined call is the physical one's.
                let outermost = k + 1 == logical.len();
                let mine = vars.iter().filter(|(v, _)| {
                    *v.scope == *lf.raw_name
                        || (outermost && !logical.iter().any(|l| *l.raw_name == *v.scope))
                });
                let vars: Vec<LocalVar> = mine
                    .map(|(v, pieces)| self.local_var(v, pieces, plus, limits))
                    .collect();
                // Listing every frame: wrappers without variables are noise.
                if vars.is_empty() && only == FrameSelect::User {
                    continue;
                }
                frames.push(FrameLocals {
                    index: i,
                    function: lf.name.to_string(),
                    file: lf.file.to_string(),
                    line: lf.line,
                    vars,
                });
            }
        }
        if frames.is_empty() {
            match only {
                FrameSelect::Logical(n) => {
                    return Err(Error::Other(format!(
                        "goroutine {goid} has {index} frames; no frame {n}"
                    )))
                }
                FrameSelect::Physical(n) => {
                    return Err(Error::Other(format!(
                        "goroutine {goid} has {} physical frames; no physical frame {n}",
                        phys.len()
                    )))
                }
                FrameSelect::User => {}
            }
        }
        Ok(LocalsReport {
            goroutine: goid,
            frames,
        })
    }

    /// One variable's value from its location pieces.
    fn local_var(&self, v: &VarInfo, pieces: &[Piece], plus: bool, limits: Limits) -> LocalVar {
        let mut out = LocalVar {
            name: v.name.clone(),
            arg: v.param,
            type_name: v.type_name.clone(),
            value: String::new(),
            unavailable: None,
        };
        let value = match pieces {
            [Piece {
                place: Place::Mem(addr),
                size,
            }] if *size == 0 || *size == v.type_size => self.escaped_or_direct(v, *addr, limits),
            _ => self.pieced_bytes(v, pieces).and_then(|bytes| {
                decode_bytes(self, &v.type_name, bytes, limits)
                    .map_err(|e| e.to_string())
                    .map(|val| (val, v.name.clone(), v.type_name.clone()))
            }),
        };
        match value {
            Ok((val, name, ty)) => {
                out.value = format_value(&val, plus);
                out.name = name;
                out.type_name = ty;
            }
            Err(why) => out.unavailable = Some(why),
        }
        out
    }

    /// A variable in memory; Go names a variable that escaped to the heap
    /// `&x` (a pointer to it): that is shown as `x`, the value it points to.
    fn escaped_or_direct(
        &self,
        v: &VarInfo,
        addr: u64,
        limits: Limits,
    ) -> std::result::Result<(crate::values::Value, String, String), String> {
        if let (Some(name), Some((pointee, _))) = (v.name.strip_prefix('&'), &v.pointee) {
            let p = self
                .target
                .read_u64(addr)
                .map_err(|e| format!("reading &{name}: {e}"))?;
            let val = decode_typed(self, pointee, p, limits).map_err(|e| e.to_string())?;
            return Ok((val, name.to_string(), pointee.clone()));
        }
        let val = decode_typed(self, &v.type_name, addr, limits).map_err(|e| e.to_string())?;
        Ok((val, v.name.clone(), v.type_name.clone()))
    }

    /// A variable split into pieces (stack slots and constants) assembled
    /// into its bytes; a piece kept in a register makes it unavailable (a
    /// parked goroutine's registers are gone).
    fn pieced_bytes(&self, v: &VarInfo, pieces: &[Piece]) -> std::result::Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        for p in pieces {
            let size = if p.size == 0 { v.type_size } else { p.size };
            if bytes.len() as u64 + size > MAX_PIECED {
                return Err(format!("{} bytes in pieces", bytes.len() as u64 + size));
            }
            match p.place {
                Place::Mem(a) => {
                    let mut buf = vec![0u8; size as usize];
                    self.target
                        .read_exact(a, &mut buf)
                        .map_err(|e| e.to_string())?;
                    bytes.extend(buf);
                }
                Place::Value(x) => {
                    let le = x.to_le_bytes();
                    bytes.extend((0..size as usize).map(|i| le.get(i).copied().unwrap_or(0)));
                }
                Place::Reg(r) => return Err(format!("in a register (DWARF register {r})")),
                Place::None => return Err("optimized out".into()),
            }
        }
        if bytes.len() as u64 != v.type_size || bytes.is_empty() {
            return Err("no location at this pc".into());
        }
        Ok(bytes)
    }
}
