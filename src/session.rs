//! A `Session` binds one target (core or live process) to its Go runtime
//! description and caches what every command needs per stop.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::binary::elf::Executable;
use crate::error::{Error, Result};
use crate::goruntime::goroutine::{G, M};
use crate::goruntime::runtime::GoRuntime;
use crate::memory::core::CoreFile;
use crate::memory::live::LiveProcess;
use crate::memory::snapshot::Snapshotting;
use crate::memory::{OsThread, Target};
use crate::unwind::SymCache;

/// Rendered frames keyed by physical (pc, trap).
pub type FrameCache = std::sync::Mutex<HashMap<(u64, bool), Arc<[crate::report::Frame]>>>;

/// Decoded channels keyed by address.
pub type ChanCache = std::sync::Mutex<HashMap<u64, Arc<crate::analysis::waits::ChanQueues>>>;

/// Object names found through a waiter's locals, by (address, type): the
/// name and scope, or None after a few fruitless tries.
pub type LocalNameCache = std::sync::Mutex<HashMap<(u64, String), (Option<(String, String)>, u8)>>;

/// How to reach the target.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    Core { core: PathBuf, exe: Option<PathBuf> },
    Pid { pid: i32, exe: Option<PathBuf> },
}

/// One opened target plus its runtime view.
pub struct Session {
    pub target: Box<dyn Target>,
    pub rt: GoRuntime,
    pub sym: SymCache,
    /// Frames rendered per physical (pc, trap), shared across goroutines.
    pub frame_cache: FrameCache,
    /// Channel states decoded at this stop, by hchan address.
    pub chan_cache: ChanCache,
    /// Pointer values held by package-level variables → the slot holding
    /// them (built on first use).
    pub global_ptrs: std::sync::OnceLock<HashMap<u64, u64>>,
    /// g address → semaphore address, from the runtime's semtable.
    pub sema_waiters: std::sync::OnceLock<HashMap<u64, u64>>,
    /// Goroutines queued per notifyList address, decoded at this stop.
    pub notify_cache: std::sync::Mutex<HashMap<u64, Arc<std::collections::HashSet<u64>>>>,
    /// Structs that pointer-typed globals point to (built on first use).
    pub global_structs: std::sync::OnceLock<crate::analysis::globalrefs::GlobalStructs>,
    /// Parameters and locals of every function (DWARF), read on first use.
    pub dwarf_vars: std::sync::OnceLock<Option<crate::binary::dwarfvars::DwarfVars>>,
    /// Names of objects through locals, so that many waiters on one object
    /// cost one search.
    pub local_names: LocalNameCache,
    pub threads: Vec<OsThread>,
    pub ms: Vec<M>,
    /// Every g in `runtime.allgs` at this stop (dead ones included), or the
    /// error that made one unreadable.
    pub gs: Vec<std::result::Result<G, (u64, Error)>>,
    /// `runtime.fingStatus` has fingRunningFinalizer set.
    pub finalizer_running: bool,
    /// Warnings gathered while loading (shown by `info`, kept in JSON).
    pub warnings: Vec<String>,
    /// The Go type graph for values (`print`), loaded on first use.
    pub value_types: crate::values::TypeGraphCell,
    /// The target's clocks at this stop (see `Session::stop_clock`).
    pub clock: std::sync::OnceLock<Option<crate::report::StopClock>>,
    /// Runtime timers by what they fire on (channel or argument), from
    /// every P's timer heap; built on first use.
    pub timers: std::sync::OnceLock<HashMap<u64, crate::analysis::timers::TimerAt>>,
    /// Pending context deadlines by Done channel; built on first use.
    pub context_deadlines:
        std::sync::OnceLock<HashMap<u64, crate::analysis::timers::ContextDeadline>>,
    /// How long each step of opening took (`--timing`), in order.
    pub phases: Vec<(&'static str, std::time::Duration)>,
}

/// Reads every g. On a live process the g structs are first copied in a
/// few large reads while it is stopped: they sit side by side in their
/// spans, so sorted and merged ranges cost one system call per 1 024 runs
/// of neighbours instead of one per g (a no-op for cores, read in place).
fn read_gs(
    rt: &GoRuntime,
    target: &dyn Target,
    addrs: &[u64],
) -> Vec<std::result::Result<G, (u64, Error)>> {
    let size = rt.g.size as usize;
    let ranges = addrs.iter().map(|&a| (a, size)).collect();
    target.prefetch(&crate::memory::coalesce(ranges, 4096, 1 << 20));
    let mut buf = vec![0u8; size];
    addrs
        .iter()
        .map(|&a| rt.read_g_into(target, a, &mut buf).map_err(|e| (a, e)))
        .collect()
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("target", &self.target.describe())
            .finish()
    }
}

impl Session {
    /// Opens a target as described.
    pub fn open(spec: &TargetSpec) -> Result<Self> {
        match spec {
            TargetSpec::Core { core, exe } => {
                let core = CoreFile::open(core)?;
                let exe =
                    match exe {
                        Some(p) => Executable::open(p)?,
                        None => match core.executable_path() {
                            Some(p) if p.exists() => Executable::open(&p)?,
                            Some(p) => crate::recover::executable_from_core(&core, &p)?,
                            None => return Err(Error::Other(
                                "the core names no executable (no NT_FILE note); pass --exe PATH"
                                    .into(),
                            )),
                        },
                    };
                let exe = Arc::new(exe);
                core.set_executable(exe.path(), exe.mapping());
                check_core_matches(&core, &exe)?;
                Self::with_target(Box::new(core), exe)
            }
            TargetSpec::Pid { pid, exe } => {
                let started = std::time::Instant::now();
                let live = Snapshotting::new(LiveProcess::attach(*pid)?);
                let attached = started.elapsed();
                let exe_path = match exe {
                    Some(p) => p.clone(),
                    None => PathBuf::from(format!("/proc/{pid}/exe")),
                };
                let exe = Arc::new(Executable::open(&exe_path)?);
                let mut s = Self::with_target(Box::new(live), exe)?;
                s.phases.insert(0, ("attach", attached));
                Ok(s)
            }
        }
    }

    /// Builds a session over an already opened target.
    pub fn with_target(target: Box<dyn Target>, exe: Arc<Executable>) -> Result<Self> {
        let mut phases = Vec::new();
        let mut clock = std::time::Instant::now();
        let mut lap = |name: &'static str| {
            phases.push((name, clock.elapsed()));
            clock = std::time::Instant::now();
        };
        let rt = GoRuntime::load(exe, target.as_ref())?;
        lap("runtime tables");
        let threads = target.threads()?;
        let mut warnings = Vec::new();
        let ms = match rt.all_ms(target.as_ref(), &threads) {
            Ok(ms) => ms,
            Err(e) => {
                warnings.push(format!("cannot list Ms (runtime.allm): {e}"));
                Vec::new()
            }
        };
        let addrs = rt.allg_addrs(target.as_ref())?;
        lap("threads and Ms");
        let gs = read_gs(&rt, target.as_ref(), &addrs);
        lap("goroutines");
        // fingRunningFinalizer = 2 (1<<1): a finalizer is calling user code.
        let finalizer_running = rt
            .symbol("runtime.fingStatus")
            .and_then(|a| target.read_u32(a))
            .map(|s| s & 2 != 0)
            .unwrap_or(false);
        let mut session = Session {
            target,
            rt,
            sym: SymCache::default(),
            frame_cache: Default::default(),
            chan_cache: Default::default(),
            global_ptrs: Default::default(),
            notify_cache: Default::default(),
            sema_waiters: Default::default(),
            global_structs: Default::default(),
            dwarf_vars: Default::default(),
            local_names: Default::default(),
            clock: Default::default(),
            timers: Default::default(),
            context_deadlines: Default::default(),
            threads,
            ms,
            gs,
            finalizer_running,
            warnings,
            value_types: Default::default(),
            phases,
        };
        let started = std::time::Instant::now();
        session.prefetch_stacks();
        session.phases.push(("stacks", started.elapsed()));
        // Everything the goroutine walk needs is copied: a live process
        // runs again from here on.
        if let Err(e) = session.target.resume() {
            return Err(Error::Other(format!(
                "resuming {}: {e}",
                session.target.describe()
            )));
        }
        Ok(session)
    }

    /// Copies every stack's used part (and each thread's stack top) while
    /// a live target is stopped; a no-op for cores.
    fn prefetch_stacks(&self) {
        let mut ranges = Vec::new();
        for g in self.gs.iter().flatten() {
            if g.is_dead() || g.stack_hi <= g.stack_lo {
                continue;
            }
            let in_stack = |sp: u64| sp >= g.stack_lo && sp < g.stack_hi;
            let mut start = g.stack_hi;
            for sp in [g.sched_sp, g.syscallsp] {
                if in_stack(sp) {
                    start = start.min(sp);
                }
            }
            for t in &self.threads {
                if in_stack(t.regs.rsp) {
                    start = start.min(t.regs.rsp);
                }
            }
            if start == g.stack_hi {
                start = g.stack_lo;
            }
            let len = (g.stack_hi - start).min(crate::unwind::MAX_STACK_IMAGE);
            ranges.push((start, len as usize));
        }
        for m in &self.ms {
            if m.gsignal != 0 {
                ranges.push((m.gsignal, self.rt.g.size as usize));
            }
        }
        for t in &self.threads {
            ranges.push((t.regs.rsp, 64 * 1024));
        }
        // Merge only overlaps and near neighbours: the unused low part of
        // each stack is a gap not worth copying.
        self.target
            .prefetch(&crate::memory::coalesce(ranges, 256, 1 << 20));
    }

    /// The executable's path.
    pub fn exe_path(&self) -> &Path {
        self.rt.exe.path()
    }

    /// Ms by address.
    pub fn m_by_addr(&self) -> HashMap<u64, &M> {
        self.ms.iter().map(|m| (m.addr, m)).collect()
    }

    /// OS threads by tid.
    pub fn thread_by_tid(&self, tid: u64) -> Option<&OsThread> {
        self.threads.iter().find(|t| t.tid as u64 == tid)
    }

    /// Every goroutine in allgs (dead ones included), with per-g errors
    /// kept alongside rather than aborting the listing.
    pub fn all_gs(&self) -> &[std::result::Result<G, (u64, Error)>] {
        &self.gs
    }
}

/// Refuses a core produced by another build of the executable: the Go
/// build id note sits in the first page of the text mapping, which both
/// the kernel and gcore write into the core.
fn check_core_matches(core: &CoreFile, exe: &Executable) -> Result<()> {
    let Some(sec) = exe.section(".note.go.buildid") else {
        return Ok(());
    };
    let Some(expected) = exe.section_data(".note.go.buildid") else {
        return Ok(());
    };
    let bias = if exe.is_pie {
        core.auxv()
            .iter()
            .find(|&&(k, _)| k == libc::AT_ENTRY)
            .map(|&(_, v)| v.wrapping_sub(exe.entry))
            .unwrap_or(0)
    } else {
        0
    };
    let Some(found) = core.core_bytes(sec.addr + bias, expected.len()) else {
        return Ok(());
    };
    if found != expected {
        let exe_id = go_note_id(expected).unwrap_or_default();
        return Err(Error::Mismatch(match go_note_id(found) {
            Some(core_id) => format!(
                "{} has Go build id {exe_id:?} but the core was made from a binary with build id {core_id:?}",
                exe.path().display()
            ),
            None => format!(
                "{} (Go build id {exe_id:?}) does not match the core: the core has no Go build id note at {:#x}, so it was made from a different binary",
                exe.path().display(),
                sec.addr + bias
            ),
        }));
    }
    Ok(())
}

/// The build id string of a `.note.go.buildid` note image, if it is one.
fn go_note_id(note: &[u8]) -> Option<String> {
    let namesz = u32::from_le_bytes(note.get(0..4)?.try_into().ok()?) as usize;
    let descsz = u32::from_le_bytes(note.get(4..8)?.try_into().ok()?) as usize;
    let ty = u32::from_le_bytes(note.get(8..12)?.try_into().ok()?);
    if namesz != 4 || ty != 4 || note.get(12..16)? != b"Go\0\0" {
        return None;
    }
    let desc = note.get(16..16 + descsz)?;
    Some(
        String::from_utf8_lossy(desc)
            .trim_end_matches('\0')
            .to_string(),
    )
}
