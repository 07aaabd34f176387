//! Who could unblock a goroutine. The runtime records no lock owners, so
//! holders are inferred with evidence: a pending deferred Unlock of the very
//! mutex (open-coded defer bits or a `_defer` record) is certain; a
//! parameter or local of another goroutine's frame that holds, points into
//! or contains the object (DWARF variable locations) is likely; a bare
//! stack word equal to its address, in no known variable, is unknown. A
//! mutex's state bits are quoted with the inferred holders' evidence but
//! never prove an owner (the runtime does not record who locked it); a
//! certain holder's evidence is its deferred Unlock alone.

use std::collections::HashMap;

use serde::Serialize;

use crate::binary::pclntab::{uvarints, FUNCDATA_OPEN_CODED_DEFER_INFO};
use crate::goruntime::goroutine::G;
use crate::goruntime::syncstate::{rwmutex_readers, MutexState};
use crate::session::Session;
use crate::unwind::{self, PhysFrame};

/// One goroutine that holds (or could release) the object.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Holder {
    pub id: u64,
    /// "certain", "likely" or "unknown".
    pub confidence: String,
    pub evidence: String,
}

/// Functions whose pending defer proves the goroutine will release the
/// object: it holds the lock, or it is one of the Done calls a
/// WaitGroup's counter still waits for.
const UNLOCKS: &[&str] = &[
    "sync.(*Mutex).Unlock",
    "sync.(*RWMutex).Unlock",
    "sync.(*RWMutex).RUnlock",
    "internal/sync.(*Mutex).Unlock",
    "sync.(*WaitGroup).Done",
];

impl Session {
    /// Physical frames of a goroutine (re-unwound; cheap, cached symbols).
    pub fn phys_frames(&self, g: &G) -> Vec<PhysFrame> {
        let (start, _, _) = self.start_regs(g);
        self.unwind_at(g, start).frames
    }

    /// Function values of the defers pending in `g`, each with the frame
    /// that registered it.
    fn pending_defers(&self, g: &G, frames: &[PhysFrame]) -> Vec<(u64, Option<PhysFrame>)> {
        let mut out = Vec::new();
        // Open-coded defers: a bit per defer at varp-deferBitsOffset, the
        // function values in slots below varp (go1.22+), or at per-defer
        // offsets (go1.21).
        for pf in frames {
            let Some(info) = self
                .rt
                .pcln
                .funcdata(&pf.func, FUNCDATA_OPEN_CODED_DEFER_INFO)
            else {
                continue;
            };
            // A few uvarints; take what the segment has room for.
            let Some(bytes) = [64usize, 32, 16, 8]
                .into_iter()
                .find_map(|n| self.rt.pcln.target_bytes(info, n))
            else {
                continue;
            };
            let mut varp = pf.fp.saturating_sub(8);
            if varp > pf.sp {
                varp -= 8; // the saved frame pointer
            }
            let Some(head) = uvarints(bytes, 2) else {
                continue;
            };
            let Ok(bits) = self.target.read_u8(varp.wrapping_sub(u64::from(head[0]))) else {
                continue;
            };
            if self.rt.version.at_least(22) {
                let slots = varp.wrapping_sub(u64::from(head[1]));
                for i in 0..8u64 {
                    if bits & (1 << i) != 0 {
                        if let Ok(fv) = self.target.read_u64(slots + i * 8) {
                            out.push((fv, Some(*pf)));
                        }
                    }
                }
            } else {
                // go1.21: deferBitsOffset, nDefers, then one closure offset per
                // defer, the first for the highest index.
                let n = head[1] as usize;
                let Some(all) = uvarints(bytes, 2 + n.min(8)) else {
                    continue;
                };
                for (k, off) in all[2..].iter().enumerate() {
                    let i = n - 1 - k;
                    if bits & (1 << i) != 0 {
                        if let Ok(fv) = self.target.read_u64(varp.wrapping_sub(u64::from(*off))) {
                            out.push((fv, Some(*pf)));
                        }
                    }
                }
            }
        }
        // Defer records on the g (heap-allocated or stack-allocated).
        let (Some(fn_off), Some(link_off), Some(sp_off)) = (
            self.rt.layouts.try_field("runtime._defer", "fn"),
            self.rt.layouts.try_field("runtime._defer", "link"),
            self.rt.layouts.try_field("runtime._defer", "sp"),
        ) else {
            return out;
        };
        let mut d = g.defer;
        let mut seen = Vec::new();
        while d != 0 && seen.len() < 1024 && !seen.contains(&d) {
            seen.push(d);
            if let Ok(fv) = self.target.read_u64(d + fn_off.offset) {
                let sp = self.target.read_u64(d + sp_off.offset).unwrap_or(0);
                out.push((fv, frames.iter().find(|f| f.sp == sp).copied()));
            }
            d = self.target.read_u64(d + link_off.offset).unwrap_or(0);
        }
        out
    }

    /// If the deferred function value `fv` unlocks something: the Unlock it
    /// inlines or calls, and the addresses it may unlock — the closure's
    /// captured pointer and every RIP-relative address its code uses (a
    /// global mutex needs no capture).
    fn defer_unlock_targets(&self, fv: u64) -> Option<(String, Vec<u64>)> {
        let pc = self.target.read_u64(fv).ok()?;
        let f = self.rt.pcln.find_func(pc)?;
        let end = self.rt.pcln.func_end(&f).min(f.entry + 4096);
        let code = self
            .rt
            .pcln
            .target_bytes(f.entry, (end.saturating_sub(f.entry)) as usize)?;
        let mut unlock = None;
        // Inlined Unlock (go1.22+ deferwrap) …
        for idx in 0..64 {
            let Some(ic) = self.rt.pcln.inlined_call(&f, idx) else {
                break;
            };
            let name = self.rt.pcln.name_at(ic.name_off);
            if UNLOCKS.contains(&name) {
                unlock = Some(name.to_string());
                break;
            }
        }
        // … or a call to it (go1.21 wrappers).
        if unlock.is_none() {
            for i in 0..code.len().saturating_sub(5) {
                if code[i] != 0xe8 {
                    continue;
                }
                let rel = i32::from_le_bytes(code[i + 1..i + 5].try_into().ok()?);
                let target = (f.entry + i as u64 + 5).wrapping_add(rel as i64 as u64);
                if let Some(tf) = self.rt.pcln.find_func(target) {
                    let name = self.rt.pcln.func_name(&tf);
                    if UNLOCKS.contains(&name) {
                        unlock = Some(name.to_string());
                        break;
                    }
                }
            }
        }
        let unlock = unlock?;
        let mut targets: Vec<u64> = self.target.read_u64(fv + 8).ok().into_iter().collect();
        for i in 0..code.len().saturating_sub(5) {
            // ModRM with mod=00, rm=101: RIP-relative disp32.
            if code[i] & 0xc7 == 0x05 {
                if let Some(disp) = code[i + 1..i + 5].try_into().ok().map(i32::from_le_bytes) {
                    targets.push((f.entry + i as u64 + 5).wrapping_add(disp as i64 as u64));
                }
            }
        }
        Some((unlock, targets))
    }

    /// Where a frame is, as "in F file:line".
    fn frame_desc(&self, pf: &PhysFrame) -> String {
        let lf = unwind::logical_frames(&self.rt, &self.sym, pf);
        lf.last()
            .map(|l| format!(" in {} {}:{}", l.name, short(&l.file), l.line))
            .unwrap_or_default()
    }

    /// The locks each goroutine will release when its pending defers run:
    /// object address → (goroutine id, evidence). One pass over all
    /// goroutines, so deadlock detection stays linear.
    pub fn deferred_unlocks(&self) -> HashMap<u64, Vec<(u64, String)>> {
        let mut map: HashMap<u64, Vec<(u64, String)>> = HashMap::new();
        for g in self.all_gs().iter().flatten().filter(|g| !g.is_dead()) {
            let frames = self.phys_frames(g);
            let released = self.lock_released_in_cond_wait(g);
            for (fv, frame) in self.pending_defers(g, &frames) {
                let Some((unlock, mut targets)) = self.defer_unlock_targets(fv) else {
                    continue;
                };
                targets.retain(|t| Some(*t) != released);
                let at = frame.map(|pf| self.frame_desc(&pf)).unwrap_or_default();
                for t in targets {
                    let e = map.entry(t).or_default();
                    if !e.iter().any(|(id, _)| *id == g.goid) {
                        e.push((g.goid, format!("deferred {unlock}{at}")));
                    }
                }
            }
        }
        map
    }

    /// The lock state bits of a Mutex or RWMutex, in words: "mutex is
    /// locked (state 0x9), 1 waiter".
    fn lock_state(&self, obj: u64, kind: &str) -> Option<String> {
        // sync.Mutex's state is its first word in every release (go1.24
        // moved it into internal/sync.Mutex, still at offset 0).
        let state = self.target.read_u32(obj).ok()? as i32;
        if kind == "mutex" {
            return Some(describe_mutex("mutex", state));
        }
        let field = |name: &str, fallback: u64| {
            self.rt
                .layouts
                .try_field("sync.RWMutex", name)
                .map(|f| f.offset)
                .unwrap_or(fallback)
        };
        let rc = self.target.read_u32(obj + field("readerCount", 16)).ok()? as i32;
        let rw = self.target.read_u32(obj + field("readerWait", 20)).ok()? as i32;
        Some(describe_rwmutex(state, rc, rw))
    }

    /// Holders of a mutex-like object, and goroutines that reference other
    /// objects (channels, wait groups, conds) and could unblock them; the
    /// certain first, then the likely, then the unknown.
    pub fn holders_of(&self, obj: u64, kind: &str, exclude: &[u64]) -> Vec<Holder> {
        let mut out: Vec<Holder> = Vec::new();
        if obj == 0 {
            return out;
        }
        let lockish = matches!(kind, "mutex" | "rwmutex read" | "rwmutex write");
        // A pending deferred Unlock (locks) or Done (WaitGroups) is proof.
        let released_by_defer = lockish || kind == "waitgroup";
        let ty = match kind {
            "mutex" => "sync.Mutex",
            "rwmutex read" | "rwmutex write" => "sync.RWMutex",
            "waitgroup" => "sync.WaitGroup",
            "cond" => "sync.Cond",
            "semaphore" => "uint32",
            _ => "chan",
        };
        let state = if lockish {
            self.lock_state(obj, kind)
                .map(|s| format!("; {s}"))
                .unwrap_or_default()
        } else {
            String::new()
        };
        for g in self
            .all_gs()
            .iter()
            .flatten()
            .filter(|g| !g.is_dead() && !exclude.contains(&g.goid))
        {
            let frames = self.phys_frames(g);
            if released_by_defer && self.lock_released_in_cond_wait(g) != Some(obj) {
                let hit = self
                    .pending_defers(g, &frames)
                    .into_iter()
                    .find_map(|(fv, frame)| {
                        let (unlock, targets) = self.defer_unlock_targets(fv)?;
                        targets.contains(&obj).then_some((unlock, frame))
                    });
                if let Some((unlock, frame)) = hit {
                    let at = frame.map(|pf| self.frame_desc(&pf)).unwrap_or_default();
                    out.push(Holder {
                        id: g.goid,
                        confidence: "certain".into(),
                        evidence: format!("deferred {unlock}{at}"),
                    });
                    continue;
                }
            }
            // A variable of one of its frames that references the object.
            if let Some(l) = self.local_name(&frames, obj, ty) {
                out.push(Holder {
                    id: g.goid,
                    confidence: "likely".into(),
                    evidence: format!(
                        "{} {} ({}) of {} {}:{} references it{}{state}",
                        if l.param { "argument" } else { "local" },
                        l.var,
                        l.var_type,
                        l.scope,
                        short(&l.file),
                        l.line,
                        if l.expr == l.var {
                            String::new()
                        } else {
                            format!(" as {}", l.expr)
                        },
                    ),
                });
                continue;
            }
            // A bare reference from the used part of the stack, in no
            // variable DWARF describes (or a binary without DWARF).
            let sp = frames.first().map(|f| f.sp).unwrap_or(g.stack_lo);
            let (start, words) = self.stack_words_at(g, sp);
            let hit = words.iter().position(|&w| w == obj);
            if let Some(i) = hit {
                let at = start + i as u64 * 8;
                let frame = frames.iter().find(|f| at >= f.sp && at < f.fp);
                let desc = frame
                    .map(|pf| {
                        let lf = unwind::logical_frames(&self.rt, &self.sym, pf);
                        lf.last()
                            .map(|l| format!(" in {} {}:{}", l.name, short(&l.file), l.line))
                            .unwrap_or_default()
                    })
                    .unwrap_or_default();
                out.push(Holder {
                    id: g.goid,
                    confidence: "unknown".into(),
                    evidence: format!("references the object{desc}{state}"),
                });
            }
        }
        let rank = |c: &str| match c {
            "certain" => 0,
            "likely" => 1,
            _ => 2,
        };
        out.sort_by_key(|h| rank(&h.confidence));
        out
    }
}

fn plural(n: i32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A sync.Mutex state word: mutexLocked (1), mutexWoken (2),
/// mutexStarving (4), waiters from bit 3 up.
fn describe_mutex(what: &str, st: i32) -> String {
    let m = MutexState::from_state(st as u32);
    let mut s = format!(
        "{what} is {} (state {st:#x})",
        if m.locked { "locked" } else { "unlocked" }
    );
    if m.waiters > 0 {
        s.push_str(&format!(
            ", {} waiter{}",
            m.waiters,
            plural(m.waiters as i32)
        ));
    }
    if m.starving {
        s.push_str(", starving");
    }
    s
}

/// An RWMutex: its writer mutex w's state, readerCount (minus
/// rwmutexMaxReaders while a writer is pending or holds it; readers queued
/// behind that writer count too) and readerWait (the earlier readers the
/// writer still waits for).
fn describe_rwmutex(w_state: i32, rc: i32, rw: i32) -> String {
    let readers = match rwmutex_readers(rc) {
        (true, n) => format!(
            "a writer is pending or holds it; {n} reader{} hold or wait",
            plural(n)
        ),
        (false, n) => format!("{n} reader{} hold it", plural(n)),
    };
    format!(
        "{}; readerCount {rc} ({readers}), readerWait {rw}",
        describe_mutex("writer mutex w", w_state)
    )
}

fn short(f: &str) -> &str {
    f.rsplit('/').next().unwrap_or(f)
}

#[cfg(test)]
mod tests {
    use super::{describe_mutex, describe_rwmutex};

    #[test]
    fn mutex_state_bits_in_words() {
        assert_eq!(describe_mutex("mutex", 0), "mutex is unlocked (state 0x0)");
        assert_eq!(
            describe_mutex("mutex", 0x9),
            "mutex is locked (state 0x9), 1 waiter"
        );
        assert_eq!(
            describe_mutex("mutex", 0x1d),
            "mutex is locked (state 0x1d), 3 waiters, starving"
        );
    }

    #[test]
    fn rwmutex_readers_and_pending_writer() {
        assert_eq!(
            describe_rwmutex(0, 2, 0),
            "writer mutex w is unlocked (state 0x0); readerCount 2 (2 readers hold it), readerWait 0"
        );
        assert_eq!(
            describe_rwmutex(1, -(1 << 30) + 2, 1),
            "writer mutex w is locked (state 0x1); readerCount -1073741822 (a writer is pending or holds it; 2 readers hold or wait), readerWait 1"
        );
        // Corrupt counts must not overflow.
        describe_rwmutex(i32::MIN, i32::MIN, i32::MIN);
    }
}
