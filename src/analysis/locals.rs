//! Naming an object after a parameter or local variable that references
//! it (`s.mu` in `main.(*store).flush`), from the DWARF variable locations
//! of a goroutine's frames. Used when no global names the object, and as
//! holder evidence (a frame whose variable points at a mutex).

use crate::binary::dwarfexpr::{eval, EvalFrame, Piece, Place};
use crate::binary::dwarfvars::{DwarfVars, VarInfo};
use crate::goruntime::funcname::{is_runtime_internal, is_user_function};
use crate::session::Session;
use crate::unwind::{self, PhysFrame};

/// Frames searched per goroutine (deep recursion names nothing new).
const MAX_FRAMES: usize = 256;
/// Largest struct image read to look for pointer members.
const MAX_STRUCT_SCAN: u64 = 4096;
/// Nested struct levels followed when building a field path.
const MAX_FIELD_DEPTH: usize = 16;

/// A local or parameter that references an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalName {
    /// Go expression for the object (`s.mu`, `results`, `q.approved`).
    pub expr: String,
    /// The function whose variable it is (`main.(*store).flush`).
    pub scope: String,
    pub file: String,
    pub line: i32,
    /// The variable itself: name (without Go's `&` for escaped ones), type,
    /// and whether it is a parameter.
    pub var: String,
    pub var_type: String,
    pub param: bool,
}

/// Types whose value refers to the object (pointers, channels, maps).
pub(crate) fn is_pointerish(ty: &str) -> bool {
    ty.starts_with('*')
        || ty.starts_with("chan ")
        || ty.starts_with("chan<-")
        || ty.starts_with("<-chan")
        || ty.starts_with("map[")
}

impl Session {
    /// The program's DWARF variables, read on first use (none without DWARF).
    pub fn dwarf_vars(&self) -> Option<&DwarfVars> {
        self.dwarf_vars
            .get_or_init(|| DwarfVars::load(&self.rt.exe))
            .as_ref()
    }

    /// Variables of `pf` that have a location at its pc, with the pieces
    /// that location evaluates to.
    pub(crate) fn frame_vars(&self, pf: &PhysFrame) -> Vec<(&VarInfo, Vec<Piece>)> {
        let Some(dv) = self.dwarf_vars() else {
            return Vec::new();
        };
        let pc = pf.sym_pc().wrapping_sub(self.rt.bias);
        // Go's CFA is the caller's SP: just above the return address, which
        // is where the unwinder's fp points.
        let fr = EvalFrame {
            cfa: pf.fp,
            sp: Some(pf.sp),
            bias: self.rt.bias,
        };
        dv.vars_at(pc)
            .into_iter()
            .filter_map(|(v, e)| Some((v, eval(e, &fr)?)))
            .collect()
    }

    /// The first variable of `frames` (innermost first, the program's own
    /// frames before the standard library's) that references `obj`, an
    /// object of Go type `ty` ("sync.Mutex", "chan", ...). The runtime's
    /// and sync's own frames are never asked: their `c` or `cas1` names
    /// the machinery, not the program's object.
    pub fn local_name(&self, frames: &[PhysFrame], obj: u64, ty: &str) -> Option<LocalName> {
        if obj == 0 {
            return None;
        }
        let mut fallback = None;
        for pf in frames.iter().take(MAX_FRAMES) {
            for (v, pieces) in self.frame_vars(pf) {
                if is_runtime_internal(&v.scope) {
                    continue;
                }
                let Some(expr) = self.var_refers(v, &pieces, obj, ty) else {
                    continue;
                };
                let user = is_user_function(&v.scope);
                if !user && fallback.is_some() {
                    continue;
                }
                let lf = unwind::logical_frames(&self.rt, &self.sym, pf);
                let at = lf
                    .iter()
                    .find(|l| *l.raw_name == *v.scope)
                    .or_else(|| lf.last());
                let name = LocalName {
                    expr,
                    scope: at
                        .filter(|l| *l.raw_name == *v.scope)
                        .map(|l| l.name.to_string())
                        .unwrap_or_else(|| v.scope.clone()),
                    file: at.map(|l| l.file.to_string()).unwrap_or_default(),
                    line: at.map(|l| l.line).unwrap_or(0),
                    var: v.name.trim_start_matches('&').to_string(),
                    var_type: v.type_name.clone(),
                    param: v.param,
                };
                if user {
                    return Some(name);
                }
                fallback = Some(name);
            }
        }
        fallback
    }

    /// A Go expression for `obj` through variable `v` (located at
    /// `pieces`), if the variable holds it, points at or into it, or
    /// contains it.
    fn var_refers(&self, v: &VarInfo, pieces: &[Piece], obj: u64, ty: &str) -> Option<String> {
        // Escaped variables: `&x` holds x's address.
        let (name, escaped) = match v.name.strip_prefix('&') {
            Some(n) => (n, true),
            None => (v.name.as_str(), false),
        };
        let whole = match pieces {
            [Piece {
                place: Place::Mem(a),
                size: 0,
            }] => Some(*a),
            _ => None,
        };
        if v.type_size == 8 && is_pointerish(&v.type_name) {
            let p = match (whole, pieces.first()) {
                (Some(a), _) => self.target.read_u64(a).ok()?,
                (
                    None,
                    Some(Piece {
                        place: Place::Mem(a),
                        size: 8,
                    }),
                ) => self.target.read_u64(*a).ok()?,
                (
                    None,
                    Some(Piece {
                        place: Place::Value(x),
                        ..
                    }),
                ) => *x,
                _ => return None,
            };
            if p == 0 {
                return None;
            }
            return match (&v.pointee, v.type_name.starts_with('*')) {
                // `&ch`: an escaped channel (or pointer) variable holds obj.
                (Some((pty, 8)), true)
                    if escaped
                        && is_pointerish(pty)
                        && self.target.read_u64(p).ok() == Some(obj) =>
                {
                    Some(name.to_string())
                }
                (Some((pty, psize)), true) => self.in_struct(p, pty, *psize, name, obj, ty),
                _ if p == obj && !escaped => Some(name.to_string()),
                _ => None,
            };
        }
        if let Some(a) = whole {
            return self.in_struct(a, &v.type_name, v.type_size, name, obj, ty);
        }
        // A struct split in pieces: a word-sized member in memory holding obj.
        let mut off = 0u64;
        for pc in pieces {
            if pc.size == 8 {
                let w = match pc.place {
                    Place::Mem(a) => self.target.read_u64(a).ok(),
                    Place::Value(x) => Some(x),
                    _ => None,
                };
                if w == Some(obj) {
                    let names = self.rt.layouts.member_names(&v.type_name);
                    let (m, _, _) = self.rt.layouts.member_at(&v.type_name, off, &names)?;
                    return Some(format!("{name}.{m}"));
                }
            }
            off += pc.size;
        }
        None
    }

    /// `obj` relative to a value of type `sty` and `size` bytes at `base`
    /// named `name`: the value itself, a field inside it, or a pointer
    /// field of it that holds obj (`q.approved`).
    fn in_struct(
        &self,
        base: u64,
        sty: &str,
        size: u64,
        name: &str,
        obj: u64,
        ty: &str,
    ) -> Option<String> {
        if obj >= base && obj < base.saturating_add(size.max(1)) {
            // Only the value's start or a field its layout puts exactly
            // there: an address somewhere inside a big array type (a
            // `*[65536]T` cast over a small buffer) is no reference to obj.
            let (path, rest) = self.field_path(sty, obj - base, ty);
            return (rest == 0).then(|| format!("{name}{path}"));
        }
        // Not the runtime's structs (g, m, p, hchan): they are large, are in
        // every goroutine's frames, and hold no program object's name.
        let sty_name = sty.trim_start_matches('*');
        if is_runtime_internal(sty_name) || size == 0 || size > MAX_STRUCT_SCAN {
            return None;
        }
        let names = self.rt.layouts.member_names(sty);
        let mut img = vec![0u8; size as usize];
        self.target.read_exact(base, &mut img).ok()?;
        names.iter().find_map(|m| {
            let (off, msize, mty) = self.rt.layouts.member(sty, m)?;
            if msize != 8 || !is_pointerish(&mty) {
                return None;
            }
            let w = img.get(off as usize..off as usize + 8)?;
            (u64::from_le_bytes(w.try_into().ok()?) == obj).then(|| format!("{name}.{m}"))
        })
    }

    /// The field path (".a.b") from a value of type `root` to byte `off`
    /// inside it, stopping at an object of type `ty`; with the offset left
    /// over where the layouts go no deeper.
    pub(crate) fn field_path(&self, root: &str, mut off: u64, ty: &str) -> (String, u64) {
        let mut path = String::new();
        let mut cur = root.to_string();
        for _ in 0..MAX_FIELD_DEPTH {
            // Reached the object itself (a sync.Mutex inside a struct).
            // A channel is its hchan (`runtime.hchan`, DWARF's `hchan<T>`).
            let hchan = ty == "chan" && (cur == "runtime.hchan" || cur.starts_with("hchan<"));
            if off == 0 && (cur == ty || hchan || is_pointerish(&cur)) {
                break;
            }
            let names = self.rt.layouts.member_names(&cur);
            if names.is_empty() {
                break;
            }
            match self.rt.layouts.member_at(&cur, off, &names) {
                Some((m, moff, mty)) => {
                    path.push('.');
                    path.push_str(&m);
                    off -= moff;
                    cur = mty;
                }
                None => break,
            }
        }
        (path, off)
    }
}
