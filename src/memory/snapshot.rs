//! A snapshot layer over a live target: while the process is stopped we
//! copy exactly what the goroutine walk needs (g structs, the used part of
//! every stack, the threads' stacks), then let the process run and decode
//! from the copies. This keeps the pause short on 100 000 goroutines.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

use crate::error::Result;
use crate::memory::arena::Arena;
use crate::memory::{Memory, OsThread, Target};

/// Copies of target memory, keyed by start address: each names its block
/// (one per prefetch), its offset there and its length.
#[derive(Default)]
struct Ranges {
    map: BTreeMap<u64, (usize, usize, usize)>,
    blocks: Vec<Arena>,
}

impl Ranges {
    fn get(&self, addr: u64, len: usize) -> Option<&[u8]> {
        // A few copies may overlap (a thread's stack top inside a run of
        // stacks): look past a nearer start that ends too soon.
        self.map
            .range(..=addr)
            .rev()
            .take(4)
            .find_map(|(start, &(block, off, have))| {
                let skip = (addr - start) as usize;
                if skip.checked_add(len)? > have {
                    return None;
                }
                let at = off + skip;
                self.blocks.get(block)?.as_slice().get(at..at + len)
            })
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

impl<T: Target> Snapshotting<T> {
    /// Copies `ranges` in one batched read into a fresh block and keeps
    /// them for later reads.
    fn copy(&self, ranges: &[(u64, usize)]) {
        let total = ranges.iter().map(|r| r.1).sum();
        let Some(mut block) = Arena::new(total) else {
            return;
        };
        let filled = self.inner.read_many_into(ranges, block.as_mut_slice());
        let Ok(mut r) = self.ranges.write() else {
            return;
        };
        let index = r.blocks.len();
        let mut off = 0;
        for (&(addr, len), got) in ranges.iter().zip(filled) {
            // Keep the longer copy when two ranges start at one address.
            let longer = r.map.get(&addr).is_none_or(|&(_, _, have)| have < got);
            if got > 0 && longer {
                r.map.insert(addr, (index, off, got));
            }
            off += len;
        }
        r.blocks.push(block);
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
    fn local_pid(&self) -> Option<i32> {
        self.inner.local_pid()
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
        self.copy(ranges);
    }
}
