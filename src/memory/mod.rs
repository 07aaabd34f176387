//! Target memory and threads behind one trait, so that cores, live
//! processes and (later) remote stubs run the same Go-runtime code.

pub mod arena;
pub mod cache;
pub mod core;
pub mod host;
pub mod live;
pub mod procmem;
pub mod procnet;
pub mod snapshot;

use crate::error::{Error, Result};

/// `read_exact`'s answer for a reader that got the first `got` of `want`
/// bytes at `addr`: all of them, or an Unreadable error naming the range.
pub(crate) fn all_read(addr: u64, want: usize, got: usize) -> Result<()> {
    if got >= want {
        Ok(())
    } else {
        Err(Error::Unreadable {
            addr,
            len: want,
            context: String::new(),
        })
    }
}

/// Sorts ranges and merges those that overlap or lie within `max_gap`
/// bytes of each other into runs of at most `max_len` bytes (a longer
/// range stays whole), so that neighbours (g structs in one span, small
/// stacks in one stack span) are read in one go.
pub fn coalesce(mut ranges: Vec<(u64, usize)>, max_gap: u64, max_len: u64) -> Vec<(u64, usize)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, usize)> = Vec::new();
    for (addr, len) in ranges {
        let end = addr.saturating_add(len as u64);
        if let Some(last) = out.last_mut() {
            let last_end = last.0 + last.1 as u64;
            if addr >= last.0 && addr <= last_end.saturating_add(max_gap) && end - last.0 <= max_len
            {
                last.1 = (end.max(last_end) - last.0) as usize;
                continue;
            }
        }
        out.push((addr, len));
    }
    out
}

/// A readable address space. Small required core, provided helpers.
pub trait Memory: Send + Sync {
    /// Fills `buf` from `addr` or fails with [`Error::Unreadable`].
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> Result<()>;

    /// Reads many ranges at once into `out`, one after the other (range i
    /// at the sum of the lengths before it; `out` holds them all). Returns
    /// how many leading bytes of each range were readable. Targets with a
    /// per-read cost (a live process: a system call each) batch them.
    fn read_many_into(&self, ranges: &[(u64, usize)], out: &mut [u8]) -> Vec<usize> {
        ranges
            .iter()
            .zip(procmem::split_for(ranges, out))
            .map(|(&(addr, _), buf)| self.read_partial(addr, buf).unwrap_or(0))
            .collect()
    }

    /// Reads as many leading bytes as are readable; returns how many.
    fn read_partial(&self, addr: u64, buf: &mut [u8]) -> Result<usize> {
        // Binary search would be faster; page-wise is simple and bounded.
        let mut done = 0usize;
        while done < buf.len() {
            let a = addr + done as u64;
            let page_end = ((a / 4096) + 1) * 4096;
            let n = ((page_end - a) as usize).min(buf.len() - done);
            if self.read_exact(a, &mut buf[done..done + n]).is_err() {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    /// Reads a little-endian u8.
    fn read_u8(&self, addr: u64) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read_exact(addr, &mut b)?;
        Ok(b[0])
    }
    /// Reads a little-endian u16.
    fn read_u16(&self, addr: u64) -> Result<u16> {
        let mut b = [0u8; 2];
        self.read_exact(addr, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    /// Reads a little-endian u32.
    fn read_u32(&self, addr: u64) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read_exact(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    /// Reads a little-endian u64.
    fn read_u64(&self, addr: u64) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read_exact(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    /// Reads a Go string header {ptr, len} at `addr` and its bytes, with a
    /// bound on the length so corrupt headers cannot make us allocate wildly.
    fn read_go_string(&self, addr: u64, max_len: usize) -> Result<String> {
        let ptr = self.read_u64(addr)?;
        let len = self.read_u64(addr + 8)?;
        if len as usize > max_len {
            return Err(Error::Corrupt(format!(
                "string at {addr:#x} has length {len} (limit {max_len})"
            )));
        }
        let mut buf = vec![0u8; len as usize];
        self.read_exact(ptr, &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// General-purpose registers of one OS thread (amd64 names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Regs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub eflags: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    /// The syscall number while the thread is inside a system call; -1
    /// (u64::MAX) in user mode, 0 where the source does not record it.
    pub orig_rax: u64,
}

/// One OS thread of the target with its registers at the stop.
#[derive(Debug, Clone)]
pub struct OsThread {
    /// Kernel thread id (matches `m.procid`).
    pub tid: i32,
    /// Registers at the stop.
    pub regs: Regs,
    /// Signal that stopped this thread, when the core records one (0 if none).
    pub signal: i32,
}

/// Memory plus process facts: what every frontend hands to a session.
pub trait Target: Memory {
    /// Threads and their registers.
    fn threads(&self) -> Result<Vec<OsThread>>;
    /// The executable path the target names (NT_FILE / /proc/PID/exe), if any.
    fn executable_path(&self) -> Option<std::path::PathBuf> {
        None
    }
    /// Build id of the main executable as the target mapped it, if known.
    fn mapped_build_id(&self) -> Option<Vec<u8>> {
        None
    }
    /// Signal that terminated the process (crash cores); 0 if none.
    fn crash_signal(&self) -> i32 {
        0
    }
    /// Process id (from the core's notes or the live pid).
    fn pid(&self) -> i32;
    /// The pid of a live process on this machine whose `/proc/PID` entries
    /// describe this very stop (fd table, sockets); None for cores and
    /// for processes behind a remote debugger.
    fn local_pid(&self) -> Option<i32> {
        None
    }
    /// Short description ("core file /x/core", "process 1234").
    fn describe(&self) -> String;
    /// The auxiliary vector (AT_ENTRY gives the PIE load bias), if known.
    fn auxv(&self) -> Option<Vec<(u64, u64)>> {
        procmem::proc_auxv(self.pid())
    }
    /// Copies these ranges now, while the target is stopped, so later
    /// reads are served from the copies (no-op where reads are already
    /// cheap and stable, as for cores).
    fn prefetch(&self, _ranges: &[(u64, usize)]) {}
    /// Lets a stopped live process run again (memory reads after this see
    /// a running process). No-op for cores.
    fn resume(&self) -> Result<()> {
        Ok(())
    }
    /// How long a live process has been (or was) stopped.
    fn pause_duration(&self) -> Option<std::time::Duration> {
        None
    }
    /// Drops cached or mapped pages the caller is done with (long walks
    /// over huge cores call this to keep memory flat). Default: nothing.
    fn release_pages(&self) {}
    /// The core file behind this target, when it is one.
    fn as_core(&self) -> Option<&core::CoreFile> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::coalesce;

    #[test]
    fn coalesce_merges_neighbours_within_the_gap_and_length() {
        let r = vec![
            (0x9000, 0x8000),
            (0x1180, 0x100),
            (0x3000, 0x20),
            (0x1000, 0x100),
            (0x3000, 0x10),
        ];
        assert_eq!(
            coalesce(r, 0x100, 0x4000),
            vec![(0x1000, 0x280), (0x3000, 0x20), (0x9000, 0x8000)]
        );
        // A run never grows past max_len.
        let r = vec![(0, 0x800), (0x800, 0x800), (0x1000, 0x800)];
        assert_eq!(coalesce(r, 0, 0x1000), vec![(0, 0x1000), (0x1000, 0x800)]);
        assert!(coalesce(Vec::new(), 0, 1).is_empty());
    }
}
