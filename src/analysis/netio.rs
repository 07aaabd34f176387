//! What a goroutine in `IO wait` waits on: the runtime's pollDesc (whose
//! `rg`/`wg` holds the g), the `internal/poll.FD` and `net.netFD` around
//! it (found among the waiting goroutine's stack words and accepted only
//! when its `pd.runtimeCtx` is that pollDesc and its `Sysfd` the pollDesc's
//! fd), and from the netFD the socket's family, type, network and
//! addresses. A live process with no netFD in reach is described from
//! `/proc/PID/fd` and `/proc/PID/net/*` instead, and says so.

use serde::Serialize;

use crate::analysis::timers::{TimerAt, TimerInfo};
use crate::goruntime::goroutine::G;
use crate::session::Session;

/// The fd a goroutine waits on in the network poller.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Socket {
    pub fd: i64,
    /// "read", "write" or "accept" (a read on a listening socket).
    pub op: String,
    /// Go's network name: "tcp", "tcp6", "udp", "unix", "unixgram" …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// "inet", "inet6", "unix".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// "stream", "dgram", "seqpacket", "raw".
    #[serde(skip_serializing_if = "Option::is_none", rename = "type")]
    pub sotype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// The fd's read or write deadline (whichever this wait is bound by).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<TimerInfo>,
    /// The deadline already passed (pollDesc rd/wd = -1).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deadline_expired: bool,
    /// Where the description comes from: "netFD" (the program's own
    /// net.netFD), "poll.FD" (a non-socket fd such as a pipe), "/proc"
    /// (a live process's fd table and socket tables), or "pollDesc"
    /// (only the runtime's pollDesc: the fd number, nothing more known).
    pub source: String,
    /// What could not be read, when the description is partial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

impl Socket {
    /// "read on tcp 127.0.0.1:8080 <- 127.0.0.1:53422", "accept on tcp
    /// 127.0.0.1:8080", "write on unix /run/app.sock", "read on fd 7".
    pub fn text(&self) -> String {
        let what = match (&self.network, &self.local) {
            (Some(n), Some(l)) => format!("{n} {l}"),
            (Some(n), None) => format!("{n} fd {}", self.fd),
            (None, _) => format!("fd {}", self.fd),
        };
        let peer = match (&self.remote, self.op.as_str()) {
            (Some(r), "write") => format!(" -> {r}"),
            (Some(r), _) => format!(" <- {r}"),
            (None, _) => String::new(),
        };
        format!("{} on {what}{peer}", self.op)
    }
}

/// Which of a pollDesc's two waits a goroutine is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    Write,
}

const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;

fn family_name(f: u64) -> Option<&'static str> {
    match f {
        AF_UNIX => Some("unix"),
        AF_INET => Some("inet"),
        AF_INET6 => Some("inet6"),
        _ => None,
    }
}

fn sotype_name(t: u64) -> Option<&'static str> {
    match t {
        1 => Some("stream"),
        2 => Some("dgram"),
        3 => Some("raw"),
        5 => Some("seqpacket"),
        _ => None,
    }
}

/// The network names net.netFD.net can hold (net.Dial's and Listen's).
const NETWORKS: &[&str] = &[
    "tcp",
    "tcp4",
    "tcp6",
    "udp",
    "udp4",
    "udp6",
    "ip",
    "ip4",
    "ip6",
    "unix",
    "unixgram",
    "unixpacket",
];

/// Go's `netip`-style text for an IP given as 4 or 16 bytes (v4-mapped
/// v6 printed as v4, as net.IP.String does).
fn ip_text(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
        16 => {
            let a: [u8; 16] = b.try_into().ok()?;
            let v6 = std::net::Ipv6Addr::from(a);
            Some(match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => v6.to_string(),
            })
        }
        0 => Some(String::new()),
        _ => None,
    }
}

/// "host:port", bracketing IPv6 hosts, as net.JoinHostPort does.
fn host_port(host: &str, zone: &str, port: u64) -> String {
    let host = if zone.is_empty() {
        host.to_string()
    } else {
        format!("{host}%{zone}")
    };
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Session {
    fn field_off(&self, ty: &str, path: &str) -> Option<u64> {
        self.rt.layouts.try_field(ty, path).map(|f| f.offset)
    }

    fn word(&self, a: u64) -> Option<u64> {
        self.target.read_u64(a).ok()
    }

    /// The pollDesc whose rg or wg holds `g`, among `words` (the waiting
    /// goroutine's stack: runtime.netpollblock and poll.runtime_pollWait
    /// keep it there), with the wait's mode and the pollDesc's fd.
    fn poll_desc_of(&self, g: &G, words: &[u64]) -> Option<(u64, i64, Mode)> {
        let rg = self.field_off("runtime.pollDesc", "rg")?;
        let wg = self.field_off("runtime.pollDesc", "wg")?;
        let fd = self.field_off("runtime.pollDesc", "fd")?;
        words.iter().copied().find_map(|w| {
            if w == 0 || !w.is_multiple_of(8) {
                return None;
            }
            let mode = if self.word(w + rg) == Some(g.addr) {
                Mode::Read
            } else if self.word(w + wg) == Some(g.addr) {
                Mode::Write
            } else {
                return None;
            };
            Some((w, self.word(w + fd).unwrap_or(u64::MAX) as i64, mode))
        })
    }

    /// Describes the fd `g` waits on in `IO wait`; `words` is its stack
    /// from sp up, `frames` its functions (to tell an accept).
    /// Returns the pollDesc's address with it.
    pub(crate) fn io_wait(&self, g: &G, words: &[u64], frames: &[&str]) -> Option<(u64, Socket)> {
        let (pd, fd, mode) = self.poll_desc_of(g, words)?;
        let accept = mode == Mode::Read && frames.iter().any(|f| f.ends_with("(*netFD).accept"));
        let op = match mode {
            Mode::Write => "write",
            Mode::Read if accept => "accept",
            Mode::Read => "read",
        };
        let mut sock = Socket {
            fd,
            op: op.into(),
            network: None,
            family: None,
            sotype: None,
            local: None,
            remote: None,
            deadline: None,
            deadline_expired: false,
            source: "pollDesc".into(),
            unknown: None,
        };
        self.add_deadline(&mut sock, pd, mode);
        match self.poll_fd_on_stack(pd, fd, words) {
            Some(pfd) => {
                if !self.describe_net_fd(&mut sock, pfd) {
                    sock.source = "poll.FD".into();
                    let is_file = self
                        .field_off("internal/poll.FD", "isFile")
                        .and_then(|o| self.target.read_u8(pfd + o).ok());
                    if is_file == Some(1) {
                        sock.network = Some("file".into());
                    }
                    self.describe_from_proc(&mut sock);
                }
            }
            None => {
                if !self.describe_from_proc(&mut sock) {
                    sock.unknown = Some(
                        "no net.netFD or poll.FD for this pollDesc on the goroutine's stack \
                         (and no /proc to ask: not a live local process)"
                            .into(),
                    );
                }
            }
        }
        Some((pd, sock))
    }

    /// The fd's read or write deadline from the pollDesc (nanotime; 0 for
    /// none, -1 once expired).
    fn add_deadline(&self, sock: &mut Socket, pd: u64, mode: Mode) {
        let field = if mode == Mode::Read { "rd" } else { "wd" };
        let Some(when) = self
            .field_off("runtime.pollDesc", field)
            .and_then(|o| self.word(pd + o))
            .map(|w| w as i64)
        else {
            return;
        };
        if when < 0 {
            sock.deadline_expired = true;
        } else if when > 0 {
            sock.deadline = Some(TimerInfo::new(
                TimerAt { when, period: 0 },
                self.stop_clock(),
            ));
        }
    }

    /// An internal/poll.FD among the stack words whose pollDesc is `pd`
    /// and whose Sysfd is `fd`: the receiver of poll.(*FD).Read and of the
    /// net.(*netFD) (or os.(*File)) method that called it, live across the
    /// wait and so kept in the frame.
    fn poll_fd_on_stack(&self, pd: u64, fd: i64, words: &[u64]) -> Option<u64> {
        let ctx = self.field_off("internal/poll.FD", "pd.runtimeCtx")?;
        let sysfd = self.field_off("internal/poll.FD", "Sysfd")?;
        words.iter().copied().find(|&w| {
            w != 0
                && w.is_multiple_of(8)
                && self.word(w + ctx) == Some(pd)
                && self.word(w + sysfd) == Some(fd as u64)
        })
    }

    /// Fills network, family, type and addresses from the net.netFD at
    /// `p` (its poll.FD is its first field). False when `p` is not shaped
    /// like a netFD (an os.File's poll.FD, say).
    fn describe_net_fd(&self, sock: &mut Socket, p: u64) -> bool {
        let off = |f: &str| self.field_off("net.netFD", f);
        let (Some(fam_o), Some(typ_o), Some(net_o)) = (off("family"), off("sotype"), off("net"))
        else {
            return false;
        };
        let (Some(fam), Some(typ)) = (self.word(p + fam_o), self.word(p + typ_o)) else {
            return false;
        };
        let (Some(family), Some(sotype)) = (family_name(fam), sotype_name(typ)) else {
            return false;
        };
        let Ok(net) = self.target.read_go_string(p + net_o, 16) else {
            return false;
        };
        if !NETWORKS.contains(&net.as_str()) {
            return false;
        }
        sock.source = "netFD".into();
        sock.family = Some(family.into());
        sock.sotype = Some(sotype.into());
        sock.network = Some(net);
        let mut missing = Vec::new();
        for (field, slot) in [("laddr", &mut sock.local), ("raddr", &mut sock.remote)] {
            match off(field).map(|o| self.net_addr(p + o)) {
                Some(Ok(a)) => *slot = a,
                Some(Err(e)) => missing.push(format!("{field}: {e}")),
                None => missing.push(format!("{field}: no layout for net.netFD")),
            }
        }
        if !missing.is_empty() {
            sock.unknown = Some(missing.join("; "));
        }
        true
    }

    /// A `net.Addr` interface value at `iface`: None when nil, else its
    /// text (*TCPAddr, *UDPAddr, *IPAddr, *UnixAddr).
    fn net_addr(&self, iface: u64) -> Result<Option<String>, String> {
        let tab = self.word(iface).ok_or("unreadable interface")?;
        let data = self.word(iface + 8).ok_or("unreadable interface")?;
        if tab == 0 || data == 0 {
            return Ok(None);
        }
        let typ = self.word(tab + 8).ok_or("unreadable itab")?;
        let name =
            crate::goruntime::typedesc::type_name(self.target.as_ref(), self.rt.types_base, typ)
                .map_err(|e| format!("itab type: {e}"))?;
        let ty = name.trim_start_matches('*');
        match ty {
            "net.TCPAddr" | "net.UDPAddr" | "net.IPAddr" => {
                let ip = self
                    .field_off(ty, "IP")
                    .ok_or(format!("no layout for {ty}"))?;
                let (ptr, len) = (self.word(data + ip), self.word(data + ip + 8));
                let (Some(ptr), Some(len)) = (ptr, len) else {
                    return Err(format!("unreadable {ty}"));
                };
                let mut b = vec![0u8; len.min(16) as usize];
                if len > 16 || (len > 0 && self.target.read_exact(ptr, &mut b).is_err()) {
                    return Err(format!("{ty}.IP unreadable ({len} bytes at {ptr:#x})"));
                }
                let host = ip_text(&b).ok_or(format!("{ty}.IP has {len} bytes"))?;
                let zone = self
                    .field_off(ty, "Zone")
                    .and_then(|o| self.target.read_go_string(data + o, 64).ok())
                    .unwrap_or_default();
                if ty == "net.IPAddr" {
                    return Ok(Some(if zone.is_empty() {
                        host
                    } else {
                        format!("{host}%{zone}")
                    }));
                }
                let port = self
                    .field_off(ty, "Port")
                    .and_then(|o| self.word(data + o))
                    .ok_or(format!("{ty}.Port unreadable"))?;
                Ok(Some(host_port(&host, &zone, port)))
            }
            "net.UnixAddr" => {
                let o = self
                    .field_off(ty, "Name")
                    .ok_or("no layout for net.UnixAddr")?;
                let n = self
                    .target
                    .read_go_string(data + o, 4096)
                    .map_err(|e| format!("net.UnixAddr.Name: {e}"))?;
                Ok(Some(if n.is_empty() { "(unnamed)".into() } else { n }))
            }
            other => Err(format!("address of type {other} not decoded")),
        }
    }

    /// Fills what `/proc` tells of a live local process's fd. True when
    /// it said anything.
    fn describe_from_proc(&self, sock: &mut Socket) -> bool {
        let Some(pid) = self.target.local_pid() else {
            return false;
        };
        let Some(info) = crate::memory::procnet::describe_fd(pid, sock.fd) else {
            return false;
        };
        if sock.source == "pollDesc" {
            sock.source = "/proc".into();
        }
        sock.network = sock.network.take().or(Some(info.network));
        sock.family = sock.family.take().or(info.family);
        sock.sotype = sock.sotype.take().or(info.sotype);
        sock.local = sock.local.take().or(info.local);
        sock.remote = sock.remote.take().or(info.remote);
        if sock.op == "read" && info.listening {
            sock.op = "accept".into();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(op: &str, net: Option<&str>, l: Option<&str>, r: Option<&str>) -> Socket {
        Socket {
            fd: 7,
            op: op.into(),
            network: net.map(Into::into),
            family: None,
            sotype: None,
            local: l.map(Into::into),
            remote: r.map(Into::into),
            deadline: None,
            deadline_expired: false,
            source: "netFD".into(),
            unknown: None,
        }
    }

    #[test]
    fn text_reads_like_the_issue() {
        let s = sock(
            "read",
            Some("tcp"),
            Some("127.0.0.1:8080"),
            Some("127.0.0.1:53422"),
        );
        assert_eq!(s.text(), "read on tcp 127.0.0.1:8080 <- 127.0.0.1:53422");
        let s = sock(
            "write",
            Some("tcp"),
            Some("127.0.0.1:53422"),
            Some("127.0.0.1:8080"),
        );
        assert_eq!(s.text(), "write on tcp 127.0.0.1:53422 -> 127.0.0.1:8080");
        assert_eq!(
            sock("accept", Some("tcp"), Some("[::]:80"), None).text(),
            "accept on tcp [::]:80"
        );
        assert_eq!(sock("read", None, None, None).text(), "read on fd 7");
    }

    #[test]
    fn addresses_print_as_go_does() {
        assert_eq!(ip_text(&[127, 0, 0, 1]).unwrap(), "127.0.0.1");
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12..].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(ip_text(&mapped).unwrap(), "10.1.2.3");
        let mut lo6 = [0u8; 16];
        lo6[15] = 1;
        assert_eq!(host_port(&ip_text(&lo6).unwrap(), "", 443), "[::1]:443");
        assert_eq!(host_port("fe80::1", "eth0", 80), "[fe80::1%eth0]:80");
        assert_eq!(host_port("", "", 8080), ":8080");
        assert!(ip_text(&[1, 2, 3]).is_none());
    }
}
