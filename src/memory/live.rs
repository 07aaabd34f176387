//! Live Linux processes through ptrace.
//!
//! Attaching stops every thread of the target with `PTRACE_SEIZE` +
//! `PTRACE_INTERRUPT` (no SIGSTOP is sent, so the target's job-control state
//! is never disturbed and, should goroscope die, the kernel's automatic detach
//! lets the target run on), captures each thread's registers, and leaves the
//! threads stopped until [`LiveProcess::detach`], [`LiveProcess::resume`] or
//! `Drop`. Memory is read with `process_vm_readv`, falling back to
//! `/proc/PID/mem`.
//!
//! ptrace requests other than `PTRACE_INTERRUPT` are only accepted from the
//! *thread* that seized the tracee, while a [`LiveProcess`] is `Send + Sync`
//! and may be dropped anywhere. So every ptrace call is made by one dedicated
//! tracer thread per process, which sleeps between attach and detach. A bonus:
//! when that thread exits, for whatever reason, the kernel detaches all of its
//! tracees.
//!
//! SIGINT, SIGTERM and SIGHUP handlers (installed at the first attach) detach
//! every registered thread before the signal takes its usual effect, so that
//! Ctrl-C never leaves a production process frozen.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, Once, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{procmem, Memory, OsThread, Regs, Target};
use crate::error::{Error, Result};

/// Rounds of "list /proc/PID/task, seize the newcomers" before giving up on
/// a process that keeps creating threads faster than we can stop them.
/// Stopped threads cannot clone, so real programs settle in two or three.
const MAX_ATTACH_ROUNDS: usize = 64;

/// How long a thread may take to reach its interrupt stop. Only a thread in
/// uninterruptible sleep (state D) should ever come close.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Signals after which the target must not stay frozen.
const TERMINATING_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

// ---------------------------------------------------------------------------
// Registry of seized threads, readable from a signal handler.
//
// A slot is free when its tid is 0, reserved while being filled when -1, and
// live when positive. The handler only does atomic loads/stores and raw
// syscalls, so it needs no lock and never allocates.

/// Number of threads that can be registered across all live attaches; a Go
/// process hits its default 10000-thread limit long before this.
const REGISTRY_SLOTS: usize = 65536;

static SLOT_TID: [AtomicI32; REGISTRY_SLOTS] = [const { AtomicI32::new(0) }; REGISTRY_SLOTS];
/// Kernel tid of the tracer thread that owns the slot (only it may detach).
static SLOT_TRACER: [AtomicI32; REGISTRY_SLOTS] = [const { AtomicI32::new(0) }; REGISTRY_SLOTS];
/// Signal to re-inject on detach (0 for none).
static SLOT_SIGNAL: [AtomicI32; REGISTRY_SLOTS] = [const { AtomicI32::new(0) }; REGISTRY_SLOTS];
/// Where the next slot search starts, so that allocation stays O(1) typically.
static SLOT_HINT: AtomicUsize = AtomicUsize::new(0);
/// Bumped by the signal handler, so that an attach it cut short can say so
/// instead of reporting threads that "vanished".
static SIGNAL_DETACHES: AtomicUsize = AtomicUsize::new(0);
/// The last signal that made the handler detach.
static SIGNAL_DETACH_SIGNO: AtomicI32 = AtomicI32::new(0);

/// Claims a free slot for `tid`; `None` when the registry is full (the thread
/// is still detached normally and by the kernel when the tracer exits).
fn register_tid(tid: i32, tracer: i32) -> Option<usize> {
    let start = SLOT_HINT.load(Ordering::Relaxed);
    for k in 0..REGISTRY_SLOTS {
        let i = (start + k) % REGISTRY_SLOTS;
        if SLOT_TID[i]
            .compare_exchange(0, -1, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            SLOT_TRACER[i].store(tracer, Ordering::Release);
            SLOT_SIGNAL[i].store(0, Ordering::Release);
            SLOT_TID[i].store(tid, Ordering::Release);
            SLOT_HINT.store((i + 1) % REGISTRY_SLOTS, Ordering::Relaxed);
            return Some(i);
        }
    }
    None
}

fn unregister_slot(slot: Option<usize>) {
    if let Some(i) = slot {
        SLOT_TID[i].store(0, Ordering::Release);
    }
}

// ---------------------------------------------------------------------------
// Signal handling.

/// Dispositions that were in place before ours, in `TERMINATING_SIGNALS` order.
static PREVIOUS_ACTIONS: OnceLock<[libc::sigaction; 3]> = OnceLock::new();
static INSTALL_HANDLERS: Once = Once::new();

fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

fn install_signal_handlers() {
    INSTALL_HANDLERS.call_once(|| {
        // SAFETY: sigaction with a null new action only reads the current
        // disposition into a zeroed, properly sized struct.
        let previous = TERMINATING_SIGNALS.map(|sig| unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, std::ptr::null(), &mut old);
            old
        });
        let previous = PREVIOUS_ACTIONS.get_or_init(|| previous);
        for (sig, old) in TERMINATING_SIGNALS.iter().zip(previous.iter()) {
            // A signal the user chose to ignore (nohup) must stay ignored:
            // taking it over would turn a harmless SIGHUP into an exit.
            if old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            // SAFETY: the handler only uses async-signal-safe operations, and
            // the struct is fully initialised before use.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_terminating_signal as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                // Block the sibling signals while handling one, so that a
                // SIGTERM arriving during Ctrl-C handling cannot interleave.
                for s in TERMINATING_SIGNALS {
                    libc::sigaddset(&mut action.sa_mask, s);
                }
                libc::sigaction(*sig, &action, std::ptr::null_mut());
            }
        }
    });
}

/// Detaches every registered thread, then lets the signal do what it would
/// have done without us.
///
/// Only a tracee's own tracer thread can detach it, so the handler detaches
/// the threads this thread traces and forwards the signal (tgkill) to the
/// next tracer thread, which repeats; the last one finishes the signal.
extern "C" fn on_terminating_signal(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    let me = gettid();
    loop {
        let mut other = 0;
        for i in 0..REGISTRY_SLOTS {
            let tid = SLOT_TID[i].load(Ordering::Acquire);
            if tid <= 0 {
                continue;
            }
            let tracer = SLOT_TRACER[i].load(Ordering::Acquire);
            if tracer == me {
                let signal = SLOT_SIGNAL[i].load(Ordering::Acquire);
                // SAFETY: plain syscall; a stale tid only yields ESRCH.
                unsafe {
                    libc::ptrace(
                        libc::PTRACE_DETACH,
                        tid,
                        std::ptr::null_mut::<libc::c_void>(),
                        signal as usize as *mut libc::c_void,
                    );
                }
                let _ = SLOT_TID[i].compare_exchange(tid, 0, Ordering::AcqRel, Ordering::Relaxed);
            } else if other == 0 {
                other = tracer;
            }
        }
        if other == 0 {
            break;
        }
        // SAFETY: plain syscalls.
        let sent = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), other, sig) };
        if sent == 0 {
            return;
        }
        // That tracer thread is gone, and the kernel detached its tracees
        // when it exited: forget them and look for another tracer.
        for i in 0..REGISTRY_SLOTS {
            if SLOT_TRACER[i].load(Ordering::Acquire) == other {
                let tid = SLOT_TID[i].load(Ordering::Acquire);
                if tid > 0 {
                    let _ =
                        SLOT_TID[i].compare_exchange(tid, 0, Ordering::AcqRel, Ordering::Relaxed);
                }
            }
        }
    }
    SIGNAL_DETACH_SIGNO.store(sig, Ordering::Release);
    SIGNAL_DETACHES.fetch_add(1, Ordering::AcqRel);
    finish_signal(sig, info, ctx);
}

/// Chains to the previous handler, or restores the default action and
/// re-raises so that the exit status says "killed by signal" (128+sig).
fn finish_signal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let previous = PREVIOUS_ACTIONS.get().and_then(|actions| {
        TERMINATING_SIGNALS
            .iter()
            .position(|&s| s == sig)
            .map(|i| actions[i])
    });
    if let Some(old) = previous {
        let handler = old.sa_sigaction;
        if handler == libc::SIG_IGN {
            return;
        }
        if handler != libc::SIG_DFL {
            // SAFETY: `handler` is the function the program installed for this
            // signal, called with the signature its SA_SIGINFO flag promises.
            unsafe {
                if old.sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        std::mem::transmute(handler);
                    f(sig, info, ctx);
                } else {
                    let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
                    f(sig);
                }
            }
            return;
        }
    }
    // SAFETY: async-signal-safe calls on local, initialised structs.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut dfl.sa_mask);
        libc::sigaction(sig, &dfl, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(128 + sig);
    }
}

// ---------------------------------------------------------------------------
// The tracer thread.

/// One seized thread, owned by the tracer thread.
struct Seized {
    tid: i32,
    slot: Option<usize>,
    /// Reached a ptrace stop (only stopped tracees can be detached).
    stopped: bool,
    /// Signal the thread was about to receive when it stopped; re-injected on
    /// detach so that attaching never swallows a signal.
    signal: i32,
}

/// What the tracer thread reports after detaching.
struct DetachReport {
    finished: Instant,
    /// Threads that could not be detached, with the errno.
    failures: Vec<(i32, i32)>,
}

/// All threads seized by one tracer thread. Dropping it detaches them, so
/// that every exit path of the tracer thread (including a panic) resumes the
/// target.
struct SeizedSet {
    pid: i32,
    tracer: i32,
    threads: BTreeMap<i32, Seized>,
    gone: HashSet<i32>,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn ptrace_raw(
    request: PtraceRequest,
    tid: i32,
    addr: usize,
    data: usize,
) -> std::result::Result<(), i32> {
    // SAFETY: the requests used here either take no pointers or, for
    // GETREGS, a pointer to a live, correctly sized struct (see get_regs).
    let r = unsafe {
        libc::ptrace(
            request,
            tid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    };
    if r == -1 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// glibc and musl disagree on the type of the request argument.
#[cfg(target_env = "gnu")]
type PtraceRequest = libc::c_uint;
#[cfg(not(target_env = "gnu"))]
type PtraceRequest = libc::c_int;

#[cfg(target_arch = "x86_64")]
fn get_regs(tid: i32) -> std::result::Result<Regs, i32> {
    // SAFETY: user_regs_struct is plain data; all-zero is a valid value.
    let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    ptrace_raw(
        libc::PTRACE_GETREGS,
        tid,
        0,
        &mut r as *mut libc::user_regs_struct as usize,
    )?;
    Ok(Regs {
        rax: r.rax,
        rbx: r.rbx,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rbp: r.rbp,
        rsp: r.rsp,
        r8: r.r8,
        r9: r.r9,
        r10: r.r10,
        r11: r.r11,
        r12: r.r12,
        r13: r.r13,
        r14: r.r14,
        r15: r.r15,
        rip: r.rip,
        eflags: r.eflags,
        fs_base: r.fs_base,
        gs_base: r.gs_base,
        orig_rax: r.orig_rax,
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn get_regs(_tid: i32) -> std::result::Result<Regs, i32> {
    Err(libc::ENOSYS)
}

fn strerror(code: i32) -> String {
    std::io::Error::from_raw_os_error(code).to_string()
}

/// The value of a `Key:` line of a /proc status file.
fn status_field(path: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
}

/// The one-letter scheduler state of a task (R, S, D, T, t, Z, X...).
fn task_state(pid: i32, tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: the state is the
    // first field after the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// "already traced" message, naming the debugger process rather than its
/// tracer thread when they differ.
fn already_traced(pid: i32, tracer_tid: i32) -> Error {
    let tgid = status_field(Path::new(&format!("/proc/{tracer_tid}/status")), "Tgid:")
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(tracer_tid);
    let who = if tgid == std::process::id() as i32 {
        "this goroscope process (attach only once per process)".to_string()
    } else if tgid != tracer_tid {
        format!("pid {tgid} (thread {tracer_tid})")
    } else {
        format!("pid {tgid}")
    };
    Error::Process {
        pid,
        what: format!(
            "already traced by {who}; a process can have only one debugger \
             (gdb, dlv, strace...): detach it first"
        ),
    }
}

fn permission_denied(pid: i32) -> Error {
    let yama = match std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope") {
        Ok(v) => {
            let v = v.trim().to_string();
            let meaning = match v.as_str() {
                "0" => "any process of the same user",
                "1" => "only descendants of the tracer",
                "2" => "only with CAP_SYS_PTRACE",
                "3" => "ptrace disabled entirely",
                _ => "unknown setting",
            };
            format!("/proc/sys/kernel/yama/ptrace_scope is {v} ({meaning})")
        }
        Err(_) => "Yama is not enabled (no /proc/sys/kernel/yama/ptrace_scope)".to_string(),
    };
    Error::Process {
        pid,
        what: format!(
            "permission denied by ptrace: run as the target's user with \
             /proc/sys/kernel/yama/ptrace_scope set to 0, or with CAP_SYS_PTRACE \
             (root, or a container started with --cap-add=SYS_PTRACE); {yama}"
        ),
    }
}

impl SeizedSet {
    /// Seizes and interrupts `tid`. `Ok(false)` when the thread vanished.
    fn seize(&mut self, tid: i32) -> Result<bool> {
        let seized = ptrace_raw(libc::PTRACE_SEIZE, tid, 0, 0);
        match seized {
            Ok(()) => {}
            Err(libc::ESRCH) => return Ok(false),
            Err(libc::EPERM) => {
                // A thread that is exiting refuses ptrace with EPERM too;
                // that is a departure, not a permission problem.
                if matches!(task_state(self.pid, tid), None | Some('Z') | Some('X')) {
                    return Ok(false);
                }
                let task_status = PathBuf::from(format!("/proc/{}/task/{tid}/status", self.pid));
                let tracer = status_field(&task_status, "TracerPid:")
                    .and_then(|v| v.parse::<i32>().ok())
                    .unwrap_or(0);
                return Err(if tracer != 0 {
                    already_traced(self.pid, tracer)
                } else {
                    permission_denied(self.pid)
                });
            }
            Err(e) => {
                return Err(Error::Process {
                    pid: self.pid,
                    what: format!("PTRACE_SEIZE of thread {tid} failed: {}", strerror(e)),
                })
            }
        }
        let slot = register_tid(tid, self.tracer);
        self.threads.insert(
            tid,
            Seized {
                tid,
                slot,
                stopped: false,
                signal: 0,
            },
        );
        match ptrace_raw(libc::PTRACE_INTERRUPT, tid, 0, 0) {
            Ok(()) => Ok(true),
            Err(libc::ESRCH) => {
                self.forget(tid);
                Ok(false)
            }
            Err(e) => Err(Error::Process {
                pid: self.pid,
                what: format!("PTRACE_INTERRUPT of thread {tid} failed: {}", strerror(e)),
            }),
        }
    }

    /// Drops a thread that exited; the kernel has already untraced it.
    fn forget(&mut self, tid: i32) {
        if let Some(t) = self.threads.remove(&tid) {
            unregister_slot(t.slot);
        }
        self.gone.insert(tid);
    }

    /// Waits until every thread in `pending` reports a stop or exits.
    fn wait_for_stops(&mut self, mut pending: Vec<i32>) -> Result<()> {
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut idle_rounds = 0u32;
        while !pending.is_empty() {
            let before = pending.len();
            let mut still = Vec::with_capacity(pending.len());
            for tid in pending {
                let mut status: libc::c_int = 0;
                // Per-tid WNOHANG polling: waitpid(-1) would also reap
                // goroscope's own children, and a blocking wait could hang
                // forever on a thread stuck in uninterruptible sleep.
                // SAFETY: status points to a live c_int.
                let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::WNOHANG) };
                if r == 0 || (r == -1 && errno() == libc::EINTR) {
                    still.push(tid);
                } else if r == -1 {
                    // ECHILD: no longer our tracee, i.e. it exited.
                    self.forget(tid);
                } else if libc::WIFSTOPPED(status) {
                    let event = (status >> 16) & 0xff;
                    if let Some(t) = self.threads.get_mut(&tid) {
                        t.stopped = true;
                        // event 0 is a signal-delivery-stop: the thread had
                        // dequeued a real signal, which we must hand back.
                        // PTRACE_EVENT_STOP (128) covers our interrupt and
                        // group-stops, which the kernel preserves by itself;
                        // no other event is enabled (no ptrace options).
                        if event == 0 {
                            t.signal = libc::WSTOPSIG(status);
                            if let Some(i) = t.slot {
                                SLOT_SIGNAL[i].store(t.signal, Ordering::Release);
                            }
                        }
                    }
                } else {
                    // WIFEXITED / WIFSIGNALED.
                    self.forget(tid);
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::Process {
                    pid: self.pid,
                    what: format!(
                        "threads {pending:?} did not stop within {}s of PTRACE_INTERRUPT \
                         (uninterruptible sleep, state D?)",
                        STOP_TIMEOUT.as_secs()
                    ),
                });
            }
            // Stops usually land within microseconds: yield first, then back
            // off to short sleeps so a slow thread does not burn a core.
            if pending.len() == before {
                idle_rounds += 1;
            } else {
                idle_rounds = 0;
            }
            if idle_rounds < 16 {
                std::thread::yield_now();
            } else {
                let us = 10u64 << (idle_rounds - 16).min(7);
                std::thread::sleep(Duration::from_micros(us));
            }
        }
        Ok(())
    }

    fn list_tasks(&self) -> std::io::Result<Vec<i32>> {
        let mut tids = Vec::new();
        for entry in std::fs::read_dir(format!("/proc/{}/task", self.pid))? {
            if let Some(tid) = entry?.file_name().to_str().and_then(|s| s.parse().ok()) {
                tids.push(tid);
            }
        }
        Ok(tids)
    }

    /// Stops every thread, re-scanning until no new thread appears, and
    /// returns them with their registers.
    fn attach_all(&mut self) -> Result<Vec<OsThread>> {
        let mut stable = false;
        for round in 0..MAX_ATTACH_ROUNDS {
            let tids = match self.list_tasks() {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let what = if round == 0 {
                        "no such process".to_string()
                    } else {
                        "process exited while attaching".to_string()
                    };
                    return Err(Error::Process {
                        pid: self.pid,
                        what,
                    });
                }
                Err(e) => return Err(Error::io(format!("/proc/{}/task", self.pid), e)),
            };
            let fresh: Vec<i32> = tids
                .into_iter()
                .filter(|t| !self.threads.contains_key(t) && !self.gone.contains(t))
                .collect();
            if fresh.is_empty() {
                stable = true;
                break;
            }
            let mut pending = Vec::with_capacity(fresh.len());
            // Interrupt them all before waiting, so they stop in parallel.
            for tid in fresh {
                if self.seize(tid)? {
                    pending.push(tid);
                }
            }
            self.wait_for_stops(pending)?;
        }
        if !stable {
            return Err(Error::Process {
                pid: self.pid,
                what: format!(
                    "threads kept appearing after {MAX_ATTACH_ROUNDS} rounds of attaching"
                ),
            });
        }
        let mut out = Vec::with_capacity(self.threads.len());
        let tids: Vec<i32> = self.threads.keys().copied().collect();
        for tid in tids {
            match get_regs(tid) {
                Ok(regs) => {
                    let signal = self.threads.get(&tid).map_or(0, |t| t.signal);
                    out.push(OsThread { tid, regs, signal });
                }
                // Killed (SIGKILL) while stopped.
                Err(libc::ESRCH) => self.forget(tid),
                Err(e) => {
                    return Err(Error::Process {
                        pid: self.pid,
                        what: format!("PTRACE_GETREGS of thread {tid} failed: {}", strerror(e)),
                    })
                }
            }
        }
        if out.is_empty() {
            return Err(Error::Process {
                pid: self.pid,
                what: "process exited while attaching".to_string(),
            });
        }
        let pid = self.pid;
        out.sort_by_key(|t| (t.tid != pid, t.tid));
        Ok(out)
    }

    /// Detaches every stopped thread, re-injecting its pending signal.
    fn detach_all(&mut self) -> Vec<(i32, i32)> {
        let mut failures = Vec::new();
        for (_, t) in std::mem::take(&mut self.threads) {
            if t.stopped {
                match ptrace_raw(libc::PTRACE_DETACH, t.tid, 0, t.signal as usize) {
                    // ESRCH: the thread died meanwhile (or a signal handler
                    // already detached it).
                    Ok(()) | Err(libc::ESRCH) => {}
                    Err(e) => failures.push((t.tid, e)),
                }
            }
            // A thread that never stopped cannot be detached by request; the
            // kernel detaches it when this tracer thread exits.
            unregister_slot(t.slot);
        }
        failures
    }
}

impl Drop for SeizedSet {
    fn drop(&mut self) {
        let _ = self.detach_all();
    }
}

/// Body of the tracer thread: attach, report, sleep until told to detach.
fn tracer_main(
    pid: i32,
    reply: mpsc::Sender<Result<Vec<OsThread>>>,
    commands: mpsc::Receiver<()>,
) -> DetachReport {
    // The thread inherits its creator's signal mask; the signal handler
    // forwards to this thread, so it must be able to receive the signals.
    // SAFETY: local, initialised sigset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in TERMINATING_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
    let mut set = SeizedSet {
        pid,
        tracer: gettid(),
        threads: BTreeMap::new(),
        gone: HashSet::new(),
    };
    let signals_before = SIGNAL_DETACHES.load(Ordering::Acquire);
    let mut attached = set.attach_all();
    // A terminating signal whose handler did not exit (the program chained
    // its own) has detached the threads under our feet: say so.
    if SIGNAL_DETACHES.load(Ordering::Acquire) != signals_before {
        let sig = SIGNAL_DETACH_SIGNO.load(Ordering::Acquire);
        attached = Err(Error::Process {
            pid,
            what: format!("attach interrupted by signal {sig}; the process was resumed"),
        });
    }
    match attached {
        Ok(threads) => {
            if reply.send(Ok(threads)).is_ok() {
                // Err means the LiveProcess is gone without asking: detach too.
                let _ = commands.recv();
            }
        }
        Err(e) => {
            // Resume the target before attach() returns the error.
            let _ = set.detach_all();
            let _ = reply.send(Err(e));
        }
    }
    let failures = set.detach_all();
    DetachReport {
        finished: Instant::now(),
        failures,
    }
}

// ---------------------------------------------------------------------------
// The public type.

struct Control {
    /// `Some` while attached.
    tracer: Option<(mpsc::Sender<()>, JoinHandle<DetachReport>)>,
    /// When the last thread was detached.
    detached_at: Option<Instant>,
}

/// A stopped live process: its threads' registers as of the attach, and its
/// memory (read live; frozen as long as the threads stay stopped).
pub struct LiveProcess {
    pid: i32,
    threads: Vec<OsThread>,
    exe: Option<PathBuf>,
    /// /proc/PID/mem, the fallback for reads process_vm_readv refuses.
    mem: Option<File>,
    /// Cleared after process_vm_readv fails for a reason that will not go
    /// away (EPERM, ENOSYS), to save a syscall per read.
    vm_readv_ok: AtomicBool,
    started: Instant,
    attach_time: Duration,
    control: Mutex<Control>,
}

impl std::fmt::Debug for LiveProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveProcess")
            .field("pid", &self.pid)
            .field("threads", &self.threads.len())
            .field("attached", &self.is_attached())
            .finish()
    }
}

/// Cheap checks that turn the common mistakes into precise messages before
/// any thread is stopped.
fn precheck(pid: i32) -> Result<()> {
    if pid <= 0 {
        return Err(Error::Process {
            pid,
            what: "not a valid process id".to_string(),
        });
    }
    if cfg!(not(target_arch = "x86_64")) {
        return Err(Error::Process {
            pid,
            what: format!(
                "attaching to live processes is implemented for x86_64 only, not {}",
                std::env::consts::ARCH
            ),
        });
    }
    if pid == std::process::id() as i32 {
        return Err(Error::Process {
            pid,
            what: "cannot attach to goroscope itself".to_string(),
        });
    }
    let status_path = PathBuf::from(format!("/proc/{pid}/status"));
    let status = match std::fs::read_to_string(&status_path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Process {
                pid,
                what: "no such process".to_string(),
            })
        }
        Err(e) => return Err(Error::io(status_path, e)),
    };
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
    };
    if let Some(tgid) = field("Tgid:").and_then(|v| v.parse::<i32>().ok()) {
        if tgid != pid {
            return Err(Error::Process {
                pid,
                what: format!("{pid} is a thread of process {tgid}; attach to {tgid}"),
            });
        }
    }
    if field("State:").is_some_and(|s| s.starts_with('Z'))
        && field("Threads:").is_none_or(|n| n == "1")
    {
        return Err(Error::Process {
            pid,
            what: "process has exited (zombie waiting for its parent)".to_string(),
        });
    }
    if let Some(tracer) = field("TracerPid:").and_then(|v| v.parse::<i32>().ok()) {
        if tracer != 0 {
            return Err(already_traced(pid, tracer));
        }
    }
    Ok(())
}

fn exe_path(pid: i32) -> Option<PathBuf> {
    let link = format!("/proc/{pid}/exe");
    let path = std::fs::read_link(&link).ok()?;
    // A replaced or deleted binary reads as "/x (deleted)"; the magic link
    // itself still opens the mapped file while the process lives.
    if let Some(s) = path.to_str() {
        if s.ends_with(" (deleted)") && !path.exists() {
            return Some(PathBuf::from(link));
        }
    }
    Some(path)
}

impl LiveProcess {
    /// Stops every thread of process `pid` and captures their registers.
    ///
    /// Fails with [`Error::Process`] saying why: no such process, permission
    /// (ptrace_scope / CAP_SYS_PTRACE), already traced by another debugger,
    /// or a thread that would not stop.
    pub fn attach(pid: i32) -> Result<LiveProcess> {
        let started = Instant::now();
        precheck(pid)?;
        install_signal_handlers();
        let (reply_tx, reply_rx) = mpsc::channel();
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name(format!("ptrace-{pid}"))
            .spawn(move || tracer_main(pid, reply_tx, cmd_rx))
            .map_err(|e| Error::Process {
                pid,
                what: format!("cannot start the tracer thread: {e}"),
            })?;
        let threads = match reply_rx.recv() {
            Ok(Ok(threads)) => threads,
            Ok(Err(e)) => {
                let _ = handle.join();
                return Err(e);
            }
            Err(_) => {
                let _ = handle.join();
                return Err(Error::Process {
                    pid,
                    what: "the tracer thread stopped unexpectedly".to_string(),
                });
            }
        };
        // Opened after the seize, when ptrace access is certainly granted.
        let mem = File::open(format!("/proc/{pid}/mem")).ok();
        let exe = exe_path(pid);
        Ok(LiveProcess {
            pid,
            threads,
            exe,
            mem,
            vm_readv_ok: AtomicBool::new(true),
            started,
            attach_time: started.elapsed(),
            control: Mutex::new(Control {
                tracer: Some((cmd_tx, handle)),
                detached_at: None,
            }),
        })
    }

    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        // Control holds no invariant a panic could break half-way.
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resumes the process, leaving this value usable: registers stay as
    /// captured, memory reads go on but see a running process. Idempotent.
    /// Errors name threads that could not be detached (they are detached by
    /// the kernel anyway when goroscope exits).
    pub fn resume(&self) -> Result<()> {
        let mut control = self.control();
        let Some((cmd, handle)) = control.tracer.take() else {
            return Ok(());
        };
        // A send error means the tracer already finished; join either way.
        let _ = cmd.send(());
        let report = handle.join();
        let (finished, failures) = match report {
            Ok(r) => (r.finished, r.failures),
            // The tracer panicked: its SeizedSet drop and the kernel's
            // exit-time detach have released the threads.
            Err(_) => (Instant::now(), Vec::new()),
        };
        control.detached_at = Some(finished);
        if failures.is_empty() {
            Ok(())
        } else {
            let list: Vec<String> = failures
                .iter()
                .map(|(tid, e)| format!("thread {tid}: {}", strerror(*e)))
                .collect();
            Err(Error::Process {
                pid: self.pid,
                what: format!("could not detach {}", list.join(", ")),
            })
        }
    }

    /// Detaches and resumes every thread; returns how long the process was
    /// paused. Threads that exited meanwhile are not an error.
    pub fn detach(self) -> Duration {
        let _ = self.resume();
        self.pause_duration()
    }

    /// True until the process is resumed.
    pub fn is_attached(&self) -> bool {
        self.control().tracer.is_some()
    }

    /// From the start of [`LiveProcess::attach`] to the end of the detach, or
    /// to now while still attached.
    pub fn pause_duration(&self) -> Duration {
        let end = self.control().detached_at.unwrap_or_else(Instant::now);
        end.saturating_duration_since(self.started)
    }

    /// How long attaching took: until every thread stopped and its registers
    /// were read.
    pub fn attach_duration(&self) -> Duration {
        self.attach_time
    }

    /// Reads the readable prefix of `[addr, addr + buf.len())`.
    fn read_prefix(&self, addr: u64, buf: &mut [u8]) -> usize {
        let try_vm = self.vm_readv_ok.load(Ordering::Relaxed);
        let (n, err) = procmem::read_prefix(self.pid, self.mem.as_ref(), addr, buf, try_vm);
        // process_vm_readv is not allowed here: stop trying it.
        if matches!(err, Some(libc::EPERM | libc::ENOSYS)) {
            self.vm_readv_ok.store(false, Ordering::Relaxed);
        }
        n
    }
}

impl Drop for LiveProcess {
    fn drop(&mut self) {
        let _ = self.resume();
    }
}

impl Memory for LiveProcess {
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        let got = if buf.is_empty() {
            0
        } else {
            self.read_prefix(addr, buf)
        };
        super::all_read(addr, buf.len(), got)
    }

    fn read_partial(&self, addr: u64, buf: &mut [u8]) -> Result<usize> {
        Ok(self.read_prefix(addr, buf))
    }

    fn read_many_into(&self, ranges: &[(u64, usize)], out: &mut [u8]) -> Vec<usize> {
        let mut bufs: Vec<&mut [u8]> = ranges
            .iter()
            .zip(procmem::split_for(ranges, out))
            .map(|(&(addr, _), buf)| procmem::clamp(addr, buf))
            .collect();
        if !self.vm_readv_ok.load(Ordering::Relaxed) {
            return ranges
                .iter()
                .zip(bufs)
                .map(|(&(addr, _), buf)| self.read_prefix(addr, buf))
                .collect();
        }
        let addrs: Vec<u64> = ranges.iter().map(|r| r.0).collect();
        procmem::vm_read_many(self.pid, &addrs, &mut bufs, |addr, buf| {
            self.read_prefix(addr, buf)
        })
    }
}

impl Target for LiveProcess {
    fn threads(&self) -> Result<Vec<OsThread>> {
        Ok(self.threads.clone())
    }

    fn executable_path(&self) -> Option<PathBuf> {
        self.exe.clone()
    }

    fn pid(&self) -> i32 {
        self.pid
    }

    fn local_pid(&self) -> Option<i32> {
        Some(self.pid)
    }

    fn describe(&self) -> String {
        format!("process {}", self.pid)
    }

    fn resume(&self) -> Result<()> {
        LiveProcess::resume(self)
    }

    fn pause_duration(&self) -> Option<Duration> {
        Some(LiveProcess::pause_duration(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command};

    /// Env var that turns `sleeper_helper` into a multi-threaded sleeper.
    const SLEEPER_ENV: &str = "GOROSCOPE_LIVE_TEST_SLEEPER";
    /// Env var that turns `attacher_helper` into an attacher of that pid.
    const ATTACH_ENV: &str = "GOROSCOPE_LIVE_TEST_ATTACH";

    /// Kills and reaps the child however the test ends.
    struct ChildGuard(Child);

    impl Drop for ChildGuard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    impl ChildGuard {
        fn pid(&self) -> i32 {
            self.0.id() as i32
        }
    }

    /// Runs one ignored helper test of this very binary in a child process.
    fn spawn_helper(name: &str, env: &str, value: &str) -> ChildGuard {
        let exe = std::env::current_exe().expect("current test executable");
        let child = Command::new(exe)
            .args([name, "--ignored", "--nocapture", "--test-threads=1"])
            .env(env, value)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn helper");
        ChildGuard(child)
    }

    /// Printed by the attacher helpers once `attach` has returned.
    const ATTACHED_MARKER: &str = "GOROSCOPE-LIVE-TEST-ATTACHED";

    /// Blocks until the helper prints the marker (fails if it exits first).
    fn wait_for_marker(child: &mut ChildGuard) {
        use std::io::BufRead;
        let out = child.0.stdout.take().expect("piped stdout");
        let mut lines = std::io::BufReader::new(out).lines();
        let seen = lines.any(|l| l.is_ok_and(|l| l.contains(ATTACHED_MARKER)));
        assert!(seen, "helper exited before attaching");
    }

    fn announce_attached() {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{ATTACHED_MARKER}");
        let _ = out.flush();
    }

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn tasks(pid: i32) -> Vec<i32> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A child with the main thread, libtest's thread and four sleepers.
    fn spawn_sleeper() -> ChildGuard {
        let child = spawn_helper("live::tests::sleeper_helper", SLEEPER_ENV, "1");
        let pid = child.pid();
        wait_until("sleeper threads", || tasks(pid).len() >= 6);
        child
    }

    fn tracer_pid(pid: i32) -> i32 {
        status_field(Path::new(&format!("/proc/{pid}/status")), "TracerPid:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    }

    /// Asserts that no thread is in a ptrace stop and nobody traces it.
    fn assert_running_untraced(pid: i32) {
        for tid in tasks(pid) {
            let state = task_state(pid, tid).expect("thread state");
            assert!(
                matches!(state, 'S' | 'R'),
                "thread {tid} is in state {state} after detach"
            );
            let status = PathBuf::from(format!("/proc/{pid}/task/{tid}/status"));
            assert_eq!(
                status_field(&status, "TracerPid:").as_deref(),
                Some("0"),
                "thread {tid} still traced"
            );
        }
        assert_eq!(tracer_pid(pid), 0);
    }

    #[test]
    #[ignore = "helper process for the live attach tests"]
    fn sleeper_helper() {
        if std::env::var_os(SLEEPER_ENV).is_none() {
            return;
        }
        for _ in 0..4 {
            std::thread::spawn(|| std::thread::sleep(Duration::from_secs(60)));
        }
        std::thread::sleep(Duration::from_secs(60));
    }

    #[test]
    #[ignore = "helper process for the live attach tests"]
    fn attacher_helper() {
        let Some(pid) = std::env::var(ATTACH_ENV).ok().and_then(|v| v.parse().ok()) else {
            return;
        };
        let live = LiveProcess::attach(pid).expect("attach");
        announce_attached();
        // Wait for SIGINT from the test, which must detach and kill us.
        std::thread::sleep(Duration::from_secs(60));
        drop(live);
    }

    /// Env var that makes `churn_helper` create and end threads nonstop.
    const CHURN_ENV: &str = "GOROSCOPE_LIVE_TEST_CHURN";
    /// Env var for `chained_attacher_helper`: the pid to attach.
    const CHAINED_ENV: &str = "GOROSCOPE_LIVE_TEST_CHAINED";

    #[test]
    #[ignore = "helper process for the live attach tests"]
    fn churn_helper() {
        if std::env::var_os(CHURN_ENV).is_none() {
            return;
        }
        // A few long-lived threads, and a spawner that keeps short-lived
        // ones coming, so attach races with thread creation and exit.
        for _ in 0..3 {
            std::thread::spawn(|| std::thread::sleep(Duration::from_secs(60)));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let handles: Vec<_> = (0..8)
                .map(|_| std::thread::spawn(|| std::thread::sleep(Duration::from_micros(200))))
                .collect();
            for h in handles {
                let _ = h.join();
            }
        }
    }

    static CHAINED_SIGINT_SEEN: AtomicBool = AtomicBool::new(false);

    extern "C" fn note_sigint(_sig: libc::c_int) {
        CHAINED_SIGINT_SEEN.store(true, Ordering::SeqCst);
    }

    #[test]
    #[ignore = "helper process for the live attach tests"]
    fn chained_attacher_helper() {
        let Some(pid) = std::env::var(CHAINED_ENV).ok().and_then(|v| v.parse().ok()) else {
            return;
        };
        // A program-level SIGINT handler that does not exit: ours must
        // detach and then call it, leaving this process alive.
        // SAFETY: installs a handler that only stores to an atomic.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = note_sigint as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
        }
        let live = LiveProcess::attach(pid).expect("attach");
        announce_attached();
        wait_until("SIGINT", || CHAINED_SIGINT_SEEN.load(Ordering::SeqCst));
        std::thread::sleep(Duration::from_secs(60));
        drop(live);
    }

    #[test]
    fn attach_is_consistent_while_threads_come_and_go() {
        let child = spawn_helper("live::tests::churn_helper", CHURN_ENV, "1");
        let pid = child.pid();
        wait_until("churn threads", || tasks(pid).len() >= 5);
        for _ in 0..20 {
            let live = LiveProcess::attach(pid).expect("attach under churn");
            let threads = live.threads().expect("threads");
            assert!(threads.len() >= 5, "{} threads", threads.len());
            // The set is closed: every live thread is one we stopped.
            let ours: HashSet<i32> = threads.iter().map(|t| t.tid).collect();
            for tid in tasks(pid) {
                assert!(ours.contains(&tid), "thread {tid} escaped the attach");
                assert_eq!(task_state(pid, tid), Some('t'), "thread {tid}");
            }
            live.detach();
            assert_eq!(tracer_pid(pid), 0);
        }
    }

    #[test]
    fn signal_handler_detaches_and_chains_to_the_programs_handler() {
        let target = spawn_sleeper();
        let pid = target.pid();
        let mut attacher = spawn_helper(
            "live::tests::chained_attacher_helper",
            CHAINED_ENV,
            &pid.to_string(),
        );
        let attacher_pid = attacher.pid();
        wait_for_marker(&mut attacher);
        let tracer = tracer_pid(pid);
        assert!(
            Path::new(&format!("/proc/{attacher_pid}/task/{tracer}")).exists(),
            "traced by {tracer}, not by the helper"
        );
        for tid in tasks(pid) {
            assert_eq!(task_state(pid, tid), Some('t'), "thread {tid}");
        }
        // SAFETY: plain kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(attacher_pid, libc::SIGINT) }, 0);
        // Detached by the handler itself: the helper stays alive, so this
        // is not the kernel's detach-at-exit.
        wait_until("the handler to detach", || tracer_pid(pid) == 0);
        assert!(
            attacher.0.try_wait().expect("try_wait").is_none(),
            "the program's own handler must have run instead of exiting"
        );
        assert_running_untraced(pid);
    }

    #[test]
    fn attach_reads_threads_and_memory_then_detaches() {
        let child = spawn_sleeper();
        let pid = child.pid();
        let live = LiveProcess::attach(pid).expect("attach");
        assert!(live.is_attached());
        assert_eq!(live.pid(), pid);
        assert_eq!(live.describe(), format!("process {pid}"));
        assert_eq!(live.crash_signal(), 0);
        assert!(live.mapped_build_id().is_none());
        assert_eq!(
            live.executable_path(),
            std::env::current_exe()
                .ok()
                .and_then(|p| p.canonicalize().ok())
        );

        // Every thread sits in a ptrace stop while we hold it.
        for tid in tasks(pid) {
            assert_eq!(task_state(pid, tid), Some('t'), "thread {tid}");
        }

        let threads = live.threads().expect("threads");
        assert!(threads.len() >= 6, "only {} threads", threads.len());
        assert_eq!(threads[0].tid, pid, "main thread first");
        assert!(threads[1..].windows(2).all(|w| w[0].tid < w[1].tid));
        for t in &threads {
            assert_ne!(t.regs.rip, 0, "thread {}", t.tid);
            assert_ne!(t.regs.rsp, 0, "thread {}", t.tid);
            assert_ne!(t.regs.fs_base, 0, "thread {} has no TLS", t.tid);
        }

        // The main thread's stack is readable, via either path.
        let rsp = threads[0].regs.rsp;
        let mut word = [0u8; 64];
        live.read_exact(rsp, &mut word).expect("read at rsp");
        let mut page = vec![0u8; 4096];
        assert_eq!(live.read_partial(rsp, &mut page).expect("partial"), 4096);
        let direct = {
            let mut b = [0u8; 64];
            let mem = live.mem.as_ref().expect("/proc/PID/mem is open");
            assert_eq!(procmem::mem_read(mem, rsp, &mut b), 64);
            b
        };
        assert_eq!(word, direct, "process_vm_readv and /proc/PID/mem agree");

        // Low memory is never mapped.
        match live.read_exact(0x10, &mut word) {
            Err(Error::Unreadable { addr, len, .. }) => {
                assert_eq!((addr, len), (0x10, 64));
            }
            other => panic!("expected Unreadable, got {other:?}"),
        }
        assert_eq!(live.read_partial(0x10, &mut word).expect("partial"), 0);
        assert!(live.read_u64(u64::MAX - 3).is_err(), "no wrap-around");

        assert!(live.pause_duration() >= live.attach_duration());
        let paused = live.detach();
        assert!(paused > Duration::ZERO);
        assert_running_untraced(pid);
    }

    #[test]
    fn read_partial_stops_at_the_end_of_a_mapping() {
        let child = spawn_sleeper();
        let pid = child.pid();
        let live = LiveProcess::attach(pid).expect("attach");
        // A readable mapping whose end is followed by a hole.
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
        let ranges: Vec<(u64, u64, bool)> = maps
            .lines()
            .filter_map(|l| {
                let (range, rest) = l.split_once(' ')?;
                let (lo, hi) = range.split_once('-')?;
                Some((
                    u64::from_str_radix(lo, 16).ok()?,
                    u64::from_str_radix(hi, 16).ok()?,
                    rest.starts_with('r') && !l.contains("[vvar") && !l.contains("[vsyscall]"),
                ))
            })
            .collect();
        let end = ranges
            .windows(2)
            .find(|w| w[0].2 && w[0].1 < w[1].0)
            .map(|w| w[0].1)
            .expect("a readable mapping followed by a gap");
        let mut buf = vec![0u8; 3000];
        let n = live.read_partial(end - 1000, &mut buf).expect("partial");
        assert_eq!(n, 1000);
        assert!(live.read_exact(end - 1000, &mut buf).is_err());
        live.read_exact(end - 1000, &mut buf[..1000])
            .expect("prefix readable");
        drop(live);
        assert_running_untraced(pid);
    }

    #[test]
    fn drop_detaches_and_resume_is_idempotent() {
        let child = spawn_sleeper();
        let pid = child.pid();
        let live = LiveProcess::attach(pid).expect("attach");
        live.resume().expect("resume");
        assert!(!live.is_attached());
        assert_running_untraced(pid);
        let frozen = live.pause_duration();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(live.pause_duration(), frozen, "pause stops at detach");
        live.resume().expect("second resume is a no-op");
        // Registers stay available after resuming.
        assert!(live.threads().expect("threads").len() >= 6);
        drop(live);

        // Dropping from another thread than the attaching one works too.
        let live = LiveProcess::attach(pid).expect("attach again");
        std::thread::spawn(move || drop(live))
            .join()
            .expect("drop thread");
        assert_running_untraced(pid);
    }

    #[test]
    fn a_job_control_stop_survives_attach_and_detach() {
        let child = spawn_sleeper();
        let pid = child.pid();
        // SAFETY: plain kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
        wait_until("the group stop", || {
            tasks(pid).iter().all(|&t| task_state(pid, t) == Some('T'))
        });
        let live = LiveProcess::attach(pid).expect("attach to a stopped process");
        let threads = live.threads().expect("threads");
        assert!(threads.len() >= 6);
        // The group stop is not a signal to hand back.
        assert!(threads.iter().all(|t| t.signal == 0 && t.regs.rip != 0));
        live.detach();
        // Still stopped as the user left it (SEIZE sent no SIGSTOP of its own
        // and the kernel re-instates the group stop on detach)...
        wait_until("the group stop again", || {
            tasks(pid).iter().all(|&t| task_state(pid, t) == Some('T'))
        });
        assert_eq!(tracer_pid(pid), 0);
        // ...and SIGCONT resumes it as usual.
        // SAFETY: plain kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
        wait_until("SIGCONT", || {
            tasks(pid)
                .iter()
                .all(|&t| matches!(task_state(pid, t), Some('S' | 'R')))
        });
        assert_running_untraced(pid);
    }

    #[test]
    fn second_attach_reports_already_traced() {
        let child = spawn_sleeper();
        let pid = child.pid();
        let live = LiveProcess::attach(pid).expect("attach");
        let err = LiveProcess::attach(pid).expect_err("second attach must fail");
        let msg = err.to_string();
        assert!(msg.contains("already traced"), "{msg}");
        assert!(msg.contains(&pid.to_string()), "{msg}");
        drop(live);
        assert_running_untraced(pid);
    }

    #[test]
    fn attach_errors_are_clear() {
        // The highest pid not in use.
        let max: i32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(32768);
        let missing = (2..max)
            .rev()
            .find(|p| !Path::new(&format!("/proc/{p}")).exists())
            .expect("a free pid");
        let msg = LiveProcess::attach(missing)
            .expect_err("missing pid")
            .to_string();
        assert!(msg.contains("no such process"), "{msg}");
        assert!(msg.contains(&missing.to_string()), "{msg}");

        let msg = LiveProcess::attach(-5).expect_err("bad pid").to_string();
        assert!(msg.contains("not a valid process id"), "{msg}");

        let me = std::process::id() as i32;
        let msg = LiveProcess::attach(me).expect_err("self").to_string();
        assert!(msg.contains("itself"), "{msg}");

        // A non-main thread id of another process.
        let child = spawn_sleeper();
        let pid = child.pid();
        let tid = tasks(pid)
            .into_iter()
            .find(|&t| t != pid)
            .expect("a second thread");
        let msg = LiveProcess::attach(tid).expect_err("tid").to_string();
        assert!(msg.contains(&format!("thread of process {pid}")), "{msg}");
    }

    #[test]
    fn permission_message_names_the_remedies() {
        let msg = permission_denied(42).to_string();
        assert!(msg.contains("ptrace_scope"), "{msg}");
        assert!(msg.contains("CAP_SYS_PTRACE"), "{msg}");
    }

    #[test]
    fn sigint_detaches_before_exiting() {
        use std::os::unix::process::ExitStatusExt;
        let target = spawn_sleeper();
        let pid = target.pid();
        let mut attacher =
            spawn_helper("live::tests::attacher_helper", ATTACH_ENV, &pid.to_string());
        let attacher_pid = attacher.pid();
        // Attached once every thread sits in a ptrace stop under the helper.
        wait_for_marker(&mut attacher);
        let tracer = tracer_pid(pid);
        assert!(
            Path::new(&format!("/proc/{attacher_pid}/task/{tracer}")).exists(),
            "traced by {tracer}, not by the helper"
        );
        for tid in tasks(pid) {
            assert_eq!(task_state(pid, tid), Some('t'), "thread {tid}");
        }
        // SAFETY: plain kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(attacher_pid, libc::SIGINT) }, 0);
        let status = attacher.0.wait().expect("wait attacher");
        assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
        assert_running_untraced(pid);
    }
}
