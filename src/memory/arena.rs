//! Anonymous memory for bulk copies of a stopped process (the snapshot of
//! every g and stack while a live target is paused). Asking for
//! transparent huge pages makes filling it cost a page fault per 2 MiB
//! instead of per 4 KiB, which is most of the copy's cost on 100 000
//! stacks.

/// A zero-filled, page-aligned block of anonymous memory.
pub struct Arena {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the arena owns its mapping exclusively; shared access is read
// only (`as_slice`), mutation needs `&mut self`.
unsafe impl Send for Arena {}
unsafe impl Sync for Arena {}

impl Arena {
    /// Maps `len` bytes (None when `len` is 0 or the mapping fails).
    pub fn new(len: usize) -> Option<Arena> {
        if len == 0 {
            return None;
        }
        // SAFETY: a fresh private anonymous mapping; nothing else refers
        // to it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: advice on our own mapping; failure (no THP) is harmless.
        unsafe { libc::madvise(ptr, len, libc::MADV_HUGEPAGE) };
        Some(Arena {
            ptr: ptr.cast(),
            len,
        })
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr/len describe our live mapping.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: ptr/len describe our live mapping, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `new`, once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::Arena;

    #[test]
    fn maps_zeroed_writable_memory() {
        assert!(Arena::new(0).is_none());
        let mut a = Arena::new(3 << 20).expect("mmap");
        assert!(a.as_slice().iter().all(|&b| b == 0));
        a.as_mut_slice()[(3 << 20) - 1] = 7;
        assert_eq!(a.as_slice()[(3 << 20) - 1], 7);
    }
}
