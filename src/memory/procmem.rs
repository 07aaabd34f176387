//! Reading another process's memory and auxiliary vector, shared by the
//! live target (goroscope is the tracer) and the host target (a debugger
//! is): `process_vm_readv` first, `/proc/PID/mem` for what it refuses.

use std::os::unix::fs::FileExt;

/// One `process_vm_readv` for the whole of `buf`; returns the bytes copied
/// and the errno when the call failed.
pub fn vm_read(pid: i32, addr: u64, buf: &mut [u8]) -> (usize, Option<i32>) {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes exactly `buf`; the kernel validates the
    // remote range and never touches our memory beyond `local`.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        (
            0,
            Some(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)),
        )
    } else {
        (n as usize, None)
    }
}

/// Most iovecs one process_vm_readv takes (IOV_MAX on Linux).
const IOV_MAX: usize = 1024;

/// Reads many ranges with as few process_vm_readv calls as possible (up to
/// IOV_MAX ranges each): `bufs[i]` is filled from `addrs[i]`. Returns how
/// many bytes of each buffer were filled. A call stops at the first range
/// it cannot read; that range is left to `fallback` (a reader that tries
/// harder, e.g. through /proc/PID/mem) and batching goes on after it.
pub fn vm_read_many(
    pid: i32,
    addrs: &[u64],
    bufs: &mut [&mut [u8]],
    mut fallback: impl FnMut(u64, &mut [u8]) -> usize,
) -> Vec<usize> {
    let mut filled = vec![0usize; bufs.len()];
    let mut next = 0;
    while next < bufs.len() {
        let end = (next + IOV_MAX).min(bufs.len());
        let local: Vec<libc::iovec> = bufs[next..end]
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        let remote: Vec<libc::iovec> = (next..end)
            .map(|i| libc::iovec {
                iov_base: addrs[i] as usize as *mut libc::c_void,
                iov_len: bufs[i].len(),
            })
            .collect();
        // SAFETY: each local iovec describes exactly one of `bufs` (alive
        // and not otherwise borrowed during the call); the kernel
        // validates the remote ranges.
        let n = unsafe {
            libc::process_vm_readv(
                pid,
                local.as_ptr(),
                local.len() as libc::c_ulong,
                remote.as_ptr(),
                remote.len() as libc::c_ulong,
                0,
            )
        };
        let mut left = n.max(0) as usize;
        let mut i = next;
        while i < end && left >= bufs[i].len() {
            filled[i] = bufs[i].len();
            left -= bufs[i].len();
            i += 1;
        }
        if i < end {
            // The range the call stopped at: read it the careful way.
            filled[i] = fallback(addrs[i], bufs[i]);
            i += 1;
        }
        next = i;
    }
    filled
}

/// pread from /proc/PID/mem, which also reaches pages process_vm_readv
/// refuses (it reads with FOLL_FORCE); returns the bytes copied.
pub fn mem_read(mem: &std::fs::File, addr: u64, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        match mem.read_at(&mut buf[done..], addr + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    done
}

/// Reads the readable prefix of `[addr, addr + buf.len())` of process
/// `pid`: one process_vm_readv (skipped when `try_vm` is false), then
/// /proc/PID/mem (`mem`) from where it stopped, since process_vm_readv
/// stops at the first unreadable page and /proc/PID/mem also reads what
/// only the tracer may see. Returns the bytes read and process_vm_readv's
/// errno when it failed.
pub fn read_prefix(
    pid: i32,
    mem: Option<&std::fs::File>,
    addr: u64,
    buf: &mut [u8],
    try_vm: bool,
) -> (usize, Option<i32>) {
    let buf = clamp(addr, buf);
    let (mut done, err) = if try_vm {
        vm_read(pid, addr, buf)
    } else {
        (0, None)
    };
    if let Some(f) = mem {
        if done < buf.len() {
            done += mem_read(f, addr + done as u64, &mut buf[done..]);
        }
    }
    (done, err)
}

/// `out` cut into one slice per range, in order (`read_many_into`'s
/// layout: range i starts at the sum of the lengths before it).
pub fn split_for<'a>(ranges: &[(u64, usize)], out: &'a mut [u8]) -> Vec<&'a mut [u8]> {
    let mut rest = out;
    ranges
        .iter()
        .map(|&(_, len)| {
            let (buf, tail) = std::mem::take(&mut rest).split_at_mut(len);
            rest = tail;
            buf
        })
        .collect()
}

/// The part of `buf` that fits below the top of the address space from
/// `addr` (reads never wrap around).
pub fn clamp(addr: u64, buf: &mut [u8]) -> &mut [u8] {
    let len = (buf.len() as u64).min(u64::MAX - addr) as usize;
    &mut buf[..len]
}

/// An auxiliary vector's (type, value) pairs, up to AT_NULL.
pub fn parse_auxv(data: &[u8]) -> Vec<(u64, u64)> {
    data.chunks_exact(16)
        .map(|c| {
            let w = |i: usize| u64::from_le_bytes(c[i..i + 8].try_into().unwrap_or([0; 8]));
            (w(0), w(8))
        })
        .take_while(|&(k, _)| k != 0)
        .collect()
}

/// A local process's auxiliary vector, from /proc/PID/auxv.
pub fn proc_auxv(pid: i32) -> Option<Vec<(u64, u64)>> {
    std::fs::read(format!("/proc/{pid}/auxv"))
        .ok()
        .map(|d| parse_auxv(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory_and_auxv() {
        let src = *b"goroscope procmem";
        let mut buf = [0u8; 17];
        let (n, err) = vm_read(std::process::id() as i32, src.as_ptr() as u64, &mut buf);
        assert_eq!((n, err), (17, None));
        assert_eq!(buf, src);
        let auxv = proc_auxv(std::process::id() as i32).expect("own auxv");
        assert!(auxv.iter().any(|&(k, _)| k == libc::AT_PAGESZ), "{auxv:x?}");
    }

    #[test]
    fn reads_many_ranges_and_falls_back_where_a_call_stops() {
        let a = [7u8; 3000];
        let b = *b"second range";
        let pid = std::process::id() as i32;
        // 2 500 ranges: more than one call's worth of iovecs; every
        // 1 000th points at unmapped memory (address 8).
        let mut addrs = Vec::new();
        let mut bufs = Vec::new();
        for i in 0..2500 {
            let (addr, len) = match i % 1000 {
                999 => (8u64, 16),
                k if k % 2 == 0 => (a.as_ptr() as u64, 3000),
                _ => (b.as_ptr() as u64, b.len()),
            };
            addrs.push(addr);
            bufs.push(vec![0u8; len]);
        }
        let mut fallbacks = Vec::new();
        let mut slices: Vec<&mut [u8]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
        let filled = vm_read_many(pid, &addrs, &mut slices, |addr, _| {
            fallbacks.push(addr);
            0
        });
        assert_eq!(fallbacks, vec![8, 8]);
        for (i, buf) in bufs.iter().enumerate() {
            match i % 1000 {
                999 => assert_eq!(filled[i], 0),
                k if k % 2 == 0 => assert!(filled[i] == 3000 && buf.iter().all(|&x| x == 7)),
                _ => assert!(filled[i] == b.len() && buf[..] == b[..]),
            }
        }
    }

    #[test]
    fn auxv_stops_at_at_null_and_clamp_never_wraps() {
        let mut data = Vec::new();
        for w in [6u64, 4096, 0, 0, 9, 9] {
            data.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(parse_auxv(&data), vec![(6, 4096)]);
        let mut buf = [0u8; 32];
        assert_eq!(clamp(u64::MAX - 8, &mut buf).len(), 8);
        assert_eq!(clamp(0x1000, &mut buf).len(), 32);
    }
}
