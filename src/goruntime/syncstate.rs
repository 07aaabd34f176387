//! What the state words of `sync.Mutex`, `sync.RWMutex` and
//! `sync.WaitGroup` mean (sync/mutex.go, internal/sync/mutex.go,
//! sync/rwmutex.go, sync/waitgroup.go). The one place that knows the bits;
//! the values decoder (a value's note) and the analysis layer (holder
//! evidence) word them for their readers.

/// `rwmutexMaxReaders`: a writer subtracts it from `readerCount`.
pub const RWMUTEX_MAX_READERS: i32 = 1 << 30;

/// A `sync.Mutex` state word (mutexLocked, mutexWoken, mutexStarving,
/// waiters from mutexWaiterShift).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MutexState {
    pub locked: bool,
    pub woken: bool,
    pub starving: bool,
    pub waiters: u32,
}

impl MutexState {
    pub fn from_state(state: u32) -> Self {
        MutexState {
            locked: state & 1 != 0,
            woken: state & 2 != 0,
            starving: state & 4 != 0,
            waiters: state >> 3,
        }
    }
}

/// An RWMutex's `readerCount`: whether a writer is pending or holds the
/// lock (it subtracted [`RWMUTEX_MAX_READERS`]), and the readers that hold
/// it or wait behind that writer.
pub fn rwmutex_readers(reader_count: i32) -> (bool, i32) {
    if reader_count < 0 {
        (true, reader_count.wrapping_add(RWMUTEX_MAX_READERS))
    } else {
        (false, reader_count)
    }
}

/// A WaitGroup's `state`: `(counter, waiters)`, the counter in the high 32
/// bits, the waiters below (go1.25 keeps a synctest bubble flag in bit 31,
/// which `bubble_flag` masks out).
pub fn waitgroup_counts(state: u64, bubble_flag: bool) -> (i32, u32) {
    let low = if bubble_flag {
        0x7fff_ffff
    } else {
        0xffff_ffff
    };
    ((state >> 32) as u32 as i32, (state & low) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits() {
        let m = MutexState::from_state(0x1f);
        assert!(m.locked && m.woken && m.starving);
        assert_eq!(m.waiters, 3);
        assert_eq!(rwmutex_readers(2), (false, 2));
        assert_eq!(rwmutex_readers(-(1 << 30) + 2), (true, 2));
        assert_eq!(waitgroup_counts((2 << 32) | 0x8000_0001, true), (2, 1));
        assert_eq!(waitgroup_counts(u64::MAX << 32, false), (-1, 0));
    }
}
