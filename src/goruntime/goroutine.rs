//! Goroutines (`runtime.g`) and OS threads (`runtime.m`) read from
//! `runtime.allgs` and `runtime.allm`, in bulk and with bounds.

use std::collections::HashSet;

use crate::error::{Error, Result, ResultExt};
use crate::goruntime::layout::get_uint;
use crate::goruntime::runtime::GoRuntime;
use crate::memory::{Memory, OsThread};

/// Go status constants (runtime2.go; stable 1.21–1.27, 10/11 new in 1.26).
pub mod status {
    pub const IDLE: u32 = 0;
    pub const RUNNABLE: u32 = 1;
    pub const RUNNING: u32 = 2;
    pub const SYSCALL: u32 = 3;
    pub const WAITING: u32 = 4;
    pub const DEAD: u32 = 6;
    pub const COPYSTACK: u32 = 8;
    pub const PREEMPTED: u32 = 9;
    pub const LEAKED: u32 = 10;
    pub const DEADEXTRA: u32 = 11;
    pub const SCAN: u32 = 0x1000;
}

/// Upper bound on goroutines we accept from `allglen` (corruption guard).
pub const MAX_GOROUTINES: u64 = 50_000_000;

/// One goroutine as the runtime records it.
#[derive(Debug, Clone, Default)]
pub struct G {
    pub addr: u64,
    pub goid: u64,
    /// Raw atomicstatus, scan bit included.
    pub raw_status: u32,
    pub wait_reason: u8,
    pub waitsince: i64,
    pub stack_lo: u64,
    pub stack_hi: u64,
    pub sched_sp: u64,
    pub sched_pc: u64,
    pub sched_bp: u64,
    pub syscallsp: u64,
    pub syscallpc: u64,
    pub m: u64,
    pub lockedm: u64,
    pub parent_goid: u64,
    pub gopc: u64,
    pub startpc: u64,
    pub labels: u64,
    pub waiting: u64,
    pub defer: u64,
    pub panic: u64,
    pub running_cleanups: bool,
}

impl G {
    /// Status without the scan bit.
    pub fn status(&self) -> u32 {
        self.raw_status & !status::SCAN
    }
    /// Whether a GC scan bit is set.
    pub fn scanning(&self) -> bool {
        self.raw_status & status::SCAN != 0
    }
    /// Dead (or parked-for-cgo-callback) goroutines are not shown.
    pub fn is_dead(&self) -> bool {
        matches!(
            self.status(),
            status::DEAD | status::DEADEXTRA | status::IDLE
        )
    }
}

/// One M (OS thread) as the runtime records it.
#[derive(Debug, Clone, Default)]
pub struct M {
    pub addr: u64,
    pub id: i64,
    pub procid: u64,
    pub curg: u64,
    pub g0: u64,
    pub gsignal: u64,
    pub p: u64,
    pub lockedg: u64,
    pub vdso_sp: u64,
    pub vdso_pc: u64,
}

impl GoRuntime {
    /// Decodes the g at `addr`.
    pub fn read_g(&self, mem: &dyn Memory, addr: u64) -> Result<G> {
        self.read_g_into(mem, addr, &mut vec![0u8; self.g.size as usize])
    }

    /// Decodes the g at `addr`, reading it through `buf` (`g.size` bytes;
    /// reused across a walk over every g).
    pub fn read_g_into(&self, mem: &dyn Memory, addr: u64, buf: &mut [u8]) -> Result<G> {
        mem.read_exact(addr, buf)
            .ctx(format!("runtime.g at {addr:#x}"))?;
        let l = &self.g;
        let u = |f| get_uint(buf, f);
        Ok(G {
            addr,
            goid: u(l.goid),
            raw_status: u(l.atomicstatus) as u32,
            wait_reason: u(l.waitreason) as u8,
            waitsince: u(l.waitsince) as i64,
            stack_lo: u(l.stack_lo),
            stack_hi: u(l.stack_hi),
            sched_sp: u(l.sched_sp),
            sched_pc: u(l.sched_pc),
            sched_bp: u(l.sched_bp),
            syscallsp: u(l.syscallsp),
            syscallpc: u(l.syscallpc),
            m: u(l.m),
            lockedm: u(l.lockedm),
            parent_goid: u(l.parent_goid),
            gopc: u(l.gopc),
            startpc: u(l.startpc),
            labels: u(l.labels),
            waiting: u(l.waiting),
            defer: u(l.defer),
            panic: u(l.panic),
            running_cleanups: l.running_cleanups.map(|f| u(f) != 0).unwrap_or(false),
        })
    }

    /// Addresses of every g in `runtime.allgs`, dead ones included.
    pub fn allg_addrs(&self, mem: &dyn Memory) -> Result<Vec<u64>> {
        let allgs = self.symbol("runtime.allgs")?;
        let ptr = mem.read_u64(allgs).ctx("runtime.allgs")?;
        let slice_len = mem.read_u64(allgs + 8).ctx("runtime.allgs")?;
        let allglen = match self.symbol("runtime.allglen") {
            Ok(a) => mem.read_u64(a).ctx("runtime.allglen")?,
            Err(_) => slice_len,
        };
        let n = allglen.min(slice_len);
        if n > MAX_GOROUTINES {
            return Err(Error::Corrupt(format!(
                "runtime.allgs has length {n}, more than the {MAX_GOROUTINES} goroutines goroscope accepts"
            )));
        }
        let mut bytes = vec![0u8; n as usize * 8];
        mem.read_exact(ptr, &mut bytes)
            .ctx(format!("runtime.allgs array ({n} pointers)"))?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect())
    }

    /// Every M on `runtime.allm`, bounded and cycle-safe. Without a symbol
    /// table the list starts from the Ms found through the threads' TLS.
    pub fn all_ms(&self, mem: &dyn Memory, threads: &[OsThread]) -> Result<Vec<M>> {
        let starts = match self.symbol("runtime.allm") {
            Ok(a) => vec![mem.read_u64(a).ctx("runtime.allm")?],
            Err(_) => crate::goruntime::discover::ms_from_threads(mem, &self.g, &self.m, threads),
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for mut cur in starts {
            while cur != 0 && seen.insert(cur) && out.len() < 1_000_000 {
                let m = self.read_m(mem, cur)?;
                let mut buf = [0u8; 8];
                mem.read_exact(cur + self.m.alllink.offset, &mut buf)
                    .ctx(format!("runtime.m at {cur:#x}: alllink"))?;
                cur = u64::from_le_bytes(buf);
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Decodes the m at `addr`.
    pub fn read_m(&self, mem: &dyn Memory, addr: u64) -> Result<M> {
        let l = &self.m;
        let mut buf = vec![0u8; l.size as usize];
        mem.read_exact(addr, &mut buf)
            .ctx(format!("runtime.m at {addr:#x}"))?;
        let u = |f| get_uint(&buf, f);
        Ok(M {
            addr,
            id: u(l.id) as i64,
            procid: u(l.procid),
            curg: u(l.curg),
            g0: u(l.g0),
            gsignal: u(l.gsignal),
            p: u(l.p),
            lockedg: u(l.lockedg),
            vdso_sp: u(l.vdso_sp),
            vdso_pc: u(l.vdso_pc),
        })
    }
}

/// Upper bound on pprof labels read from one goroutine (corruption guard).
const MAX_LABELS: u64 = 1024;

impl GoRuntime {
    /// The pprof labels `g.labels` points to, in the order Go keeps them.
    /// go1.24+: a `labelMap{LabelSet{list []label}}` (26+: `label.Set{List}`);
    /// go1.21–1.23: a pointer to a `map[string]string` variable.
    pub fn read_labels(&self, mem: &dyn Memory, labels: u64) -> Result<Vec<(String, String)>> {
        if labels == 0 {
            return Ok(Vec::new());
        }
        if self.version.at_least(24) {
            let ptr = mem.read_u64(labels).ctx("pprof labels")?;
            let len = mem.read_u64(labels + 8).ctx("pprof labels")?;
            if len > MAX_LABELS {
                return Err(Error::Corrupt(format!(
                    "pprof label list at {labels:#x} has {len} entries"
                )));
            }
            return (0..len)
                .map(|i| {
                    let e = ptr + i * 32;
                    Ok((
                        mem.read_go_string(e, 1 << 16)?,
                        mem.read_go_string(e + 16, 1 << 16)?,
                    ))
                })
                .collect::<Result<Vec<_>>>()
                .map_err(|e| e.context("pprof labels"));
        }
        let hmap = mem.read_u64(labels).ctx("pprof label map")?;
        let mut out = self.read_string_map(mem, hmap).ctx("pprof label map")?;
        out.sort();
        Ok(out)
    }

    /// Entries of a classic (pre-swiss) `map[string]string`, bounded.
    fn read_string_map(&self, mem: &dyn Memory, hmap: u64) -> Result<Vec<(String, String)>> {
        if hmap == 0 {
            return Ok(Vec::new());
        }
        let l = &self.layouts;
        let b = mem.read_u8(hmap + l.field("runtime.hmap", "B")?.offset)?;
        if b > 16 {
            return Err(Error::Corrupt(format!("map at {hmap:#x} has B={b}")));
        }
        // bucket: tophash [8]uint8, keys [8]string, elems [8]string, overflow.
        const BUCKET: u64 = 8 + 8 * 16 + 8 * 16 + 8;
        let mut out: Vec<(String, String)> = Vec::new();
        for field in ["buckets", "oldbuckets"] {
            let base = mem.read_u64(hmap + l.field("runtime.hmap", field)?.offset)?;
            if base == 0 {
                continue;
            }
            let nb = if field == "buckets" {
                1u64 << b
            } else {
                1u64 << b.saturating_sub(1)
            };
            for i in 0..nb {
                let mut bucket = base + i * BUCKET;
                for _ in 0..1024 {
                    let mut tophash = [0u8; 8];
                    mem.read_exact(bucket, &mut tophash)?;
                    for (slot, &th) in tophash.iter().enumerate() {
                        // 0..=4 mark empty or evacuated slots (minTopHash is 5).
                        if th < 5 {
                            continue;
                        }
                        let k = mem.read_go_string(bucket + 8 + slot as u64 * 16, 1 << 16)?;
                        let v = mem.read_go_string(bucket + 8 + 128 + slot as u64 * 16, 1 << 16)?;
                        if !out.iter().any(|(ok, _)| *ok == k) {
                            out.push((k, v));
                        }
                        if out.len() as u64 > MAX_LABELS {
                            return Err(Error::Corrupt(format!(
                                "map at {hmap:#x} has too many entries"
                            )));
                        }
                    }
                    bucket = mem.read_u64(bucket + BUCKET - 8)?;
                    if bucket == 0 {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }
}
