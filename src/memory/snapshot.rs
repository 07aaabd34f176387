//! A snapshot layer over a live target: while the process is stopped we
//! copy exactly what the goroutine walk needs (g structs, the used part of
//! every stack, the threads' stacks), then let the process run and decode
//! from the copies. This keeps the pause short on 100 000 goroutines.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

use crate::error::Result;
use crate::memory::{Memory, OsThread, Target};

/// Copies of target memory, keyed by start address.
#[derive(Debug, Default)]
struct Ranges {
    map: BTreeMap<u64, Box<[u8]>>,
}

impl Ranges {
    fn get(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let (start, data) = self.map.range(..=addr).next_back()?;
        let off = (addr - start) as usize;
        data.get(off..off.checked_add(len)?)
    }
}

/// A target whose reads are served from prefetched copies when possible.
pub struct Snapshotting<T: Target> {
    inner: T,
    ranges: RwLock<Ranges>,
}

impl<T: Target> Snapshotting<T> {
    /// Wraps a (stopped) target.
    pub fn new(inner: T) -> Self {
        Snapshotting {
            inner,
            ranges: RwLock::new(Ranges::default()),
        }
    }
}

impl<T: Target> Memory for Snapshotting<T> {
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        if let Ok(r) = self.ranges.read() {
            if let Some(src) = r.get(addr, buf.len()) {
                buf.copy_from_slice(src);
                return Ok(());
            }
        }
        self.inner.read_exact(addr, buf)
    }

    fn read_partial(&self, addr: u64, buf: &mut [u8]) -> Result<usize> {
        if let Ok(r) = self.ranges.read() {
            if let Some(src) = r.get(addr, buf.len()) {
                buf.copy_from_slice(src);
                return Ok(buf.len());
            }
        }
        self.inner.read_partial(addr, buf)
    }
}

impl<T: Target> Target for Snapshotting<T> {
    fn threads(&self) -> Result<Vec<OsThread>> {
        self.inner.threads()
    }
    fn executable_path(&self) -> Option<PathBuf> {
        self.inner.executable_path()
    }
    fn pid(&self) -> i32 {
        self.inner.pid()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn auxv(&self) -> Option<Vec<(u64, u64)>> {
        self.inner.auxv()
    }
    fn resume(&self) -> Result<()> {
        self.inner.resume()
    }
    fn pause_duration(&self) -> Option<std::time::Duration> {
        self.inner.pause_duration()
    }
    fn prefetch(&self, ranges: &[(u64, usize)]) {
        let mut copies = Vec::with_capacity(ranges.len());
        for &(addr, len) in ranges {
            let mut buf = vec![0u8; len];
            if let Ok(n) = self.inner.read_partial(addr, &mut buf) {
                if n > 0 {
                    buf.truncate(n);
                    copies.push((addr, buf.into_boxed_slice()));
                }
            }
        }
        if let Ok(mut r) = self.ranges.write() {
            for (addr, data) in copies {
                // Keep the longer copy when two ranges start at one address.
                match r.map.get(&addr) {
                    Some(old) if old.len() >= data.len() => {}
                    _ => {
                        r.map.insert(addr, data);
                    }
                }
            }
        }
    }
}
