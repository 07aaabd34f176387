//! Runtime globals found through the code that uses them, for binaries
//! without a symbol table (`-ldflags=-s`). The pclntab still names every
//! function, and a function's RIP-relative operands are the addresses of
//! the globals it touches: `runtime.GOMAXPROCS` loads the int32
//! `gomaxprocs`, `runtime.main` stores 1e9 into `maxstacksize`. Each
//! candidate must then have the shape of what it claims to be (`allp[i].id
//! == i`, `sched` seen through two more functions' references to its
//! fields) and be the only one that does: an ambiguous or shapeless find
//! is reported as not found, never believed.

use std::collections::{BTreeSet, HashMap};

use crate::binary::pclntab::Pclntab;
use crate::binary::x86refs::{rip_refs, Access, RipRef};
use crate::error::{Error, Result};
use crate::goruntime::layout::Layouts;
use crate::memory::Memory;

/// Longest function body decoded (the runtime's biggest are ~40 KiB).
const MAX_FUNC_BYTES: u64 = 256 << 10;
/// Largest GOMAXPROCS accepted when validating `allp`.
const MAX_PROCS: u64 = 1 << 16;

/// The functions whose code is read, by name.
const FUNCS: &[&str] = &[
    "runtime.procresize",
    "runtime.GOMAXPROCS",
    "runtime.newproc1",
    "runtime.checkmcount",
    "runtime.mcommoninit",
    "runtime.semacquire1",
    "runtime.semrelease1",
    "runtime.createfing",
    "runtime.main",
];

/// What one search found: each global's address, or why it is missing.
pub struct CodeGlobals {
    pub found: Vec<(&'static str, u64)>,
    pub missing: Vec<(&'static str, String)>,
}

/// Reads the RIP-relative references of the runtime functions named in
/// [`FUNCS`].
struct Refs<'a> {
    by_func: HashMap<&'static str, Vec<RipRef>>,
    mem: &'a dyn Memory,
    /// Writable data of the module (data, bss, noptrdata, noptrbss).
    data: &'a [(u64, u64)],
}

impl Refs<'_> {
    fn of(&self, func: &str) -> Result<&[RipRef]> {
        self.by_func.get(func).map(|v| v.as_slice()).ok_or_else(|| {
            Error::Layout(format!(
                "function {func} not found in the pclntab (or its code unreadable)"
            ))
        })
    }

    fn in_data(&self, a: u64) -> bool {
        self.data.iter().any(|&(lo, hi)| a >= lo && a < hi)
    }

    /// Distinct data targets of `func`'s references that pass `keep`.
    fn targets(&self, func: &str, keep: impl Fn(&RipRef) -> bool) -> Result<BTreeSet<u64>> {
        Ok(self
            .of(func)?
            .iter()
            .filter(|r| self.in_data(r.target) && keep(r))
            .map(|r| r.target)
            .collect())
    }
}

/// Exactly one candidate, or an error naming the global and the count.
fn unique(name: &str, how: &str, mut c: Vec<u64>) -> Result<u64> {
    c.sort_unstable();
    c.dedup();
    match c.as_slice() {
        [a] => Ok(*a),
        [] => Err(Error::Layout(format!(
            "{name} not found (no symbol table; no {how})"
        ))),
        _ => Err(Error::Layout(format!(
            "{name} not found (no symbol table; {} candidates for {how}: {})",
            c.len(),
            c.iter()
                .map(|a| format!("{a:#x}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Finds allp, gomaxprocs, sched, allm, semtable, fingStatus and
/// maxstacksize.
/// `data` lists the module's writable data ranges.
pub fn find(
    pcln: &Pclntab,
    mem: &dyn Memory,
    layouts: &Layouts,
    data: &[(u64, u64)],
) -> CodeGlobals {
    let mut by_func = HashMap::new();
    for f in pcln.funcs() {
        let name = pcln.func_name(&f);
        let Some(&want) = FUNCS.iter().find(|&&n| n == name) else {
            continue;
        };
        let end = pcln.func_end(&f);
        let len = end.saturating_sub(f.entry).min(MAX_FUNC_BYTES) as usize;
        let mut code = vec![0u8; len];
        if let Ok(n) = mem.read_partial(f.entry, &mut code) {
            by_func.insert(want, rip_refs(&code[..n], f.entry));
        }
    }
    let refs = Refs { by_func, mem, data };
    let mut out = CodeGlobals {
        found: Vec::new(),
        missing: Vec::new(),
    };
    let mut record = |name: &'static str, r: Result<u64>| match r {
        Ok(a) => {
            out.found.push((name, a));
            Some(a)
        }
        Err(e) => {
            out.missing.push((name, e.to_string()));
            None
        }
    };
    let allp = record("runtime.allp", find_allp(&refs, layouts));
    let nprocs = allp.and_then(|a| mem.read_u64(a + 8).ok());
    record("runtime.gomaxprocs", find_gomaxprocs(&refs, nprocs));
    record("runtime.sched", find_sched(&refs, layouts));
    record("runtime.allm", find_allm(&refs, layouts));
    record("runtime.semtable", find_semtable(&refs));
    record("runtime.fingStatus", find_fing_status(&refs));
    record("runtime.maxstacksize", find_maxstacksize(&refs));
    out
}

/// `allp []*p`: among the 8-byte words `procresize` reads, the slice whose
/// elements are Ps numbered 0, 1, … in order.
fn find_allp(refs: &Refs, layouts: &Layouts) -> Result<u64> {
    let id = layouts.field("runtime.p", "id")?.offset;
    let status = layouts.field("runtime.p", "status")?.offset;
    let plausible = |a: u64| -> bool {
        let mem = refs.mem;
        let (Ok(ptr), Ok(len), Ok(cap)) =
            (mem.read_u64(a), mem.read_u64(a + 8), mem.read_u64(a + 16))
        else {
            return false;
        };
        if ptr == 0 || len == 0 || len > cap || cap > MAX_PROCS {
            return false;
        }
        (0..len).all(|i| {
            mem.read_u64(ptr + i * 8).is_ok_and(|p| {
                p != 0
                    && mem.read_u32(p + id).ok() == Some(i as u32)
                    && mem.read_u32(p + status).is_ok_and(|s| s <= 4)
            })
        })
    };
    let c = refs.targets("runtime.procresize", |r| {
        r.size == 8 && r.access == Access::Read
    })?;
    unique(
        "runtime.allp",
        "slice of Ps read by runtime.procresize",
        c.into_iter().filter(|&a| plausible(a)).collect(),
    )
}

/// `gomaxprocs int32`: the int32 `runtime.GOMAXPROCS` reads that
/// `procresize` also touches, holding len(allp).
fn find_gomaxprocs(refs: &Refs, nprocs: Option<u64>) -> Result<u64> {
    let both = refs.targets("runtime.procresize", |_| true)?;
    let c = refs.targets("runtime.GOMAXPROCS", |r| {
        r.size == 4 && r.access == Access::Read && both.contains(&r.target)
    })?;
    let c = c
        .into_iter()
        .filter(|&a| {
            refs.mem.read_u32(a).is_ok_and(|v| match nprocs {
                Some(n) => u64::from(v) == n,
                None => v >= 1 && u64::from(v) <= MAX_PROCS,
            })
        })
        .collect();
    unique(
        "runtime.gomaxprocs",
        "int32 read by runtime.GOMAXPROCS and runtime.procresize",
        c,
    )
}

/// `sched schedt`: `runtime.GOMAXPROCS` takes `&sched.lock`; the base that
/// gives must also be where `newproc1` finds `sched.goidgen` and
/// `checkmcount` reads `sched.maxmcount`.
fn find_sched(refs: &Refs, layouts: &Layouts) -> Result<u64> {
    let f = |n: &str| layouts.field("runtime.schedt", n).map(|l| l.offset);
    let (lock, goidgen, maxmcount) = (f("lock")?, f("goidgen")?, f("maxmcount")?);
    let newproc = refs.targets("runtime.newproc1", |_| true)?;
    let checkm = refs.targets("runtime.checkmcount", |_| true)?;
    let c = refs
        .targets("runtime.GOMAXPROCS", |r| r.access == Access::Address)?
        .into_iter()
        .filter_map(|t| t.checked_sub(lock))
        .filter(|&base| {
            newproc.contains(&(base + goidgen))
                && checkm.contains(&(base + maxmcount))
                && refs.mem.read_u32(base + maxmcount).is_ok_and(|m| m >= 1)
        })
        .collect();
    unique(
        "runtime.sched",
        "&sched.lock in runtime.GOMAXPROCS matching sched.goidgen in runtime.newproc1 and sched.maxmcount in runtime.checkmcount",
        c,
    )
}

/// `allm *m`: the word `mcommoninit` reads to link a new M in front, the
/// head of a nil-terminated list of Ms, each with its g0.
fn find_allm(refs: &Refs, layouts: &Layouts) -> Result<u64> {
    let alllink = layouts.field("runtime.m", "alllink")?.offset;
    let g0 = layouts.field("runtime.m", "g0")?.offset;
    let chain = |a: u64| -> bool {
        let mut cur = refs.mem.read_u64(a).unwrap_or(0);
        let mut n = 0;
        while cur != 0 {
            n += 1;
            if n > 100_000 || !cur.is_multiple_of(8) {
                return false;
            }
            match (
                refs.mem.read_u64(cur + g0),
                refs.mem.read_u64(cur + alllink),
            ) {
                (Ok(g), Ok(next)) if g != 0 && g.is_multiple_of(8) => cur = next,
                _ => return false,
            }
        }
        n > 0
    };
    let c = refs
        .targets("runtime.mcommoninit", |r| {
            r.size == 8 && r.access == Access::Read
        })?
        .into_iter()
        .filter(|&a| chain(a))
        .collect();
    unique("runtime.allm", "list of Ms read by runtime.mcommoninit", c)
}

/// `semtable`: the table both `semacquire1` and `semrelease1` index.
fn find_semtable(refs: &Refs) -> Result<u64> {
    let rel = refs.targets("runtime.semrelease1", |r| r.access == Access::Address)?;
    let c = refs
        .targets("runtime.semacquire1", |r| r.access == Access::Address)?
        .into_iter()
        .filter(|a| rel.contains(a))
        .collect();
    unique(
        "runtime.semtable",
        "address taken by both runtime.semacquire1 and runtime.semrelease1",
        c,
    )
}

/// `fingStatus atomic.Uint32`: the one global `createfing` touches.
fn find_fing_status(refs: &Refs) -> Result<u64> {
    let c = refs
        .targets("runtime.createfing", |r| {
            r.size == 4 || r.access == Access::Address
        })?
        .into_iter()
        .filter(|&a| refs.mem.read_u32(a).is_ok_and(|v| v < 16))
        .collect();
    unique(
        "runtime.fingStatus",
        "uint32 touched by runtime.createfing",
        c,
    )
}

/// `maxstacksize uintptr`: where `runtime.main` stores 1e9 (64-bit).
fn find_maxstacksize(refs: &Refs) -> Result<u64> {
    let c = refs
        .of("runtime.main")?
        .iter()
        .filter(|r| r.access == Access::Write && r.size == 8 && r.imm == Some(1_000_000_000))
        .map(|r| r.target)
        .collect();
    unique("runtime.maxstacksize", "store of 1e9 in runtime.main", c)
}
