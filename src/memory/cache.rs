//! A page cache over any `Memory`, for targets where each read is a system
//! call (live processes). Dropped and rebuilt at every stop.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::memory::Memory;

const PAGE: u64 = 4096;

/// Caches whole pages of an inner `Memory`.
pub struct CachedMemory<M: Memory> {
    inner: M,
    pages: Mutex<HashMap<u64, Option<Box<[u8]>>>>,
}

impl<M: Memory> CachedMemory<M> {
    /// Wraps `inner`.
    pub fn new(inner: M) -> Self {
        CachedMemory {
            inner,
            pages: Mutex::new(HashMap::new()),
        }
    }

    /// The wrapped memory.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    fn page(&self, base: u64) -> Option<Box<[u8]>> {
        if let Ok(pages) = self.pages.lock() {
            if let Some(p) = pages.get(&base) {
                return p.clone();
            }
        }
        let mut buf = vec![0u8; PAGE as usize];
        let page = self
            .inner
            .read_exact(base, &mut buf)
            .ok()
            .map(|_| buf.into_boxed_slice());
        if let Ok(mut pages) = self.pages.lock() {
            pages.insert(base, page.clone());
        }
        page
    }
}

impl<M: Memory> Memory for CachedMemory<M> {
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        // Large reads go straight through: they are already bulk.
        if buf.len() as u64 > 4 * PAGE {
            return self.inner.read_exact(addr, buf);
        }
        let mut done = 0usize;
        while done < buf.len() {
            let a = addr + done as u64;
            let base = a & !(PAGE - 1);
            let Some(page) = self.page(base) else {
                return Err(Error::Unreadable {
                    addr,
                    len: buf.len(),
                    context: String::new(),
                });
            };
            let off = (a - base) as usize;
            let n = (PAGE as usize - off).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&page[off..off + n]);
            done += n;
        }
        Ok(())
    }
}
