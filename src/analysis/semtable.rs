//! The runtime's semaphore table (`runtime.semtable`, runtime/sema.go):
//! 251 cache-line-padded roots, each a treap of sudogs keyed by semaphore
//! address (children in `prev`/`next`), each node heading a `waitlink`
//! list of the other goroutines queued on the same address. Walked once
//! per stop into "g → semaphore address": the ground truth for which
//! sync.Mutex, RWMutex or WaitGroup a goroutine sleeps on.

use std::collections::{HashMap, HashSet};

use crate::session::Session;

/// `semTabSize` in every supported release.
const SEM_TAB_SIZE: u64 = 251;
/// `cpu.CacheLinePadSize` on amd64: each root is padded to one line.
const CACHE_LINE: u64 = 64;

impl Session {
    /// Goroutines queued in the semaphore table, by g address, with the
    /// semaphore address each waits on. Empty when the table cannot be
    /// found (no symbol table) — callers then fall back to the sudog on
    /// the goroutine's stack.
    pub fn sema_waiters(&self) -> &HashMap<u64, u64> {
        self.sema_waiters
            .get_or_init(|| self.walk_semtable().unwrap_or_default())
    }

    fn walk_semtable(&self) -> Option<HashMap<u64, u64>> {
        let l = &self.rt.layouts;
        let table = self.rt.symbol("runtime.semtable").ok()?;
        let treap = l.try_field("runtime.semaRoot", "treap")?.offset;
        let root_size = l.size("runtime.semaRoot").ok()?;
        let stride = root_size.div_ceil(CACHE_LINE).max(1) * CACHE_LINE;
        let (prev, next, waitlink) = (
            l.try_field("runtime.sudog", "prev")?.offset,
            l.try_field("runtime.sudog", "next")?.offset,
            l.try_field("runtime.sudog", "waitlink")?.offset,
        );
        let read = |a: u64| {
            self.target
                .read_u64(a)
                .ok()
                .filter(|&v| v != 0 && v % 8 == 0)
        };
        // Every sudog is some goroutine's: more nodes than goroutines means
        // the walk is lost in corrupted memory.
        let bound = self.gs.len() * 2 + 64;
        let mut seen: HashSet<u64> = HashSet::new();
        let mut out = HashMap::new();
        for i in 0..SEM_TAB_SIZE {
            let mut todo: Vec<u64> = read(table + i * stride + treap).into_iter().collect();
            while let Some(node) = todo.pop() {
                if seen.len() >= bound || !seen.insert(node) {
                    continue;
                }
                let sema = self.sudog_ptr(node, "elem").unwrap_or(0);
                todo.extend([read(node + prev), read(node + next)].into_iter().flatten());
                // The node and the goroutines queued behind it.
                let mut s = Some(node);
                while let Some(cur) = s {
                    if let Some(g) = read(cur) {
                        out.insert(g, sema);
                    }
                    s = read(cur + waitlink).filter(|w| seen.len() < bound && seen.insert(*w));
                }
            }
        }
        Some(out)
    }
}
