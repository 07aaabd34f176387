//! The one command table. Every frontend (CLI, shell, debugger adapters,
//! stub `monitor`) parses into [`Command`] and calls [`execute`]; the
//! result is rendered once, as text or JSON, by [`Output`].

use serde::Serialize;

use crate::error::{Error, Result};
use crate::report::Goroutine;
use crate::session::Session;

/// A command to run against a session.
#[derive(Debug, Clone)]
pub enum Command {
    /// Target summary.
    Info,
    /// One line per goroutine (or grouped).
    Goroutines {
        system: bool,
        group: bool,
        verbose: bool,
    },
    /// Wait-for cycles, leaked goroutines, global deadlock.
    Deadlocks { system: bool },
    /// The blocking chain from one goroutine.
    Chain { id: u64 },
    /// What every blocked goroutine waits on, grouped by object.
    Blocking { system: bool },
    /// Stack usage, deepest goroutines, recursion, stack-overflow diagnosis.
    Stacks { system: bool, top: usize },
    /// Tracebacks: one goroutine or all.
    Bt {
        id: Option<u64>,
        system: bool,
        runtime_frames: bool,
    },
    /// A Go value, printed as fmt's %v (or %+v with `plus`).
    Print {
        exprs: Vec<String>,
        plus: bool,
        max_elems: usize,
    },
    /// A goroutine's parameters and locals.
    Locals {
        id: u64,
        frames: FrameSelect,
        plus: bool,
        max_elems: usize,
    },
}

/// Which frames `locals` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSelect {
    /// Every frame of the program's own code.
    User,
    /// One logical frame (inlined calls counted), any package.
    Logical(usize),
    /// The logical frames of one physical frame, any package.
    Physical(usize),
}

/// Target summary for `info`.
#[derive(Debug, Serialize)]
pub struct Info {
    pub go_version: String,
    pub path: String,
    pub module: String,
    pub goos: String,
    pub goarch: String,
    pub executable: String,
    pub target: String,
    pub pid: i32,
    pub goroutines: usize,
    pub user_goroutines: usize,
    pub system_goroutines: usize,
    pub threads: usize,
    pub ms: usize,
    /// Number of Ps (`len(runtime.allp)`), when it can be found.
    pub ps: Option<u64>,
    /// GOMAXPROCS, when it can be found.
    pub gomaxprocs: Option<u64>,
    /// The symbol table was stripped (`-s`).
    pub stripped: bool,
    pub layouts: String,
    pub build_settings: Vec<(String, String)>,
    pub signal: Option<String>,
    pub crashing_goroutine: Option<u64>,
    /// What the crashing goroutine panicked with, if it panicked.
    pub panic: Option<String>,
    pub crashing_thread: Option<i32>,
    /// The runtime globals the commands read, and how each was located.
    pub runtime_globals: Vec<RuntimeGlobal>,
    pub warnings: Vec<String>,
}

/// One runtime global in `info`.
#[derive(Debug, Serialize)]
pub struct RuntimeGlobal {
    pub name: String,
    /// Target address, when located.
    pub address: Option<u64>,
    /// "symbol table" or "discovered" (stripped binaries: by shape, or
    /// through the code that uses it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_by: Option<String>,
    /// Why it could not be located.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The globals `info` reports on: what the analyses and `info` read.
const REPORTED_GLOBALS: &[&str] = &[
    "runtime.firstmoduledata",
    "runtime.allgs",
    "runtime.allm",
    "runtime.allp",
    "runtime.gomaxprocs",
    "runtime.sched",
    "runtime.mheap_",
    "runtime.semtable",
    "runtime.fingStatus",
    "runtime.maxstacksize",
];

/// A command's result, rendered by the frontends.
#[derive(Debug)]
pub enum Output {
    Info(Box<Info>),
    Goroutines {
        go_version: String,
        goroutines: Vec<Goroutine>,
        group: bool,
        /// `-v`: what each goroutine waits on, by id.
        waits: Option<std::collections::HashMap<u64, crate::analysis::waits::WaitingOn>>,
    },
    Bt {
        go_version: String,
        goroutines: Vec<Goroutine>,
        runtime_frames: bool,
    },
    Stacks(Box<StacksReport>),
    Blocking(Box<BlockingReport>),
    Chain(Box<ChainReport>),
    Deadlocks(Box<crate::analysis::deadlocks::DeadlockReport>),
    Print(Vec<PrintReport>),
    Locals(Box<crate::values::locals::LocalsReport>),
}

/// What `print` reports.
#[derive(Debug)]
pub struct PrintReport {
    pub expr: String,
    pub value: crate::values::Value,
    /// %+v instead of %v.
    pub plus: bool,
}

/// What `chain` reports.
#[derive(Debug, Serialize)]
pub struct ChainReport {
    pub chain: Vec<ChainLink>,
    /// The chain came back to a goroutine already in it.
    pub cycle: bool,
    /// The goroutines of that cycle, in wait order (empty without one).
    pub cycle_ids: Vec<u64>,
}

/// One goroutine in a blocking chain.
#[derive(Debug, Serialize)]
pub struct ChainLink {
    pub id: u64,
    /// Go's wait reason or status word.
    pub state: String,
    pub waiting_on: Option<ChainObject>,
    pub holders: Vec<crate::analysis::holders::Holder>,
    /// Minutes waited, as Go computes it.
    pub wait_minutes: i64,
}

/// The object of a chain link.
#[derive(Debug, Serialize)]
pub struct ChainObject {
    pub kind: String,
    pub name: String,
    pub addr: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waitgroup: Option<crate::analysis::waits::WaitGroupState>,
    /// The function whose parameter or local names the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// What `blocking` reports.
#[derive(Debug, Serialize)]
pub struct BlockingReport {
    /// Objects with the goroutines waiting on them, most waiters first.
    pub objects: Vec<BlockedObject>,
    /// Every goroutine listed, with what it waits on (null if not blocked).
    pub goroutines: Vec<BlockedGoroutine>,
}

/// One object goroutines wait on.
#[derive(Debug, Serialize)]
pub struct BlockedObject {
    pub kind: String,
    pub name: String,
    pub addr: u64,
    pub waiters: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chan: Option<crate::analysis::waits::ChanState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waitgroup: Option<crate::analysis::waits::WaitGroupState>,
    /// The function whose parameter or local names the object (for the
    /// first waiter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Channels: goroutines queued to receive and to send.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub receivers: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub senders: Vec<u64>,
    /// A select: each case's channel with its own name, state and queues.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cases: Vec<BlockedCase>,
    /// The timer that will end the wait (a timer's channel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer: Option<crate::analysis::timers::TimerInfo>,
}

/// One case of a select in `blocking`.
#[derive(Debug, Serialize)]
pub struct BlockedCase {
    #[serde(flatten)]
    pub case: crate::analysis::waits::ChanCase,
    pub receivers: Vec<u64>,
    pub senders: Vec<u64>,
}

/// One goroutine in `blocking`.
#[derive(Debug, Serialize)]
pub struct BlockedGoroutine {
    pub id: u64,
    pub state: String,
    pub waiting_on: Option<crate::analysis::waits::WaitingOn>,
}

/// What `stacks` reports.
#[derive(Debug, Serialize)]
pub struct StacksReport {
    /// The stack size limit (`runtime.maxstacksize`, as set by
    /// `debug.SetMaxStack`).
    pub limit: u64,
    /// Where the limit came from: "runtime.maxstacksize" or "default".
    pub limit_source: String,
    pub goroutines: Vec<crate::analysis::stacks::StackUse>,
    /// Goroutine ids, deepest first.
    pub deepest: Vec<u64>,
    pub overflow: Option<crate::analysis::stacks::Overflow>,
}

/// Outcome of a command: its output plus non-fatal problems.
#[derive(Debug)]
pub struct Outcome {
    pub output: Output,
    pub warnings: Vec<String>,
}

/// Signal names for the common crash signals.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTOP => "SIGSTOP",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

/// Runs a command.
pub fn execute(s: &Session, cmd: &Command) -> Result<Outcome> {
    let go_version = s.rt.build.go_version.clone();
    match cmd {
        Command::Info => info(s),
        Command::Goroutines {
            system,
            group,
            verbose,
        } => {
            let (goroutines, warnings) = s.goroutines(*system)?;
            let waits = verbose.then(|| s.waits_of(&goroutines));
            Ok(Outcome {
                output: Output::Goroutines {
                    go_version,
                    goroutines,
                    group: *group,
                    waits,
                },
                warnings,
            })
        }
        Command::Stacks { system, top } => stacks(s, *system, *top),
        Command::Blocking { system } => blocking(s, *system),
        Command::Chain { id } => chain(s, *id),
        Command::Deadlocks { system } => {
            let r = s.deadlocks(*system)?;
            // No silent downgrade: undecided verdicts make the run partial.
            let warnings = r.leak_check_error.iter().cloned().collect();
            Ok(Outcome {
                output: Output::Deadlocks(Box::new(r)),
                warnings,
            })
        }
        Command::Print {
            exprs,
            plus,
            max_elems,
        } => {
            let limits = crate::values::Limits::with_max_elems(*max_elems);
            let reports = exprs
                .iter()
                .map(|expr| {
                    Ok(PrintReport {
                        expr: expr.clone(),
                        value: crate::values::print_expr(s, expr, limits)?,
                        plus: *plus,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Outcome {
                output: Output::Print(reports),
                warnings: Vec::new(),
            })
        }
        Command::Locals {
            id,
            frames,
            plus,
            max_elems,
        } => {
            let limits = crate::values::Limits::with_max_elems(*max_elems);
            Ok(Outcome {
                output: Output::Locals(Box::new(s.frame_locals(*id, *frames, *plus, limits)?)),
                warnings: Vec::new(),
            })
        }
        Command::Bt {
            id,
            system,
            runtime_frames,
        } => {
            let (mut goroutines, warnings) = s.goroutines(*system || id.is_some())?;
            if let Some(id) = id {
                goroutines.retain(|g| g.id == *id);
                if goroutines.is_empty() {
                    return Err(Error::Other(format!("no goroutine with id {id}")));
                }
            }
            Ok(Outcome {
                output: Output::Bt {
                    go_version,
                    goroutines,
                    runtime_frames: *runtime_frames,
                },
                warnings,
            })
        }
    }
}

fn stacks(s: &Session, system: bool, top: usize) -> Result<Outcome> {
    use crate::analysis::stacks::{stack_uses, Overflow};
    let (goroutines, warnings) = s.goroutines(system)?;
    let sps: Vec<u64> = goroutines.iter().map(|g| g.sp).collect();
    let uses = stack_uses(&goroutines, &sps);
    // maxstacksize is 1<<20 until runtime.main raises it to 1e9 (64-bit).
    let (limit, limit_source) = match s
        .rt
        .symbol("runtime.maxstacksize")
        .and_then(|a| s.target.read_u64(a))
    {
        Ok(v) if v > 0 => (v, "runtime.maxstacksize"),
        _ => (1_000_000_000, "default"),
    };
    let mut order: Vec<&crate::analysis::stacks::StackUse> = uses.iter().collect();
    order.sort_by_key(|u| std::cmp::Reverse((u.depth, u.used)));
    let deepest = order.iter().take(top).map(|u| u.id).collect();
    // newstack throws "stack overflow" when doubling the stack would pass
    // the limit: the crashing goroutine of such a core is the one.
    let crashing = match s.target.crash_signal() {
        0 | libc::SIGSTOP => None,
        sig => s
            .threads
            .iter()
            .find(|t| t.signal == sig)
            .and_then(|t| s.ms.iter().find(|m| m.procid == t.tid as u64))
            .map(|m| m.curg),
    };
    let overflow = goroutines
        .iter()
        .zip(&uses)
        .find(|(g, u)| Some(g.addr) == crashing && u.allocated.saturating_mul(2) > limit)
        .map(|(g, u)| {
            let r = u.recursion.clone();
            Overflow {
                goroutine: g.id,
                limit,
                cycle: r.as_ref().map(|r| r.cycle.clone()).unwrap_or_default(),
                repeats: r.as_ref().map(|r| r.repeats).unwrap_or(0),
                entry: r.and_then(|r| r.entry),
            }
        });
    Ok(Outcome {
        output: Output::Stacks(Box::new(StacksReport {
            limit,
            limit_source: limit_source.into(),
            goroutines: uses,
            deepest,
            overflow,
        })),
        warnings,
    })
}

fn blocking(s: &Session, system: bool) -> Result<Outcome> {
    let (goroutines, warnings) = s.goroutines(system)?;
    let (raw, by_addr) = s.g_index();
    let mut listed = Vec::new();
    let mut objects: Vec<BlockedObject> = Vec::new();
    // (kind, addr, name) → index in `objects`: 100k waiters stay linear.
    let mut index: std::collections::HashMap<(String, u64, String), usize> = Default::default();
    for gr in &goroutines {
        let w = raw
            .get(&gr.addr)
            .and_then(|g| s.waiting_on(g, gr, &by_addr));
        if let Some(w) = &w {
            // Each sleeper has its own timer: summarised as one group (the
            // per-goroutine timer stays in `goroutines`).
            let (key_addr, name) = match w.kind.as_str() {
                "sleep" => (u64::MAX, "time.Sleep".to_string()),
                _ if w.addr == 0 => (u64::MAX, w.name.clone()),
                _ => (w.addr, w.name.clone()),
            };
            let key = (w.kind.clone(), key_addr, name.clone());
            match index.get(&key) {
                Some(&i) => objects[i].waiters.push(gr.id),
                None => {
                    index.insert(key, objects.len());
                    objects.push(BlockedObject {
                        kind: w.kind.clone(),
                        name,
                        addr: key_addr,
                        waiters: vec![gr.id],
                        chan: w.chan.clone(),
                        waitgroup: w.waitgroup.clone(),
                        scope: w.scope.clone(),
                        receivers: Vec::new(),
                        senders: Vec::new(),
                        cases: w
                            .channels
                            .iter()
                            .map(|c| {
                                let q = s.chan_queues(c.addr, &by_addr);
                                BlockedCase {
                                    case: c.clone(),
                                    receivers: q.recv_ids.clone(),
                                    senders: q.send_ids.clone(),
                                }
                            })
                            .collect(),
                        timer: (w.kind != "sleep").then(|| w.timer.clone()).flatten(),
                    })
                }
            }
        }
        listed.push(BlockedGoroutine {
            id: gr.id,
            state: gr.wait_reason.clone().unwrap_or_else(|| gr.status.clone()),
            waiting_on: w,
        });
    }
    for o in objects.iter_mut() {
        if o.addr == u64::MAX {
            o.addr = 0;
        } else if o.chan.is_some() {
            let q = s.chan_queues(o.addr, &by_addr);
            o.receivers = q.recv_ids.clone();
            o.senders = q.send_ids.clone();
        }
    }
    objects.sort_by_key(|o| std::cmp::Reverse(o.waiters.len()));
    Ok(Outcome {
        output: Output::Blocking(Box::new(BlockingReport {
            objects,
            goroutines: listed,
        })),
        warnings,
    })
}

/// Bound on chain length (cycle-safe anyway).
const MAX_CHAIN: usize = 256;

fn chain(s: &Session, start: u64) -> Result<Outcome> {
    let (goroutines, warnings) = s.goroutines(true)?;
    let by_id: std::collections::HashMap<u64, &Goroutine> =
        goroutines.iter().map(|g| (g.id, g)).collect();
    if !by_id.contains_key(&start) {
        return Err(Error::Other(format!("no goroutine with id {start}")));
    }
    let waits = s.waits_of(&goroutines);
    let mut links = Vec::new();
    let mut cycle = false;
    let mut cycle_ids = Vec::new();
    let mut cur = start;
    let mut seen = std::collections::HashSet::new();
    while links.len() < MAX_CHAIN {
        seen.insert(cur);
        let Some(gr) = by_id.get(&cur) else { break };
        let w = waits.get(&cur);
        let holders = match w {
            Some(w) if w.addr != 0 => {
                // Fellow waiters reference the object too; they are no holders.
                let waiters: Vec<u64> = waits
                    .iter()
                    .filter(|(_, o)| o.addr == w.addr)
                    .map(|(id, _)| *id)
                    .collect();
                s.holders_of(w.addr, &w.kind, &waiters)
            }
            _ => Vec::new(),
        };
        let next = holders
            .iter()
            .find(|h| h.confidence == "certain")
            .or_else(|| holders.first())
            .map(|h| h.id);
        links.push(ChainLink {
            id: cur,
            state: gr.wait_reason.clone().unwrap_or_else(|| gr.status.clone()),
            waiting_on: w.map(|w| ChainObject {
                kind: w.kind.clone(),
                name: w.name.clone(),
                addr: w.addr,
                waitgroup: w.waitgroup.clone(),
                scope: w.scope.clone(),
            }),
            holders,
            wait_minutes: gr.wait_minutes,
        });
        match next {
            Some(n) if seen.contains(&n) => {
                cycle = true;
                let from = links
                    .iter()
                    .position(|l: &ChainLink| l.id == n)
                    .unwrap_or(0);
                cycle_ids = links[from..].iter().map(|l| l.id).collect();
                break;
            }
            Some(n) => cur = n,
            None => break,
        }
    }
    Ok(Outcome {
        output: Output::Chain(Box::new(ChainReport {
            chain: links,
            cycle,
            cycle_ids,
        })),
        warnings,
    })
}

fn info(s: &Session) -> Result<Outcome> {
    let (all, mut warnings) = s.goroutines(true)?;
    let system = all.iter().filter(|g| g.system).count();
    let rt = &s.rt;
    let read_global = |name: &str, size: usize| -> Option<u64> {
        let a = rt.symbol(name).ok()?;
        match size {
            4 => s.target.read_u32(a).ok().map(u64::from),
            _ => s.target.read_u64(a).ok(),
        }
    };
    // gcore records the ptrace stop as SIGSTOP: a snapshot, not a crash.
    let signal = match s.target.crash_signal() {
        libc::SIGSTOP => 0,
        sig => sig,
    };
    let mut crashing_thread = None;
    let mut crashing_goroutine = None;
    let mut panic = None;
    if signal != 0 {
        if let Some(th) = s.threads.iter().find(|t| t.signal == signal) {
            crashing_thread = Some(th.tid);
            if let Some(m) = s.ms.iter().find(|m| m.procid == th.tid as u64) {
                if m.curg != 0 {
                    if let Some(g) = all.iter().find(|g| g.addr == m.curg) {
                        crashing_goroutine = Some(g.id);
                        panic = g.panic.clone();
                    }
                }
            }
        }
    }
    warnings.extend(s.warnings.iter().cloned());
    let info = Info {
        go_version: rt.build.go_version.clone(),
        path: rt.build.path.clone(),
        module: rt.build.module.clone(),
        goos: rt.build.setting("GOOS").unwrap_or("linux").to_string(),
        goarch: rt.build.setting("GOARCH").unwrap_or("amd64").to_string(),
        executable: s.exe_path().display().to_string(),
        target: s.target.describe(),
        pid: s.target.pid(),
        goroutines: all.len(),
        user_goroutines: all.len() - system,
        system_goroutines: system,
        threads: s.threads.len(),
        ms: s.ms.len(),
        ps: rt
            .symbol("runtime.allp")
            .ok()
            .and_then(|a| s.target.read_u64(a + 8).ok()),
        gomaxprocs: read_global("runtime.gomaxprocs", 4),
        stripped: rt.stripped(),
        layouts: rt.layouts.describe().to_string(),
        build_settings: rt.build.settings.clone(),
        signal: (signal != 0).then(|| signal_name(signal)),
        crashing_goroutine,
        panic,
        crashing_thread,
        runtime_globals: REPORTED_GLOBALS
            .iter()
            .map(|&name| match rt.locate_global(name) {
                Ok((how, a)) => RuntimeGlobal {
                    name: name.into(),
                    address: Some(a),
                    found_by: Some(how.into()),
                    error: None,
                },
                Err(e) => RuntimeGlobal {
                    name: name.into(),
                    address: None,
                    found_by: None,
                    error: Some(e),
                },
            })
            .collect(),
        warnings: Vec::new(),
    };
    Ok(Outcome {
        output: Output::Info(Box::new(info)),
        warnings,
    })
}

impl Output {
    /// Whether the output reports a problem (deadlocks or leaks found):
    /// such commands exit 1 so scripts and CI can use them.
    pub fn found_problems(&self) -> bool {
        match self {
            Output::Deadlocks(r) => {
                !r.cycles.is_empty() || !r.leaked.is_empty() || r.global_deadlock
            }
            _ => false,
        }
    }
}

/// The `goroutines --json` document (also `bt --json`).
#[derive(Serialize)]
pub(crate) struct GoroutinesDoc<'a> {
    pub(crate) go_version: &'a str,
    pub(crate) goroutines: Vec<GoroutineEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) groups: Option<Vec<Group>>,
}

/// One goroutine of `goroutines --json`, with what it waits on (`-v`).
#[derive(Serialize)]
pub(crate) struct GoroutineEntry<'a> {
    #[serde(flatten)]
    pub(crate) g: &'a Goroutine,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) waiting_on: Option<&'a crate::analysis::waits::WaitingOn>,
}

/// A set of goroutines with identical stacks.
#[derive(Debug, Serialize)]
pub struct Group {
    pub count: usize,
    pub ids: Vec<u64>,
    pub state: String,
    pub frames: Vec<crate::report::Frame>,
    pub created_by: Option<String>,
}

pub(crate) fn groups(gs: &[Goroutine]) -> Vec<Group> {
    let mut order: Vec<Group> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for g in gs {
        let state = g.wait_reason.clone().unwrap_or_else(|| g.status.clone());
        let created = g.created_by.as_ref().map(|c| c.function.clone());
        let mut key = format!("{state}|{created:?}|");
        for f in &g.frames {
            key.push_str(&format!("{}:{}:{};", f.function, f.file, f.line));
        }
        match index.get(&key) {
            Some(&i) => {
                order[i].count += 1;
                order[i].ids.push(g.id);
            }
            None => {
                index.insert(key, order.len());
                order.push(Group {
                    count: 1,
                    ids: vec![g.id],
                    state,
                    frames: g.frames.clone(),
                    created_by: created,
                });
            }
        }
    }
    order.sort_by_key(|g| std::cmp::Reverse(g.count));
    order
}
