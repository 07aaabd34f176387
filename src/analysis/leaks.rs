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
#[derive(Debug, Clone)]
struct Span {
    start: u64,
    end: u64,
    elemsize: u64,
    noscan: bool,
    /// Slots below `freeindex` are allocated; above it, those whose
    /// `allocBits` bit is set (runtime/mbitmap.go, mgcsweep.go).
    freeindex: u64,
    nelems: u64,
    /// `allocBits`, one bit a slot; `None` when unreadable (every slot
    /// then counts as allocated: over-marking is the safe direction).
    alloc_bits: Option<Box<[u8]>>,
}

impl Span {
    /// Whether slot `i` holds an allocated object. A free slot keeps the
    /// stale words of whatever it held before, which must not make
    /// anything reachable.
    fn allocated(&self, i: u64) -> bool {
        if i >= self.nelems {
            return false;
        }
        if i < self.freeindex {
            return true;
        }
        match &self.alloc_bits {
            Some(b) => b
                .get((i / 8) as usize)
                .is_some_and(|byte| byte >> (i % 8) & 1 == 1),
            None => true,
        }
    }
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
        let (freeindex_f, nelems_f, alloc_bits_f) =
            (f("freeindex")?, f("nelems")?, f("allocBits")?);
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
            let end = start + npages * PAGE;
            let nelems = get(nelems_f).min((end - start) / elemsize);
            let bits_at = get(alloc_bits_f);
            let mut bits = vec![0u8; nelems.div_ceil(8) as usize];
            let alloc_bits = (bits_at != 0 && mem.read_exact(bits_at, &mut bits).is_ok())
                .then(|| bits.into_boxed_slice());
            spans.push(Span {
                start,
                end,
                elemsize,
                noscan: get(class_f) & 1 == 1,
                freeindex: get(freeindex_f),
                nelems,
                alloc_bits,
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
        let slot = (p - s.start) / s.elemsize;
        if !s.allocated(slot) {
            return None;
        }
        Some((s.start + slot * s.elemsize, s.elemsize, !s.noscan))
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
    /// With GOROSCOPE_TRACE_LEAKS set: what first reached each marked
    /// object (a root's label, or the referring object), for explaining a
    /// reachability verdict.
    trace: Option<HashMap<u64, String>>,
    /// The root or object being scanned, for `trace`.
    scanning: String,
    /// Heap objects scanned by their layout's pointer fields only.
    typed: HashMap<u64, std::sync::Arc<Vec<u64>>>,
}

impl Marker<'_> {
    /// Marks what the words of `bytes` (read at `at`; 0 for registers)
    /// point to.
    fn scan_words(&mut self, at: u64, bytes: &[u8]) {
        for (i, c) in bytes.chunks_exact(8).enumerate() {
            let p = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            if let Some((base, size, scan)) = self.heap.object_of(p) {
                if self.marked.len() < MAX_MARKED
                    && self.marked.insert(base)
                    && self.traced(base, at + i as u64 * 8)
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

    /// Records who reached `base` (tracing only); always true.
    fn traced(&mut self, base: u64, word: u64) -> bool {
        if let Some(t) = &mut self.trace {
            t.insert(base, format!("{} (word {word:#x})", self.scanning));
        }
        true
    }

    /// The chain of referrers that reached `obj`, root last.
    fn path_to(&self, obj: u64) -> String {
        let Some(t) = &self.trace else {
            return String::new();
        };
        let mut out = vec![format!("{obj:#x}")];
        let mut cur = obj;
        while let Some(by) = t.get(&cur) {
            out.push(by.clone());
            let referrer = by
                .strip_prefix("object 0x")
                .and_then(|h| h.split(' ').next())
                .and_then(|h| u64::from_str_radix(h, 16).ok());
            match referrer {
                Some(next) if out.len() < 64 => cur = next,
                _ => break,
            }
        }
        out.join(" <- ")
    }

    fn scan_range(&mut self, start: u64, end: u64) {
        let mut at = start;
        while at < end {
            let n = (end - at).min(1 << 20) as usize;
            let mut buf = vec![0u8; n];
            let got = self.s.target.read_partial(at, &mut buf).unwrap_or(0);
            self.scan_words(at, &buf[..got]);
            if got < n {
                break;
            }
            at += n as u64;
        }
    }

    fn drain(&mut self) {
        while let Some((base, size)) = self.work.pop() {
            if self.trace.is_some() {
                self.scanning = format!("object {base:#x}");
            }
            match self.typed.get(&base).cloned() {
                Some(offs) => self.scan_offsets(base, size, &offs),
                None => self.scan_range(base, base + size),
            }
        }
    }

    /// Scans only the words at `offs` of the object at `base` (a runtime
    /// struct whose pointer fields its layout names).
    fn scan_offsets(&mut self, base: u64, size: u64, offs: &[u64]) {
        let mut buf = vec![0u8; size.min(1 << 20) as usize];
        let got = self.s.target.read_partial(base, &mut buf).unwrap_or(0);
        for &o in offs {
            let o = o as usize;
            if o + 8 <= got {
                let word: [u8; 8] = buf[o..o + 8].try_into().unwrap_or([0; 8]);
                self.scan_words(base + o as u64, &word);
            }
        }
    }

    /// Scans `[start, end)` at the words whose bit is set in the GC's
    /// pointer mask for it (`moduledata.gcdatamask`/`gcbssmask`), as the
    /// runtime does; conservatively when the mask cannot be read.
    fn scan_masked(&mut self, start: u64, end: u64, mask: Option<Vec<u8>>) {
        let Some(mask) = mask else {
            return self.scan_range(start, end);
        };
        let mut buf = vec![0u8; (end - start) as usize];
        let got = self.s.target.read_partial(start, &mut buf).unwrap_or(0);
        for (i, w) in buf[..got].chunks_exact(8).enumerate() {
            if mask.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1) {
                self.scan_words(start + i as u64 * 8, w);
            }
        }
    }
}

/// A module's GC pointer mask (`bitvector{n int32; bytedata *uint8}`),
/// when it is there and covers `words` words.
fn pointer_mask(s: &Session, md: u64, field: &str, words: u64) -> Option<Vec<u8>> {
    let loc = s.rt.layouts.try_field("runtime.moduledata", field)?;
    let n = s.target.read_u32(md + loc.offset).ok()? as u64;
    let data = s.target.read_u64(md + loc.offset + 8).ok()?;
    if n < words || data == 0 || n > 1 << 33 {
        return None;
    }
    let mut mask = vec![0u8; words.div_ceil(8) as usize];
    s.target.read_exact(data, &mut mask).ok()?;
    Some(mask)
}

/// The runtime's own structs in the heap (each P, each M), with the
/// offsets of their pointer fields: they hold page addresses and handles
/// as uintptrs that a word-by-word scan would take for references.
/// Keyed by the heap object's base: the struct may start after the
/// object's 8-byte malloc header (go1.22+ objects over 512 bytes), so the
/// offsets are shifted by where it starts.
fn typed_runtime_objects(s: &Session, heap: &Heap) -> HashMap<u64, std::sync::Arc<Vec<u64>>> {
    let mut out = HashMap::new();
    let offsets = |ty: &str| crate::goruntime::ptrmask::pointer_offsets(&s.rt.layouts, ty);
    let mut add = |addr: u64, offs: &[u64]| {
        if let Some((base, _, _)) = heap.object_of(addr) {
            let shift = addr - base;
            out.insert(
                base,
                std::sync::Arc::new(offs.iter().map(|o| o + shift).collect()),
            );
        }
    };
    if let Some(offs) = offsets("runtime.m") {
        for m in &s.ms {
            add(m.addr, &offs);
        }
    }
    if let (Some(offs), Ok(allp)) = (offsets("runtime.p"), s.rt.symbol("runtime.allp")) {
        let mem = s.target.as_ref();
        if let (Ok(ptr), Ok(len)) = (mem.read_u64(allp), mem.read_u64(allp + 8)) {
            for i in 0..len.min(1 << 16) {
                if let Ok(p) = mem.read_u64(ptr + i * 8) {
                    add(p, &offs);
                }
            }
        }
    }
    out
}

/// Which of the `blocked` goroutines (id → addresses of the objects they
/// wait on) can never be woken. `roots` are the goroutines that may run.
pub fn leaked(
    s: &Session,
    roots: &[&G],
    blocked: &HashMap<u64, (&G, Vec<u64>)>,
) -> Result<HashSet<u64>> {
    let heap = Heap::load(s)?;
    // Every g descriptor, the Ms' g0 and gsignal too (not on allgs): their
    // stack bounds are uintptrs that may equal some object's address.
    let gs: HashSet<u64> = s
        .all_gs()
        .iter()
        .flatten()
        .map(|g| g.addr)
        .chain(s.ms.iter().flat_map(|m| [m.g0, m.gsignal]))
        .filter(|&a| a != 0)
        .collect();
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
        trace: std::env::var_os("GOROSCOPE_TRACE_LEAKS").map(|_| HashMap::new()),
        scanning: "globals".into(),
        typed: typed_runtime_objects(s, &heap),
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
    for (a, b, mask) in [
        ("data", "edata", "gcdatamask"),
        ("bss", "ebss", "gcbssmask"),
    ] {
        let (lo, hi) = (field(a)?, field(b)?);
        if hi > lo && hi - lo < 1 << 30 {
            m.scan_masked(lo, hi, pointer_mask(s, md, mask, (hi - lo) / 8));
        }
    }
    // Thread registers may hold the only reference to an object, on a
    // thread that runs a goroutine. An idle M (no curg: parked in a futex,
    // spinning in the scheduler) holds only leftovers there, which the
    // runtime never scans either.
    let idle: HashSet<i32> =
        s.ms.iter()
            .filter(|m| m.curg == 0)
            .map(|m| m.procid as i32)
            .collect();
    let regs: Vec<u8> = s
        .threads
        .iter()
        .filter(|t| !idle.contains(&t.tid))
        .flat_map(|t| {
            let r = &t.regs;
            [
                r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12,
                r.r13, r.r14, r.r15,
            ]
        })
        .flat_map(|w| w.to_le_bytes())
        .collect();
    m.scanning = "thread registers".into();
    m.scan_words(0, &regs);
    let mut rooted: HashSet<u64> = HashSet::new();
    let scan_stack = |m: &mut Marker, g: &G| {
        m.scanning = format!("stack of goroutine {}", g.goid);
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
        m.scan_words(0, &words);
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
                if m.trace.is_some() {
                    for &o in objs {
                        if let Some((base, _, _)) = heap.object_of(o) {
                            eprintln!(
                                "goroscope: trace: goroutine {id} waits on {o:#x}: {}",
                                m.path_to(base)
                            );
                        }
                    }
                }
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
