//! Objects one pointer away from a package-level variable: with
//! `var sessions = &Store{}`, the Store's mutex is `main.sessions.mu`, and
//! the `*sync.Cond` its field holds is `main.publishQueue.nonEmpty`. Built
//! once per stop from the globals whose DWARF type is a pointer to a struct.

use std::collections::HashMap;

use crate::analysis::locals::is_pointerish;
use crate::session::Session;

/// Largest pointee read for its pointer members.
const MAX_STRUCT: u64 = 4096;
/// Largest pointee considered at all (a span, not read).
const MAX_SPAN: u64 = 1 << 20;

/// Structs that pointer-typed globals point to.
#[derive(Debug, Default)]
pub struct GlobalStructs {
    /// (start, end, global name, pointee type), sorted by start.
    spans: Vec<(u64, u64, String, String)>,
    /// A pointer value held by a member of such a struct → "global.member".
    members: HashMap<u64, String>,
}

impl Session {
    fn global_structs(&self) -> &GlobalStructs {
        self.global_structs.get_or_init(|| {
            let mut out = GlobalStructs::default();
            let layouts = &self.rt.layouts;
            for (name, start, size) in self.rt.exe.data_symbols() {
                if size != 8 {
                    continue;
                }
                let Some(pointee) = layouts
                    .var_type(&name)
                    .and_then(|t| t.strip_prefix('*').map(str::to_string))
                else {
                    continue;
                };
                let Some(psize) = layouts
                    .size(&pointee)
                    .ok()
                    .filter(|&s| s > 0 && s <= MAX_SPAN)
                else {
                    continue;
                };
                let Some(p) = self
                    .target
                    .read_u64(start + self.rt.bias)
                    .ok()
                    .filter(|&p| p != 0)
                else {
                    continue;
                };
                if psize <= MAX_STRUCT {
                    let mut img = vec![0u8; psize as usize];
                    if self.target.read_exact(p, &mut img).is_ok() {
                        for m in layouts.member_names(&pointee) {
                            let Some((off, 8, mty)) = layouts.member(&pointee, &m) else {
                                continue;
                            };
                            let Some(w) = img.get(off as usize..off as usize + 8) else {
                                continue;
                            };
                            let v = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
                            if v != 0 && is_pointerish(&mty) {
                                out.members.entry(v).or_insert(format!("{name}.{m}"));
                            }
                        }
                    }
                }
                out.spans.push((p, p + psize, name, pointee));
            }
            out.spans.sort();
            out
        })
    }

    /// `addr` inside a struct a global points to (`main.sessions.mu`), or
    /// held by a pointer member of one (`main.publishQueue.nonEmpty`).
    pub(crate) fn global_struct_ref(&self, addr: u64, ty: &str) -> Option<String> {
        let gs = self.global_structs();
        let i = gs.spans.partition_point(|s| s.0 <= addr);
        if let Some((start, end, name, pointee)) = i.checked_sub(1).and_then(|i| gs.spans.get(i)) {
            if addr < *end {
                let (path, rest) = self.field_path(pointee, addr - start, ty);
                let mut out = format!("{name}{path}");
                if rest != 0 {
                    out.push_str(&format!("+{rest:#x}"));
                }
                return Some(out);
            }
        }
        gs.members.get(&addr).cloned()
    }
}
