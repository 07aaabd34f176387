//! A target owned by a host debugger (gdb, LLDB): the debugger has the
//! process stopped (it is the ptrace tracer, so we must not attach again)
//! and knows its threads and registers; we only read memory.
//!
//! Memory comes either from the local process directly
//! (`process_vm_readv`, else `/proc/PID/mem`; both work from inside the
//! tracer, or as root) or, for remote targets, through a read function the
//! frontend supplies (the debugger's own memory API), behind a page cache.
//! The frontend builds a new `HostTarget` at every stop, which drops the
//! cache.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::memory::cache::CachedMemory;
use crate::memory::{procmem, Memory, OsThread, Target};

/// Reads `buf.len()` bytes at an address; returns how many leading bytes
/// were read (0 when none are readable).
pub type ReadFn = Box<dyn Fn(u64, &mut [u8]) -> Result<usize> + Send + Sync>;

/// Where a host target's bytes come from.
enum Source {
    /// The local process, read directly.
    Local {
        pid: i32,
        mem: Option<std::fs::File>,
    },
    /// The debugger's memory API, page-cached.
    Callback(CachedMemory<ReadThrough>),
}

/// Adapts a [`ReadFn`] to [`Memory`].
pub struct ReadThrough(ReadFn);

impl Memory for ReadThrough {
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        match (self.0)(addr, buf)? {
            n if n == buf.len() => Ok(()),
            _ => Err(Error::Unreadable {
                addr,
                len: buf.len(),
                context: "through the debugger".into(),
            }),
        }
    }

    fn read_partial(&self, addr: u64, buf: &mut [u8]) -> Result<usize> {
        (self.0)(addr, buf)
    }
}

/// A stopped process as a host debugger presents it.
pub struct HostTarget {
    source: Source,
    pid: i32,
    threads: Vec<OsThread>,
    exe: Option<PathBuf>,
    what: String,
}

impl HostTarget {
    /// The local process `pid`, stopped by the debugger, with the threads
    /// the debugger reports.
    pub fn local(pid: i32, threads: Vec<OsThread>, exe: Option<PathBuf>) -> Result<Self> {
        let mem = std::fs::File::open(format!("/proc/{pid}/mem")).ok();
        let target = HostTarget {
            source: Source::Local { pid, mem },
            pid,
            threads,
            exe,
            what: format!("process {pid} (stopped by the debugger)"),
        };
        Ok(target)
    }

    /// A target whose memory is read with `read` (a remote target): `what`
    /// describes it in messages ("remote target localhost:1234").
    pub fn through(
        read: ReadFn,
        pid: i32,
        threads: Vec<OsThread>,
        exe: Option<PathBuf>,
        what: String,
    ) -> Self {
        HostTarget {
            source: Source::Callback(CachedMemory::new(ReadThrough(read))),
            pid,
            threads,
            exe,
            what,
        }
    }

    fn local_read(pid: i32, mem: Option<&std::fs::File>, addr: u64, buf: &mut [u8]) -> usize {
        procmem::read_prefix(pid, mem, addr, buf, true).0
    }
}

impl Memory for HostTarget {
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        match &self.source {
            Source::Local { pid, mem } => {
                let got = if buf.is_empty() {
                    0
                } else {
                    Self::local_read(*pid, mem.as_ref(), addr, buf)
                };
                super::all_read(addr, buf.len(), got)
            }
            // The cache reads whole pages; a page only partly readable
            // (an odd remote mapping) is read as asked instead.
            Source::Callback(c) => c
                .read_exact(addr, buf)
                .or_else(|_| c.inner().read_exact(addr, buf)),
        }
    }

    fn read_partial(&self, addr: u64, buf: &mut [u8]) -> Result<usize> {
        match &self.source {
            Source::Local { pid, mem } => Ok(Self::local_read(*pid, mem.as_ref(), addr, buf)),
            // Bulk reads (stack images) go to the debugger in one call.
            Source::Callback(c) => c.inner().read_partial(addr, buf),
        }
    }
}

impl Target for HostTarget {
    fn threads(&self) -> Result<Vec<OsThread>> {
        Ok(self.threads.clone())
    }
    fn executable_path(&self) -> Option<PathBuf> {
        self.exe.clone()
    }
    fn pid(&self) -> i32 {
        self.pid
    }
    fn local_pid(&self) -> Option<i32> {
        matches!(self.source, Source::Local { .. }).then_some(self.pid)
    }
    fn describe(&self) -> String {
        self.what.clone()
    }
    fn auxv(&self) -> Option<Vec<(u64, u64)>> {
        if matches!(self.source, Source::Callback(_)) && self.pid <= 0 {
            return None;
        }
        procmem::proc_auxv(self.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory_and_through_a_callback() {
        let data: Vec<u8> = (0..=255u8).collect();
        let addr = data.as_ptr() as u64;
        let me = HostTarget::local(std::process::id() as i32, Vec::new(), None).unwrap();
        let mut buf = [0u8; 16];
        me.read_exact(addr + 10, &mut buf).unwrap();
        assert_eq!(buf[0], 10);
        let copy = data.clone();
        let base = 0x1000u64;
        let cb = HostTarget::through(
            Box::new(move |a, b: &mut [u8]| {
                let off = a
                    .checked_sub(base)
                    .map(|o| o as usize)
                    .unwrap_or(usize::MAX);
                let n = copy.len().saturating_sub(off).min(b.len());
                if n > 0 {
                    b[..n].copy_from_slice(&copy[off..off + n]);
                }
                Ok(n)
            }),
            0,
            Vec::new(),
            None,
            "test".into(),
        );
        assert_eq!(cb.read_u8(base + 200).unwrap(), 200);
        assert!(cb.read_u64(base + 252).is_err());
        assert_eq!(cb.read_partial(base + 250, &mut buf).unwrap(), 6);
    }
}
