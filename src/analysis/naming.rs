//! Naming objects that live in the heap but hang off a package-level
//! pointer: `main.dispatchTicker.C` (a channel in the `*time.Ticker` a
//! global points to), `main.store.mu` (a mutex inside the `*Store` a global
//! holds), one pointer deep into a field of that, too. DWARF gives the
//! globals' types; without DWARF nothing is named this way.

use crate::session::Session;

/// Bound on pointees recorded per stop.
const MAX_POINTEES: usize = 200_000;
/// Largest struct followed (bigger ones are arrays of state, not objects).
const MAX_STRUCT: u64 = 1 << 20;

/// A heap struct reached from a global: its address range, the Go
/// expression that reaches it and its type.
#[derive(Debug, Clone)]
pub struct Pointee {
    pub start: u64,
    pub size: u64,
    pub expr: String,
    pub ty: String,
}

/// Pointer-like types: the object is what their value refers to.
fn is_reference(ty: &str) -> bool {
    ty.starts_with('*')
        || ty.starts_with("chan ")
        || ty.starts_with("<-chan ")
        || ty.starts_with("chan<- ")
        || ty.starts_with("map[")
}

/// The struct type a pointer type points to, if the layouts know it.
fn pointee_struct(s: &Session, ty: &str) -> Option<(String, u64)> {
    let t = ty.strip_prefix('*')?;
    let size = s.rt.layouts.size(t).ok()?;
    (size > 0 && size <= MAX_STRUCT).then(|| (t.to_string(), size))
}

impl Session {
    /// The heap structs that package-level pointers (and pointer fields of
    /// what they point to) reach, sorted by address; built once per stop.
    fn global_pointees(&self) -> &[Pointee] {
        self.global_pointees.get_or_init(|| {
            let mut out = Vec::new();
            for (name, start, _) in self.rt.exe.data_symbols() {
                if out.len() >= MAX_POINTEES {
                    break;
                }
                let Some(ty) = self.rt.layouts.var_type(&name) else {
                    continue;
                };
                let Some((t, size)) = pointee_struct(self, &ty) else {
                    continue;
                };
                let Ok(p) = self.target.read_u64(start + self.rt.bias) else {
                    continue;
                };
                if p == 0 {
                    continue;
                }
                // One level further: pointer fields of the pointee.
                for m in self.rt.layouts.member_names(&t) {
                    let Some(f) = self.rt.layouts.try_field(&t, &m) else {
                        continue;
                    };
                    let Some(mty) = self.rt.layouts.member_type(&t, &m) else {
                        continue;
                    };
                    let Some((mt, msize)) = pointee_struct(self, &mty) else {
                        continue;
                    };
                    if let Ok(q) = self.target.read_u64(p + f.offset) {
                        if q != 0 {
                            out.push(Pointee {
                                start: q,
                                size: msize,
                                expr: format!("{name}.{m}"),
                                ty: mt,
                            });
                        }
                    }
                }
                out.push(Pointee {
                    start: p,
                    size,
                    expr: name,
                    ty: t,
                });
            }
            out.sort_by_key(|p| p.start);
            out
        })
    }

    /// The object at `addr` (of type `ty`) named through a global pointer:
    /// a field of the struct it points to (`main.store.mu`), or a
    /// pointer/chan field whose value is `addr` (`main.dispatchTicker.C`).
    pub fn name_via_global_pointer(&self, addr: u64, ty: &str) -> Option<String> {
        let ps = self.global_pointees();
        // Inside a pointee: the innermost (smallest) range containing addr.
        let i = ps.partition_point(|p| p.start <= addr);
        let inside = ps[..i]
            .iter()
            .rev()
            .take(64)
            .filter(|p| addr < p.start + p.size)
            .min_by_key(|p| p.size);
        if let Some(p) = inside {
            let (path, rest) = self.field_path(&p.ty, addr - p.start, ty);
            if rest == 0 && !path.is_empty() {
                return Some(format!("{}{path}", p.expr));
            }
        }
        // A field holding addr (a channel, or a pointer to the object).
        for p in ps {
            for m in self.rt.layouts.member_names(&p.ty) {
                let (Some(f), Some(mty)) = (
                    self.rt.layouts.try_field(&p.ty, &m),
                    self.rt.layouts.member_type(&p.ty, &m),
                ) else {
                    continue;
                };
                if is_reference(&mty)
                    && !mty.starts_with("map[")
                    && f.size == 8
                    && self.target.read_u64(p.start + f.offset).ok() == Some(addr)
                {
                    return Some(format!("{}.{m}", p.expr));
                }
            }
        }
        None
    }

    /// The field path (".a.b") from the start of a `ty` value down to byte
    /// `off`, stopping at an object of type `target` (or a reference-like
    /// member); returns the path and the offset left over.
    pub(crate) fn field_path(&self, ty: &str, mut off: u64, target: &str) -> (String, u64) {
        let mut path = String::new();
        let mut cur = Some(ty.to_string());
        // Bounded descent through nested struct fields.
        for _ in 0..16 {
            let Some(t) = cur.take() else { break };
            // Reached the object itself (a sync.Mutex inside a struct).
            if off == 0 && (t == target || is_reference(&t)) {
                break;
            }
            let names = self.rt.layouts.member_names(&t);
            if names.is_empty() {
                break;
            }
            match self.rt.layouts.member_at(&t, off, &names) {
                Some((m, moff, mty)) => {
                    path.push('.');
                    path.push_str(&m);
                    off -= moff;
                    cur = Some(mty);
                }
                None => break,
            }
        }
        (path, off)
    }
}
