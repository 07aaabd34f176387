//! What each blocked goroutine waits on: the channel(s) behind its sudogs,
//! the semaphore (and so the sync.Mutex, RWMutex or WaitGroup) it sleeps
//! on, the sync.Cond notify list, the network fd, with the object named as
//! a Go expression where a global holds it, else where a parameter or local
//! of the waiting goroutine's frames does (see locals.rs).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::analysis::timers::TimerInfo;
use crate::goruntime::goroutine::{status, G};
use crate::report::Goroutine;
use crate::session::Session;

/// Bound on sudog lists (a channel may have every goroutine queued).
const MAX_SUDOGS: usize = 50_000_000;
const MAX_STACK_SCAN: u64 = 256 * 1024;

/// The object a goroutine waits on.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct WaitingOn {
    /// "chan receive", "chan send", "select", "nil chan", "select (no cases)",
    /// "mutex", "rwmutex read", "rwmutex write", "waitgroup", "semaphore",
    /// "cond", "sleep", "io", "syscall", "runtime".
    pub kind: String,
    /// A Go expression for the object (`main.accounts.mu`), or its type and
    /// address (`*sync.Mutex 0xc000012345`).
    pub name: String,
    /// Address of the object (0 when there is none).
    pub addr: u64,
    /// For `select`: every channel of the select.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChanCase>,
    /// Channel details (send/receive waits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chan: Option<ChanState>,
    /// Network I/O: the file descriptor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fd: Option<i64>,
    /// Network I/O: the socket (or pipe) behind the fd, its addresses and
    /// deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<crate::analysis::netio::Socket>,
    /// When a local or parameter names the object: the function it belongs
    /// to (`main.(*store).flush` for `s.mu`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// WaitGroup: its counter and waiter count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waitgroup: Option<WaitGroupState>,
    /// Sleep: when the timer fires, in the target's `nanotime()` clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_when: Option<i64>,
    /// The timer that will wake it: a sleep's, or the one behind a
    /// `time.Timer`/`Ticker`/`After` channel it receives from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer: Option<TimerInfo>,
    /// Syscall: the system call the goroutine's thread is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscall: Option<Syscall>,
}

/// A system call in progress, from its thread's registers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Syscall {
    /// The number (`orig_rax`) and its linux/amd64 name.
    pub number: u64,
    pub name: String,
    /// The first three arguments (rdi, rsi, rdx): an fd, a buffer, a size.
    pub args: [u64; 3],
    pub thread: i32,
}

/// A sync.WaitGroup's state word, decoded.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WaitGroupState {
    /// Done calls still outstanding (Add minus Done).
    pub counter: u32,
    /// Goroutines in Wait.
    pub waiters: u32,
}

/// One case of a select.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChanCase {
    pub dir: String,
    pub name: String,
    pub addr: u64,
    /// The function whose local names the channel, as in `WaitingOn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// This case's channel: len/cap, closed, queued goroutines.
    pub state: ChanState,
    /// The timer that sends on it, for a timer's channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer: Option<TimerInfo>,
}

/// A channel's state.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChanState {
    pub len: u64,
    pub cap: u64,
    pub closed: bool,
    /// How many goroutines are queued to receive / send (the ids are in
    /// `blocking`'s per-object lists: per goroutine they would repeat).
    pub receivers: usize,
    pub senders: usize,
}

/// A channel decoded once per stop: its state, the sudogs queued to
/// receive (to tell a select case's direction) and the queued goroutines.
#[derive(Debug)]
pub struct ChanQueues {
    pub state: ChanState,
    pub recv_sudogs: HashSet<u64>,
    pub recv_ids: Vec<u64>,
    pub send_ids: Vec<u64>,
}

impl Session {
    fn u64_at(&self, a: u64) -> Option<u64> {
        self.target.read_u64(a).ok()
    }

    fn field(&self, ty: &str, path: &str) -> Option<u64> {
        self.rt.layouts.try_field(ty, path).map(|f| f.offset)
    }

    /// sudog.elem / sudog.c, through the go1.26 maybeTraceable wrappers.
    pub(crate) fn sudog_ptr(&self, sudog: u64, field: &str) -> Option<u64> {
        let off = self
            .field("runtime.sudog", &format!("{field}.vu"))
            .or_else(|| self.field("runtime.sudog", &format!("{field}.maybeTraceablePtr.vu")))
            .or_else(|| self.field("runtime.sudog", field))?;
        self.u64_at(sudog + off)
    }

    /// The goroutine ids queued on a waitq (sudogs linked through next).
    fn waitq_goids(&self, q: u64, by_addr: &HashMap<u64, u64>) -> (Vec<u64>, HashSet<u64>) {
        let (mut ids, mut sudogs) = (Vec::new(), HashSet::new());
        let next = self.field("runtime.sudog", "next").unwrap_or(8);
        let mut cur = self.u64_at(q).unwrap_or(0);
        while cur != 0 && sudogs.len() < MAX_SUDOGS && sudogs.insert(cur) {
            if let Some(g) = self.u64_at(cur) {
                if let Some(id) = by_addr.get(&g) {
                    ids.push(*id);
                }
            }
            cur = self.u64_at(cur + next).unwrap_or(0);
        }
        (ids, sudogs)
    }

    /// A channel's state and the sudogs queued to receive, computed once
    /// per channel per stop (thousands may wait on one channel).
    pub fn chan_queues(&self, c: u64, by_addr: &HashMap<u64, u64>) -> Arc<ChanQueues> {
        if let Some(v) = self.chan_cache.lock().ok().and_then(|m| m.get(&c).cloned()) {
            return v;
        }
        let v = Arc::new(self.chan_state(c, by_addr));
        if let Ok(mut m) = self.chan_cache.lock() {
            m.insert(c, v.clone());
        }
        v
    }

    fn chan_state(&self, c: u64, by_addr: &HashMap<u64, u64>) -> ChanQueues {
        let f = |p: &str| {
            self.field("runtime.hchan", p)
                .and_then(|o| self.u64_at(c + o))
                .unwrap_or(0)
        };
        let closed = self
            .field("runtime.hchan", "closed")
            .and_then(|o| self.target.read_u32(c + o).ok())
            .unwrap_or(0);
        let (recv_ids, recv_sudogs) = self
            .field("runtime.hchan", "recvq")
            .map(|o| self.waitq_goids(c + o, by_addr))
            .unwrap_or_default();
        let (send_ids, _) = self
            .field("runtime.hchan", "sendq")
            .map(|o| self.waitq_goids(c + o, by_addr))
            .unwrap_or_default();
        ChanQueues {
            state: ChanState {
                len: f("qcount"),
                cap: f("dataqsiz"),
                closed: closed != 0,
                receivers: recv_ids.len(),
                senders: send_ids.len(),
            },
            recv_sudogs,
            recv_ids,
            send_ids,
        }
    }

    /// Every g of this stop by address, and goroutine ids by g address.
    pub fn g_index(&self) -> (HashMap<u64, &G>, HashMap<u64, u64>) {
        let raw: HashMap<u64, &G> = self
            .all_gs()
            .iter()
            .flatten()
            .map(|g| (g.addr, g))
            .collect();
        let by_addr = raw.values().map(|g| (g.addr, g.goid)).collect();
        (raw, by_addr)
    }

    /// What each of `goroutines` waits on, by goroutine id.
    pub fn waits_of(&self, goroutines: &[Goroutine]) -> HashMap<u64, WaitingOn> {
        let (raw, by_addr) = self.g_index();
        goroutines
            .iter()
            .filter_map(|gr| Some((gr.id, self.waiting_on(raw.get(&gr.addr)?, gr, &by_addr)?)))
            .collect()
    }

    /// Words of the used part of a goroutine's stack (from `sp`, or the
    /// whole stack when `sp` is outside it), with the address of the first.
    pub(crate) fn stack_words_at(&self, g: &G, sp: u64) -> (u64, Vec<u64>) {
        let start = if sp >= g.stack_lo && sp < g.stack_hi {
            sp
        } else {
            g.stack_lo
        };
        let len = (g.stack_hi.saturating_sub(start)).min(MAX_STACK_SCAN) as usize;
        let mut buf = vec![0u8; len];
        let n = self.target.read_partial(start, &mut buf).unwrap_or(0);
        let words = buf[..n]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        (start, words)
    }

    fn stack_words(&self, g: &G, sp: u64) -> Vec<u64> {
        self.stack_words_at(g, sp).1
    }

    /// A sudog of `g` found among its stack words (semacquire and
    /// notifyListWait keep theirs in a local before go1.26 links it from
    /// g.waiting).
    fn sudog_on_stack(&self, g: &G, words: &[u64]) -> Option<u64> {
        if g.waiting != 0 {
            return Some(g.waiting);
        }
        words
            .iter()
            .copied()
            .find(|&w| w != 0 && w.is_multiple_of(8) && self.u64_at(w) == Some(g.addr))
    }

    /// Decodes what `gr` (decoded from `g`) waits on.
    pub fn waiting_on(
        &self,
        g: &G,
        gr: &Goroutine,
        by_addr: &HashMap<u64, u64>,
    ) -> Option<WaitingOn> {
        let st = g.status();
        if st == status::SYSCALL {
            return Some(self.syscall_wait(g));
        }
        if st != status::WAITING && st != status::LEAKED {
            return None;
        }
        let reason = gr.wait_reason.clone().unwrap_or_default();
        let base = reason.trim_end_matches(" (durable)");
        let frames: Vec<&str> = gr.frames.iter().map(|f| &*f.function).collect();
        let has = |f: &str| frames.iter().any(|n| n.contains(f));
        match base {
            "chan receive (nil chan)" | "chan send (nil chan)" => {
                Some(self.simple("nil chan", "nil"))
            }
            "select (no cases)" => Some(self.simple("select (no cases)", "")),
            "chan receive" | "chan send" | "select" => self.chan_wait(g, base, by_addr),
            "sync.Mutex.Lock"
            | "sync.RWMutex.RLock"
            | "sync.RWMutex.Lock"
            | "sync.WaitGroup.Wait"
            | "semacquire" => {
                let sema = match self.sema_waiters().get(&g.addr) {
                    Some(&sema) => sema,
                    None => {
                        let words = self.stack_words(g, gr.sp);
                        let sudog = self.sudog_on_stack(g, &words)?;
                        self.sudog_ptr(sudog, "elem")?
                    }
                };
                let (kind, obj, ty) = match base {
                    "sync.Mutex.Lock" => ("mutex", sema.wrapping_sub(4), "sync.Mutex"),
                    "sync.RWMutex.RLock" => ("rwmutex read", sema.wrapping_sub(12), "sync.RWMutex"),
                    // Lock sleeps on w.sema (+4) until no writer holds w,
                    // then on writerSem (+8) until the readers leave.
                    "sync.RWMutex.Lock" if has("SemacquireRWMutex") && !has("lockSlow") => {
                        ("rwmutex write", sema.wrapping_sub(8), "sync.RWMutex")
                    }
                    "sync.RWMutex.Lock" => ("rwmutex write", sema.wrapping_sub(4), "sync.RWMutex"),
                    _ if has("sync.(*WaitGroup).Wait") => {
                        ("waitgroup", sema.wrapping_sub(8), "sync.WaitGroup")
                    }
                    _ => ("semaphore", sema, "uint32"),
                };
                let (name, scope) = self.name_object_for(obj, ty, Some(g));
                Some(WaitingOn {
                    kind: kind.into(),
                    name,
                    addr: obj,
                    waitgroup: (kind == "waitgroup")
                        .then(|| self.waitgroup_state(obj))
                        .flatten(),
                    scope,
                    ..Default::default()
                })
            }
            "sync.Cond.Wait" => {
                let cond = self.cond_waited_by(g, gr.sp)?;
                let (name, scope) = self.name_object_for(cond, "sync.Cond", Some(g));
                Some(WaitingOn {
                    kind: "cond".into(),
                    name,
                    addr: cond,
                    scope,
                    ..Default::default()
                })
            }
            "sleep" => Some(self.sleep_wait(g)),
            "IO wait" => {
                let words = self.stack_words(g, gr.sp);
                let Some((pd, socket)) = self.io_wait(g, &words, &frames) else {
                    return Some(self.simple("io", "network poller"));
                };
                Some(WaitingOn {
                    kind: "io".into(),
                    name: socket.text(),
                    addr: pd,
                    fd: (socket.fd >= 0).then_some(socket.fd),
                    socket: Some(socket),
                    ..Default::default()
                })
            }
            _ => Some(self.simple("runtime", &reason)),
        }
    }

    /// The sync.Cond that `g`, parked in Cond.Wait with its stack in use
    /// from `sp`, is queued on.
    pub(crate) fn cond_waited_by(&self, g: &G, sp: u64) -> Option<u64> {
        let words = self.stack_words(g, sp);
        let sudog = self.sudog_on_stack(g, &words);
        // go1.26+: elem is &cond.notify; before, find the notifyList whose
        // queue holds our sudog among the stack's pointers.
        let notify = sudog
            .and_then(|s| self.sudog_ptr(s, "elem"))
            .filter(|&a| a != 0 && self.notify_list_has(a, g.addr))
            .or_else(|| {
                // The list is in a heap or global sync.Cond, never on the
                // waiter's own stack.
                let own = g.stack_lo..g.stack_hi;
                words
                    .iter()
                    .copied()
                    .filter(|w| !own.contains(w))
                    .find_map(|w| {
                        [w, w.wrapping_add(16)]
                            .into_iter()
                            .find(|&l| l.is_multiple_of(8) && self.notify_list_has(l, g.addr))
                    })
            })?;
        Some(notify.wrapping_sub(16))
    }

    /// The object behind a sync.Cond's `L` (the data word of the Locker
    /// interface: a *sync.Mutex or *sync.RWMutex), when set.
    pub(crate) fn cond_lock(&self, cond: u64) -> Option<u64> {
        let l = self.field("sync.Cond", "L").unwrap_or(0);
        self.u64_at(cond + l + 8).filter(|&a| a != 0)
    }

    /// The lock a goroutine parked in sync.Cond.Wait gave up: Wait
    /// unlocked its cond's L and takes it back only once woken, so its
    /// pending deferred Unlock of that lock proves nothing.
    pub(crate) fn lock_released_in_cond_wait(&self, g: &G) -> Option<u64> {
        if self.wait_reason_text(g).as_deref() != Some("sync.Cond.Wait") {
            return None;
        }
        let (start, _, _) = self.start_regs(g);
        self.cond_lock(self.cond_waited_by(g, start.sp)?)
    }

    /// A WaitGroup's `state`: the counter in the high 32 bits; the waiter
    /// count below it (bit 31 is the synctest bubble flag from go1.25).
    fn waitgroup_state(&self, wg: u64) -> Option<WaitGroupState> {
        let state = self.u64_at(wg + self.field("sync.WaitGroup", "state")?)?;
        let (counter, waiters) =
            crate::goruntime::syncstate::waitgroup_counts(state, self.rt.version.at_least(25));
        Some(WaitGroupState {
            counter: counter as u32,
            waiters,
        })
    }

    /// `time.Sleep`: the goroutine's cached sleep timer (`g.timer`) and when
    /// it fires.
    fn sleep_wait(&self, g: &G) -> WaitingOn {
        let timer = self
            .field("runtime.g", "timer")
            .and_then(|o| self.u64_at(g.addr + o))
            .filter(|&t| t != 0);
        let info = timer.and_then(|t| self.timer_info(t));
        let name = match &info {
            Some(t) => format!("time.Sleep, {}", t.text()),
            None => "time.Sleep".to_string(),
        };
        WaitingOn {
            kind: "sleep".into(),
            name,
            addr: timer.unwrap_or(0),
            timer_when: info.as_ref().map(|t| t.when),
            timer: info,
            ..Default::default()
        }
    }

    /// A goroutine in a system call: which one, from the registers of the
    /// thread whose M runs it. A thread caught in user mode (entering or
    /// leaving the call, `orig_rax` = -1) or a source without `orig_rax`
    /// leaves the call unnamed rather than guessed.
    fn syscall_wait(&self, g: &G) -> WaitingOn {
        let thread = self
            .ms
            .iter()
            .find(|m| m.curg == g.addr)
            .and_then(|m| self.threads.iter().find(|t| t.tid as u64 == m.procid));
        let call = thread.and_then(|t| {
            let nr = t.regs.orig_rax;
            let name = syscalls::x86_64::Sysno::new(usize::try_from(nr).ok()?)?.name();
            Some(Syscall {
                number: nr,
                name: name.to_string(),
                args: [t.regs.rdi, t.regs.rsi, t.regs.rdx],
                thread: t.tid,
            })
        });
        WaitingOn {
            kind: "syscall".into(),
            name: call
                .as_ref()
                .map(|c| {
                    format!(
                        "{}({}, {:#x}, {}) on thread {}",
                        c.name, c.args[0] as i64, c.args[1], c.args[2], c.thread
                    )
                })
                .unwrap_or_default(),
            syscall: call,
            ..Default::default()
        }
    }

    fn simple(&self, kind: &str, name: &str) -> WaitingOn {
        WaitingOn {
            kind: kind.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    /// Whether goroutine `g` is queued on the notifyList at `l`.
    fn notify_list_has(&self, l: u64, g: u64) -> bool {
        self.notify_members(l).is_some_and(|m| m.contains(&g))
    }

    /// The g addresses queued on a notifyList (empty if `l` is none),
    /// decoded once per address per stop: a thousand goroutines waiting on
    /// one Cond must not walk its queue a thousand times.
    fn notify_members(&self, l: u64) -> Option<Arc<HashSet<u64>>> {
        if let Some(v) = self
            .notify_cache
            .lock()
            .ok()
            .and_then(|m| m.get(&l).cloned())
        {
            return Some(v);
        }
        let (head_off, next_off) = (
            self.field("runtime.notifyList", "head")?,
            self.field("runtime.sudog", "next")?,
        );
        let tail = self
            .field("runtime.notifyList", "tail")
            .and_then(|o| self.u64_at(l + o));
        // A queue holds at most every goroutine once.
        let bound = self.gs.len() + 1;
        let mut members = HashSet::new();
        let (mut cur, mut last) = (self.u64_at(l + head_off).unwrap_or(0), 0);
        for _ in 0..bound {
            if cur == 0 || !cur.is_multiple_of(8) {
                break;
            }
            match self.u64_at(cur) {
                Some(g) => members.insert(g),
                None => break,
            };
            last = cur;
            cur = self.u64_at(cur + next_off).unwrap_or(0);
        }
        // The walk must end at the list's tail field: a word 8 bytes before
        // a real notifyList reads its tail as "head" and the field after it
        // as "tail", which then is not the last sudog.
        if tail.is_some_and(|t| t != last) {
            members.clear();
        }
        let v = Arc::new(members);
        if let Ok(mut m) = self.notify_cache.lock() {
            m.insert(l, v.clone());
        }
        Some(v)
    }

    /// A channel's name; a context's Done channel that nothing names is
    /// named after its context (`main.tokenCtx.Done()`).
    fn chan_name(&self, c: u64, g: &G) -> (String, Option<String>) {
        let (name, scope) = self.name_object_for(c, "chan", Some(g));
        if !name.ends_with(&format!(" {c:#x}")) {
            return (name, scope);
        }
        let Some(d) = self.context_deadline_of(c) else {
            return (name, scope);
        };
        match self.name_object_for(d.ctx, "context.timerCtx", Some(g)) {
            (n, s) if !n.ends_with(&format!(" {:#x}", d.ctx)) => (format!("{n}.Done()"), s),
            _ => (name, scope),
        }
    }

    fn chan_wait(&self, g: &G, reason: &str, by_addr: &HashMap<u64, u64>) -> Option<WaitingOn> {
        let waitlink = self.field("runtime.sudog", "waitlink")?;
        let mut cases = Vec::new();
        let mut first: Option<(u64, ChanState, String, Option<String>)> = None;
        let mut cur = g.waiting;
        let mut seen = Vec::new();
        while cur != 0 && seen.len() < MAX_SUDOGS && !seen.contains(&cur) {
            seen.push(cur);
            if let Some(c) = self.sudog_ptr(cur, "c").filter(|&c| c != 0) {
                let cached = self.chan_queues(c, by_addr);
                let (state, recv_sudogs) = (&cached.state, &cached.recv_sudogs);
                let dir = if recv_sudogs.contains(&cur) || reason == "chan receive" {
                    "receive"
                } else {
                    "send"
                };
                let (name, scope) = self.chan_name(c, g);
                cases.push(ChanCase {
                    dir: dir.into(),
                    name: name.clone(),
                    addr: c,
                    scope: scope.clone(),
                    state: state.clone(),
                    timer: (dir == "receive").then(|| self.chan_timer(c)).flatten(),
                });
                if first.is_none() {
                    first = Some((c, state.clone(), name, scope));
                }
            }
            cur = self.u64_at(cur + waitlink).unwrap_or(0);
        }
        let (addr, state, name, scope) = first?;
        // A select's cases may be named in different frames: the first
        // case's scope stands for the wait (each case keeps its own).
        let scope = if reason == "select" {
            cases.iter().find_map(|c| c.scope.clone())
        } else {
            scope
        };
        let kind = if reason == "select" { "select" } else { reason };
        let name = if reason == "select" {
            cases
                .iter()
                .map(|c| format!("{} {}", c.dir, c.name))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            name
        };
        // The soonest timer among what it receives from wakes it.
        let timer = cases
            .iter()
            .filter_map(|c| c.timer.clone())
            .min_by_key(|t| t.when);
        Some(WaitingOn {
            kind: kind.into(),
            name,
            addr,
            channels: if reason == "select" {
                cases
            } else {
                Vec::new()
            },
            chan: Some(state),
            scope,
            timer,
            ..Default::default()
        })
    }

    /// A global (with field path) whose value points at `addr`: the name
    /// of a channel, map or `*sync.Cond` that a package-level variable holds.
    fn global_pointing_at(&self, addr: u64) -> Option<String> {
        let map = self.global_ptrs.get_or_init(|| {
            let mut m = HashMap::new();
            for (_, start, size) in self.rt.exe.data_symbols() {
                let start = start + self.rt.bias;
                if size > 1 << 20 {
                    continue;
                }
                let mut buf = vec![0u8; size as usize];
                if self.target.read_exact(start, &mut buf).is_err() {
                    continue;
                }
                for (i, c) in buf.chunks_exact(8).enumerate() {
                    let v = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                    if v != 0 {
                        m.entry(v).or_insert(start + i as u64 * 8);
                    }
                }
            }
            m
        });
        let slot = *map.get(&addr)?;
        // An interface global (`var tokenCtx context.Context`) holds the
        // object in its data word: the variable itself names it.
        if let Some((sym, base)) = self.rt.global_at(slot) {
            if slot == base + 8 && self.is_interface_at(base) {
                return Some(sym);
            }
        }
        Some(self.name_global(slot, "*"))
    }

    /// Whether the two words at `a` look like a non-nil interface value:
    /// the first is an itab (whose type descriptor has a name) or a type
    /// descriptor itself.
    fn is_interface_at(&self, a: u64) -> bool {
        let mem = self.target.as_ref();
        let Ok(tab) = mem.read_u64(a) else {
            return false;
        };
        let named = |t: u64| {
            t != 0
                && crate::goruntime::typedesc::type_name(mem, self.rt.types_base, t)
                    .is_ok_and(|n| !n.is_empty() && n.len() < 512)
        };
        tab != 0 && (mem.read_u64(tab + 8).is_ok_and(named) || named(tab))
    }

    /// A Go expression for the object at `addr`: the global that holds it,
    /// with the field path when DWARF describes the global's type, else
    /// `symbol+0xOFF`; the global that points at it, or at the struct
    /// holding it; otherwise its type and address.
    pub fn name_object(&self, addr: u64, ty: &str) -> String {
        self.name_object_for(addr, ty, None).0
    }

    /// Like [`Session::name_object`], then through a parameter or local of
    /// `waiter`'s frames (`s.mu`), returned with that variable's function.
    /// Names found through locals are cached per object: thousands of
    /// waiters on one object search once.
    pub fn name_object_for(
        &self,
        addr: u64,
        ty: &str,
        waiter: Option<&G>,
    ) -> (String, Option<String>) {
        if self.rt.global_at(addr).is_some() {
            return (self.name_global(addr, ty), None);
        }
        if let Some(n) = self.global_pointing_at(addr) {
            return (n, None);
        }
        if let Some(n) = self.global_struct_ref(addr, ty) {
            return (n, None);
        }
        if let Some(g) = waiter.filter(|_| addr != 0) {
            if let Some((n, s)) = self.cached_local_name(addr, ty, g) {
                return (n, Some(s));
            }
        }
        (format!("{} {addr:#x}", self.full_type_name(addr, ty)), None)
    }

    /// The Go type of an unnamed object for its fallback name: a channel's
    /// element type from its `hchan.elemtype` descriptor (`chan string`),
    /// else the kind the wait implies (`sync.Mutex`).
    fn full_type_name(&self, addr: u64, ty: &str) -> String {
        if ty != "chan" {
            return ty.to_string();
        }
        self.field("runtime.hchan", "elemtype")
            .and_then(|o| self.u64_at(addr + o))
            .filter(|&t| t != 0)
            .and_then(|t| {
                crate::goruntime::typedesc::type_name(self.target.as_ref(), self.rt.types_base, t)
                    .ok()
            })
            .filter(|n| !n.is_empty() && n.len() < 256)
            .map(|n| format!("chan {n}"))
            .unwrap_or_else(|| ty.to_string())
    }

    /// A local name for `addr` from the cache, else from `g`'s frames; an
    /// object that several waiters failed to name is not searched again.
    fn cached_local_name(&self, addr: u64, ty: &str, g: &G) -> Option<(String, String)> {
        const MAX_TRIES: u8 = 4;
        let key = (addr, ty.to_string());
        if let Some((hit, tries)) = self.local_names.lock().ok()?.get(&key) {
            if hit.is_some() || *tries >= MAX_TRIES {
                return hit.clone();
            }
        }
        let found = self
            .local_name(&self.phys_frames(g), addr, ty)
            .map(|l| (l.expr, l.scope));
        let mut cache = self.local_names.lock().ok()?;
        let e = cache.entry(key).or_insert((None, 0));
        if e.0.is_none() {
            e.0 = found.clone();
        }
        e.1 = e.1.saturating_add(1);
        e.0.clone()
    }

    /// Names an address inside a package-level variable.
    fn name_global(&self, addr: u64, ty: &str) -> String {
        if let Some((sym, base)) = self.rt.global_at(addr) {
            let mut name = sym.clone();
            let mut off = addr - base;
            if let Some(t) = self.rt.layouts.var_type(&sym) {
                let (path, rest) = self.field_path(&t, off, ty);
                name.push_str(&path);
                off = rest;
            }
            if off != 0 {
                name.push_str(&format!("+{off:#x}"));
            }
            return name;
        }
        format!("{ty} {addr:#x}")
    }
}
