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
