//! Goroutines (`runtime.g`) and OS threads (`runtime.m`) read from
//! `runtime.allgs` and `runtime.allm`, in bulk and with bounds.

use std::collections::HashSet;

use crate::error::{Error, Result, ResultExt};
use crate::goruntime::layout::get_uint;
use crate::goruntime::runtime::GoRuntime;
use crate::memory::Memory;

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
        let l = &self.g;
        let mut buf = vec![0u8; l.size as usize];
        mem.read_exact(addr, &mut buf)
            .ctx(format!("runtime.g at {addr:#x}"))?;
        let u = |f| get_uint(&buf, f);
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

    /// Every M on `runtime.allm`, bounded and cycle-safe.
    pub fn all_ms(&self, mem: &dyn Memory) -> Result<Vec<M>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut cur = mem
            .read_u64(self.symbol("runtime.allm")?)
            .ctx("runtime.allm")?;
        while cur != 0 && seen.insert(cur) && out.len() < 1_000_000 {
            let m = self.read_m(mem, cur)?;
            let mut buf = [0u8; 8];
            mem.read_exact(cur + self.m.alllink.offset, &mut buf)
                .ctx(format!("runtime.m at {cur:#x}: alllink"))?;
            cur = u64::from_le_bytes(buf);
            out.push(m);
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
