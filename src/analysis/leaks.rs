//! Offline goroutine-leak detection, after the runtime's goroutineleak
//! algorithm (runtime/mgc.go, go1.26): mark what is reachable from the
//! roots — globals, the stacks of goroutines that may still run, thread
//! registers — through the heap's in-use spans; a goroutine blocked on a
//! channel or sync object joins the roots once that object is reachable;
//! repeat to a fixed point. Blocked goroutines left over can never be woken.
//! Scanning is conservative (every aligned word may be a pointer), which can
//! only over-mark: a leak may be missed, a live goroutine is never flagged.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::goruntime::goroutine::G;
use crate::session::Session;

/// `mSpanInUse` (runtime/mheap.go, all supported releases).
const MSPAN_IN_USE: u8 = 1;
/// Page size of the Go heap.
const PAGE: u64 = 8192;
/// Bound on objects marked (corruption guard, far above real heaps).
const MAX_MARKED: usize = 200_000_000;

/// One in-use heap span.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u64,
    end: u64,
    elemsize: u64,
    noscan: bool,
}

/// The heap's in-use spans, sorted by address.
pub struct Heap {
    spans: Vec<Span>,
}

impl Heap {
    /// Reads `mheap_.allspans`.
    pub fn load(s: &Session) -> Result<Heap> {
        let rt = &s.rt;
        let mem = s.target.as_ref();
        let mheap = rt.symbol("runtime.mheap_")?;
        let allspans = rt.layouts.field("runtime.mheap", "allspans")?.offset;
        let ptr = mem.read_u64(mheap + allspans)?;
        let len = mem.read_u64(mheap + allspans + 8)?;
        if len > 100_000_000 {
            return Err(Error::Corrupt(format!("mheap_.allspans has {len} spans")));
        }
        let mut ptrs = vec![0u8; len as usize * 8];
        mem.read_exact(ptr, &mut ptrs)?;
        let f = |p: &str| rt.layouts.field("runtime.mspan", p);
        let (start_f, npages_f, elem_f, class_f, state_f) = (
            f("startAddr")?,
            f("npages")?,
            f("elemsize")?,
            f("spanclass")?,
            f("state")?,
        );
        let size = rt.layouts.size("runtime.mspan")? as usize;
        let mut buf = vec![0u8; size];
        let mut spans = Vec::new();
        for c in ptrs.chunks_exact(8) {
            let sp = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            if sp == 0 || mem.read_exact(sp, &mut buf).is_err() {
                continue;
            }
            let get =
                |l: crate::goruntime::layout::FieldLoc| crate::goruntime::layout::get_uint(&buf, l);
            if get(state_f) as u8 != MSPAN_IN_USE {
                continue;
            }
            let start = get(start_f);
            let npages = get(npages_f);
            let elemsize = get(elem_f);
            if start == 0 || npages == 0 || elemsize == 0 || npages > 1 << 24 {
                continue;
            }
            spans.push(Span {
                start,
                end: start + npages * PAGE,
                elemsize,
                noscan: get(class_f) & 1 == 1,
            });
        }
        spans.sort_by_key(|s| s.start);
        Ok(Heap { spans })
    }

    /// The heap object containing `p`: its base, size and whether it may
    /// hold pointers.
    fn object_of(&self, p: u64) -> Option<(u64, u64, bool)> {
        let i = self.spans.partition_point(|s| s.start <= p);
        let s = self.spans.get(i.checked_sub(1)?)?;
        if p >= s.end {
            return None;
        }
        let base = s.start + (p - s.start) / s.elemsize * s.elemsize;
        Some((base, s.elemsize, !s.noscan))
    }
}

/// The marking state.
struct Marker<'a> {
    s: &'a Session,
    heap: &'a Heap,
    marked: HashSet<u64>,
    work: Vec<(u64, u64)>,
    /// Goroutine descriptors: reachable through allgs, but what they point
    /// to (their sudogs, defers) matters only for goroutines that can run,
    /// whose stacks are scanned as roots.
    gs: &'a HashSet<u64>,
    /// Size of a sudog's allocation (its size class), to recognise them.
    sudog_size: u64,
}

impl Marker<'_> {
    fn scan_words(&mut self, bytes: &[u8]) {
        for c in bytes.chunks_exact(8) {
            let p = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            if let Some((base, size, scan)) = self.heap.object_of(p) {
                if self.marked.len() < MAX_MARKED
                    && self.marked.insert(base)
                    && scan
                    && !self.opaque(base, size)
                {
                    self.work.push((base, size));
                }
            }
        }
    }

    /// Objects whose pointers must not make a waited-on object reachable,
    /// as the runtime's leak detector hides sudog.elem and sudog.c: the
    /// g descriptors, and sudogs (whose first word is their g).
    fn opaque(&self, base: u64, size: u64) -> bool {
        if self.gs.contains(&base) {
            return true;
        }
        size == self.sudog_size
            && self
                .s
                .target
                .read_u64(base)
                .is_ok_and(|g| self.gs.contains(&g))
    }

    fn scan_range(&mut self, start: u64, end: u64) {
        let mut at = start;
        while at < end {
            let n = (end - at).min(1 << 20) as usize;
            let mut buf = vec![0u8; n];
            let got = self.s.target.read_partial(at, &mut buf).unwrap_or(0);
            self.scan_words(&buf[..got]);
            if got < n {
                break;
            }
            at += n as u64;
        }
    }

    fn drain(&mut self) {
        while let Some((base, size)) = self.work.pop() {
            self.scan_range(base, base + size);
        }
    }
}

/// Which of the `blocked` goroutines (id → addresses of the objects they
/// wait on) can never be woken. `roots` are the goroutines that may run.
pub fn leaked(
    s: &Session,
    roots: &[&G],
    blocked: &HashMap<u64, (&G, Vec<u64>)>,
) -> Result<HashSet<u64>> {
    let heap = Heap::load(s)?;
    let gs: HashSet<u64> = s.all_gs().iter().flatten().map(|g| g.addr).collect();
    // sudogs come from the 96-byte size class (88-byte sudog) or the
    // 112-byte one (104 bytes from go1.26).
    let sudog_size = match s.rt.layouts.size("runtime.sudog")? {
        n if n <= 96 => 96,
        n if n <= 112 => 112,
        n => n.next_multiple_of(16),
    };
    let mut m = Marker {
        s,
        heap: &heap,
        marked: HashSet::new(),
        work: Vec::new(),
        gs: &gs,
        sudog_size,
    };
    // Globals: the module's data and bss (scanned conservatively).
    let md = s.rt.symbol("runtime.firstmoduledata")?;
    let field = |f: &str| -> Result<u64> {
        let off = s.rt.layouts.field("runtime.moduledata", f)?.offset;
        s.target.read_u64(md + off)
    };
    for (a, b) in [("data", "edata"), ("bss", "ebss")] {
        let (lo, hi) = (field(a)?, field(b)?);
        if hi > lo && hi - lo < 1 << 30 {
            m.scan_range(lo, hi);
        }
    }
    // Thread registers may hold the only reference to an object.
    let regs: Vec<u8> = s
        .threads
        .iter()
        .flat_map(|t| {
            let r = &t.regs;
            [
                r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12,
                r.r13, r.r14, r.r15,
            ]
        })
        .flat_map(|w| w.to_le_bytes())
        .collect();
    m.scan_words(&regs);
    let mut rooted: HashSet<u64> = HashSet::new();
    let scan_stack = |m: &mut Marker, g: &G| {
        let (start, _, _) = s.start_regs(g);
        let lo = if start.sp >= g.stack_lo && start.sp < g.stack_hi {
            start.sp
        } else {
            g.stack_lo
        };
        m.scan_range(lo, g.stack_hi);
        // What the runtime scans with a stack: its defer and panic records.
        let words = [g.defer, g.panic]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>();
        m.scan_words(&words);
    };
    for g in roots {
        rooted.insert(g.goid);
        scan_stack(&mut m, g);
    }
    // Stacks by address, to tell whose stack a stack-allocated object is on.
    let mut stacks: Vec<(u64, u64, u64)> = roots
        .iter()
        .copied()
        .chain(blocked.values().map(|(g, _)| *g))
        .map(|g| (g.stack_lo, g.stack_hi, g.goid))
        .collect();
    stacks.sort_unstable();
    let stack_owner = |o: u64| -> Option<u64> {
        let i = stacks.partition_point(|&(lo, _, _)| lo <= o);
        let &(lo, hi, id) = stacks.get(i.checked_sub(1)?)?;
        (o >= lo && o < hi).then_some(id)
    };
    // Data and bss bounds: waiting on a global object means reachable.
    let globals = [
        (field("data")?, field("edata")?),
        (field("bss")?, field("ebss")?),
        (field("noptrdata")?, field("enoptrdata")?),
        (field("noptrbss")?, field("enoptrbss")?),
    ];
    let in_globals = |a: u64| globals.iter().any(|&(lo, hi)| a >= lo && a < hi);
    loop {
        m.drain();
        let mut progressed = false;
        for (id, (g, objs)) in blocked {
            if rooted.contains(id) {
                continue;
            }
            let reachable = objs.iter().any(|&o| {
                in_globals(o)
                    || heap
                        .object_of(o)
                        .is_some_and(|(base, _, _)| m.marked.contains(&base))
                    || stack_owner(o).is_some_and(|id| rooted.contains(&id))
            });
            if reachable {
                rooted.insert(*id);
                scan_stack(&mut m, g);
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    Ok(blocked
        .keys()
        .filter(|id| !rooted.contains(id))
        .copied()
        .collect())
}
