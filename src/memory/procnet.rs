//! What a live process's fd is, from `/proc/PID/fd/N` and, for sockets,
//! the kernel's socket tables in `/proc/PID/net/` (read in the process's
//! own network namespace): the fallback when the program's own `net.netFD`
//! is out of reach. Cores carry none of this.

use std::fs;

/// An fd as /proc describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcFd {
    /// "tcp", "tcp6", "udp", "udp6", "unix", or for non-sockets what the
    /// fd links to ("pipe", "anon_inode:[eventfd]", a path).
    pub network: String,
    pub family: Option<String>,
    pub sotype: Option<String>,
    pub local: Option<String>,
    pub remote: Option<String>,
    /// A TCP socket in LISTEN, a unix socket listening.
    pub listening: bool,
}

/// Describes `fd` of process `pid`; None when /proc has no such fd.
pub fn describe_fd(pid: i32, fd: i64) -> Option<ProcFd> {
    if pid <= 0 || fd < 0 {
        return None;
    }
    let link = fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let link = link.to_string_lossy().into_owned();
    let Some(inode) = link
        .strip_prefix("socket:[")
        .and_then(|s| s.strip_suffix(']'))
        .and_then(|s| s.parse::<u64>().ok())
    else {
        let network = match link.strip_prefix("pipe:") {
            Some(_) => "pipe".to_string(),
            None => link,
        };
        return Some(ProcFd {
            network,
            family: None,
            sotype: None,
            local: None,
            remote: None,
            listening: false,
        });
    };
    for (table, net, family, sotype) in [
        ("tcp", "tcp", "inet", "stream"),
        ("tcp6", "tcp6", "inet6", "stream"),
        ("udp", "udp", "inet", "dgram"),
        ("udp6", "udp6", "inet6", "dgram"),
    ] {
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        if let Some(found) = find_inet(&text, inode) {
            return Some(ProcFd {
                network: net.into(),
                family: Some(family.into()),
                sotype: Some(sotype.into()),
                local: Some(found.0),
                remote: (found.1 != "0.0.0.0:0" && found.1 != "[::]:0").then_some(found.1),
                listening: net.starts_with("tcp") && found.2 == 0x0A,
            });
        }
    }
    if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/unix")) {
        if let Some((sotype, listening, path)) = find_unix(&text, inode) {
            return Some(ProcFd {
                network: "unix".into(),
                family: Some("unix".into()),
                sotype: Some(sotype.into()),
                local: path,
                remote: None,
                listening,
            });
        }
    }
    Some(ProcFd {
        network: "socket".into(),
        family: None,
        sotype: None,
        local: None,
        remote: None,
        listening: false,
    })
}

/// The local and remote address and the state of the socket `inode` in a
/// /proc/net/tcp-style table.
fn find_inet(text: &str, inode: u64) -> Option<(String, String, u8)> {
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 10 || cols[9].parse::<u64>().ok() != Some(inode) {
            continue;
        }
        let state = u8::from_str_radix(cols[3], 16).ok()?;
        return Some((inet_addr(cols[1])?, inet_addr(cols[2])?, state));
    }
    None
}

/// "0100007F:1F90" → "127.0.0.1:8080"; 32 hex digits for IPv6, each
/// 32-bit word in the kernel's (little-endian) byte order.
fn inet_addr(s: &str) -> Option<String> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for chunk in ip.as_bytes().chunks(8) {
        let word = u32::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    Some(match bytes.len() {
        4 => format!(
            "{}:{port}",
            std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])
        ),
        16 => {
            let a: [u8; 16] = bytes.try_into().ok()?;
            let v6 = std::net::Ipv6Addr::from(a);
            match v6.to_ipv4_mapped() {
                Some(v4) => format!("{v4}:{port}"),
                None => format!("[{v6}]:{port}"),
            }
        }
        _ => return None,
    })
}

/// The type, listening flag and path of unix socket `inode`.
fn find_unix(text: &str, inode: u64) -> Option<(&'static str, bool, Option<String>)> {
    const SO_ACCEPTCON: u32 = 0x10000;
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 7 || cols[6].parse::<u64>().ok() != Some(inode) {
            continue;
        }
        let flags = u32::from_str_radix(cols[3], 16).unwrap_or(0);
        let sotype = match cols[4] {
            "0001" => "stream",
            "0002" => "dgram",
            "0005" => "seqpacket",
            _ => "unknown",
        };
        return Some((
            sotype,
            flags & SO_ACCEPTCON != 0,
            cols.get(7).map(|p| p.to_string()),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_socket_tables_parse() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
                   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n   \
                   1: 0100007F:1F90 0100007F:D0CE 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 20 4 30 10 -1\n";
        assert_eq!(
            find_inet(tcp, 4242),
            Some(("127.0.0.1:8080".into(), "0.0.0.0:0".into(), 0x0A))
        );
        assert_eq!(
            find_inet(tcp, 4343),
            Some(("127.0.0.1:8080".into(), "127.0.0.1:53454".into(), 0x01))
        );
        assert_eq!(find_inet(tcp, 1), None);
        assert_eq!(
            inet_addr("00000000000000000000000001000000:01BB").as_deref(),
            Some("[::1]:443")
        );
        assert_eq!(
            inet_addr("0000000000000000FFFF00000100007F:0050").as_deref(),
            Some("127.0.0.1:80")
        );
        let unix = "Num       RefCount Protocol Flags    Type St Inode Path\n\
                    0000000000000000: 00000002 00000000 00010000 0001 01 5151 /run/app.sock\n\
                    0000000000000000: 00000003 00000000 00000000 0001 03 5252\n";
        assert_eq!(
            find_unix(unix, 5151),
            Some(("stream", true, Some("/run/app.sock".into())))
        );
        assert_eq!(find_unix(unix, 5252), Some(("stream", false, None)));
    }

    #[test]
    fn own_pipe_is_described() {
        let mut fds = [0i32; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let d = describe_fd(std::process::id() as i32, i64::from(fds[0])).unwrap();
        assert_eq!(d.network, "pipe");
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
