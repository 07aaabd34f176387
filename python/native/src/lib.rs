//! `goroscope._native`: the Python face of goroscope, for the GDB and LLDB
//! adapters in `python/goroscope/`. The only crate that names pyo3.
//!
//! A [`PySession`] wraps one [`goroscope::session::Session`], opened on a
//! core file, or on a target the host debugger owns (a local process it
//! has stopped, or a remote one whose memory is read back through a Python
//! callback). Commands run through the one grammar
//! ([`goroscope::args::parse_words`]) and the one command table, so `go
//! chain 7` in a debugger prints what `goroscope chain 7` prints.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use goroscope::binary::elf::Executable;
use goroscope::command::execute;
use goroscope::error::Error;
use goroscope::goruntime::goroutine::status;
use goroscope::memory::host::HostTarget;
use goroscope::memory::{OsThread, Regs};
use goroscope::session::{Session, TargetSpec};

create_exception!(
    _native,
    GoroscopeError,
    PyException,
    "A goroscope error (the message says what and where)."
);
create_exception!(
    _native,
    UsageError,
    GoroscopeError,
    "A command line that does not parse, or --help: the message is the usage text."
);

fn py_err(e: Error) -> PyErr {
    match e {
        Error::Usage(m) => UsageError::new_err(m),
        e => GoroscopeError::new_err(e.to_string()),
    }
}

/// Exit status of a command, as the CLI's: 0 fine, 1 problems found,
/// 3 output complete except for goroutines that could not be decoded.
fn exit_status(found_problems: bool, warnings: &[String]) -> i32 {
    if found_problems {
        1
    } else if warnings.is_empty() {
        0
    } else {
        3
    }
}

/// Registers from a `{name: value}` mapping (amd64 names; missing ones 0).
fn regs_from(map: &std::collections::HashMap<String, u64>) -> Regs {
    let r = |n: &str| map.get(n).copied().unwrap_or(0);
    Regs {
        rax: r("rax"),
        rbx: r("rbx"),
        rcx: r("rcx"),
        rdx: r("rdx"),
        rsi: r("rsi"),
        rdi: r("rdi"),
        rbp: r("rbp"),
        rsp: r("rsp"),
        r8: r("r8"),
        r9: r("r9"),
        r10: r("r10"),
        r11: r("r11"),
        r12: r("r12"),
        r13: r("r13"),
        r14: r("r14"),
        r15: r("r15"),
        rip: r("rip"),
        eflags: r("eflags"),
        fs_base: r("fs_base"),
        gs_base: r("gs_base"),
        orig_rax: map.get("orig_rax").copied().unwrap_or(u64::MAX),
    }
}

/// One goroscope session over a stopped target.
#[pyclass(module = "goroscope._native", name = "Session")]
struct PySession {
    inner: Session,
    /// goid → index in `all_gs`, built on first use (goroutine_frames is
    /// called per goroutine: a scan each would be quadratic).
    by_goid: std::sync::OnceLock<std::collections::HashMap<u64, usize>>,
}

type ThreadList = Vec<(i64, std::collections::HashMap<String, u64>)>;

fn threads_from(threads: ThreadList) -> Vec<OsThread> {
    threads
        .into_iter()
        .map(|(tid, regs)| OsThread {
            tid: tid as i32,
            regs: regs_from(&regs),
            signal: 0,
        })
        .collect()
}

impl PySession {
    fn new(inner: Session) -> Self {
        PySession {
            inner,
            by_goid: std::sync::OnceLock::new(),
        }
    }

    /// The live goroutine with id `id`.
    fn live_g(&self, id: u64) -> PyResult<&goroscope::goruntime::goroutine::G> {
        let all = self.inner.all_gs();
        let index = self.by_goid.get_or_init(|| {
            all.iter()
                .enumerate()
                .filter_map(|(i, g)| {
                    g.as_ref()
                        .ok()
                        .filter(|g| !g.is_dead())
                        .map(|g| (g.goid, i))
                })
                .collect()
        });
        index
            .get(&id)
            .and_then(|&i| all.get(i))
            .and_then(|g| g.as_ref().ok())
            .ok_or_else(|| GoroscopeError::new_err(format!("no goroutine with id {id}")))
    }

    /// The frame pointer to give LLDB for a goroutine's innermost frame.
    /// Go's CFI does not say where a frame saved the caller's BP, so LLDB
    /// carries frame 0's rbp unchanged through every frame it unwinds by
    /// CFI, until a function whose code starts with `push rbp; mov rbp,
    /// rsp`, which it unwinds by frame pointer (CFA = rbp + 16). Giving it
    /// that frame's own frame pointer makes it, and every frame-pointer
    /// frame after it, unwind right (docs/debuggers.md).
    fn bp_for_lldb(
        &self,
        frames: &[goroscope::unwind::PhysFrame],
        fallback: u64,
        prologues: &mut std::collections::HashMap<u64, bool>,
    ) -> u64 {
        for f in frames.iter().skip(1) {
            if f.fp < f.sp + 16 {
                continue; // frameless: cannot be a push rbp; mov rbp, rsp function
            }
            let entry = f.func.entry;
            let pushes_bp = *prologues.entry(entry).or_insert_with(|| {
                let mut head = [0u8; 4];
                self.inner.target.read_exact(entry, &mut head).is_ok()
                    && head == [0x55, 0x48, 0x89, 0xe5]
            });
            if pushes_bp {
                return f.fp - 16;
            }
        }
        fallback
    }
}

#[pymethods]
impl PySession {
    /// Opens a core file; `exe` defaults to the executable the core names.
    #[staticmethod]
    #[pyo3(signature = (core, exe = None))]
    fn open_core(py: Python<'_>, core: PathBuf, exe: Option<PathBuf>) -> PyResult<Self> {
        let spec = TargetSpec::Core { core, exe };
        let inner = py.detach(|| Session::open(&spec)).map_err(py_err)?;
        Ok(PySession::new(inner))
    }

    /// Opens a process the host debugger has stopped: `threads` is a list
    /// of `(tid, {register: value})` (amd64 names). Memory is read from the
    /// local process `pid` directly, unless `read` is given: then
    /// `read(addr, length)` must return the bytes readable there (`bytes`,
    /// possibly shorter, or None), as for a remote target. `describe`
    /// names the target in messages.
    #[staticmethod]
    #[pyo3(signature = (exe, threads, pid = 0, read = None, describe = None))]
    fn open_host(
        exe: PathBuf,
        threads: ThreadList,
        pid: i32,
        read: Option<Py<PyAny>>,
        describe: Option<String>,
    ) -> PyResult<Self> {
        let threads = threads_from(threads);
        let target = match read {
            None => {
                if pid <= 0 {
                    return Err(GoroscopeError::new_err(
                        "open_host needs a pid (local process) or a read callback",
                    ));
                }
                HostTarget::local(pid, threads, Some(exe.clone())).map_err(py_err)?
            }
            Some(read) => {
                let what = describe.unwrap_or_else(|| "target of the debugger".into());
                let ctx = what.clone();
                let f = move |addr: u64, buf: &mut [u8]| -> goroscope::error::Result<usize> {
                    Python::attach(|py| {
                        let got = read.call1(py, (addr, buf.len())).map_err(|e| {
                            Error::Other(format!(
                                "reading {} bytes at {addr:#x} from {ctx}: {e}",
                                buf.len()
                            ))
                        })?;
                        if got.is_none(py) {
                            return Ok(0);
                        }
                        let b = got.bind(py);
                        let bytes = b.cast::<PyBytes>().map_err(|_| {
                            Error::Other("the read callback must return bytes or None".into())
                        })?;
                        let data = bytes.as_bytes();
                        let n = data.len().min(buf.len());
                        buf[..n].copy_from_slice(&data[..n]);
                        Ok(n)
                    })
                };
                HostTarget::through(Box::new(f), pid, threads, Some(exe.clone()), what)
            }
        };
        let exe = Arc::new(Executable::open(&exe).map_err(py_err)?);
        let inner = Session::with_target(Box::new(target), exe).map_err(py_err)?;
        Ok(PySession::new(inner))
    }

    /// Runs one command line (the words after `go`, e.g. `["chain", "7"]`)
    /// and returns `(text, exit_status, warnings)`: the text the CLI
    /// prints on stdout, its exit status (0, 1 = problems found, 3 =
    /// partial), and its warnings. Usage errors and `--help` raise
    /// UsageError with clap's text; failures raise GoroscopeError.
    fn run(&self, py: Python<'_>, words: Vec<String>) -> PyResult<(String, i32, Vec<String>)> {
        let inv = goroscope::args::parse_words(&words).map_err(py_err)?;
        let outcome = execute(&self.inner, &inv.command).map_err(py_err)?;
        let _ = py;
        let text = outcome.output.render(inv.format);
        let st = exit_status(outcome.output.found_problems(), &outcome.warnings);
        Ok((text, st, outcome.warnings))
    }

    /// Ids of the live goroutines (system ones too if `system`), in
    /// `allgs` order.
    #[pyo3(signature = (system = false))]
    fn goroutine_ids(&self, system: bool) -> Vec<u64> {
        self.inner
            .all_gs()
            .iter()
            .flatten()
            .filter(|g| !g.is_dead() && (system || !self.inner.is_system(g)))
            .map(|g| g.goid)
            .collect()
    }

    /// What a debugger needs to show goroutine `id`'s frames: a dict with
    /// `id`, `status`, `source` (where the unwind starts: "sched",
    /// "registers", ...), `thread` (tid of the thread it runs on, when it
    /// is running there at the stop, else None), `bp` (frame pointer of
    /// the innermost frame, 0 if unknown), `complete` (the unwind reached
    /// the goroutine's top frame) and `frames`: the physical frames,
    /// innermost first, each `{pc, sp, cfa, caller_bp, function, entry,
    /// top}` (`cfa` is the caller's sp, where the return address sits at
    /// cfa-8; `caller_bp` the frame pointer the frame saved, or None).
    fn goroutine_frames<'py>(&self, py: Python<'py>, id: u64) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.inner;
        let g = self.live_g(id)?;
        let (start, source, tid) = s.start_regs(g);
        let frames = s.phys_frames(g);
        let on_thread = source == "registers" || source == "signal context";
        let running_tid = (g.status() == status::RUNNING && on_thread)
            .then_some(tid)
            .flatten();
        let bp = match source {
            "sched" => g.sched_bp,
            "registers" => tid
                .and_then(|t| s.thread_by_tid(t))
                .map(|t| t.regs.rbp)
                .unwrap_or(0),
            _ => 0,
        };
        let list = PyList::empty(py);
        let n = frames.len();
        for (i, f) in frames.iter().enumerate() {
            let d = PyDict::new(py);
            d.set_item("pc", f.pc)?;
            d.set_item("sp", f.sp)?;
            d.set_item("cfa", f.fp)?;
            // A frame with locals saved the caller's BP just below the
            // return address (fp-16); a frameless leaf did not.
            let caller_bp = if f.fp >= f.sp + 16 {
                s.target.read_u64(f.fp - 16).ok()
            } else {
                None
            };
            d.set_item("caller_bp", caller_bp)?;
            d.set_item("function", s.rt.pcln.func_name(&f.func))?;
            d.set_item("entry", f.func.entry)?;
            d.set_item("top", i + 1 == n)?;
            list.append(d)?;
        }
        let complete = s.goroutine(g, None).unwind_error.is_none();
        let out = PyDict::new(py);
        out.set_item("id", id)?;
        out.set_item("status", s.rt.status_string(g.status()))?;
        out.set_item("source", source)?;
        out.set_item("start_pc", start.pc)?;
        out.set_item("start_sp", start.sp)?;
        out.set_item("thread", running_tid)?;
        out.set_item("bp", bp)?;
        out.set_item("complete", complete)?;
        out.set_item("frames", list)?;
        Ok(out)
    }

    /// The goroutines a debugger presents as threads of their own, in one
    /// call (LLDB's OS plugin: a call per goroutine would cost seconds at
    /// 100 000): every live goroutine (system ones too) that is not running
    /// on an OS thread at the stop and whose stack unwinds to at least one
    /// frame, as `(id, g address, queue, pc, sp, bp)` in `allgs` order.
    /// `queue` is the wait reason or the status; pc/sp are the innermost
    /// frame's, bp the frame pointer LLDB's unwinder gets furthest with.
    #[allow(clippy::type_complexity)]
    fn goroutine_threads(&self) -> Vec<(u64, u64, String, u64, u64, u64)> {
        let s = &self.inner;
        let mut prologues = std::collections::HashMap::new();
        let mut out = Vec::new();
        for g in s.all_gs().iter().flatten().filter(|g| !g.is_dead()) {
            let (_, source, tid) = s.start_regs(g);
            let on_thread = source == "registers" || source == "signal context";
            if g.status() == status::RUNNING || (on_thread && tid.is_some()) {
                continue; // the debugger shows it as its OS thread
            }
            let frames = s.phys_frames(g);
            let Some(first) = frames.first() else {
                continue;
            };
            let fallback = if source == "sched" { g.sched_bp } else { 0 };
            let bp = self.bp_for_lldb(&frames, fallback, &mut prologues);
            let queue = s
                .wait_reason_text(g)
                .unwrap_or_else(|| s.rt.status_string(g.status()).to_string());
            out.push((g.goid, g.addr, queue, first.pc, first.sp, bp));
        }
        out
    }

    /// The id of the goroutine OS thread `tid` runs at the stop (its M's
    /// current goroutine), or None.
    fn goroutine_on_thread(&self, tid: u64) -> Option<u64> {
        self.inner.goroutine_on_thread(tid).map(|g| g.goid)
    }

    /// A Go value of type `type_name` (its DWARF name: "main.Item",
    /// "map[string]int", "*main.Node") at `addr`, decoded by the Rust core
    /// (goroscope::values). Returns `(text, tree)`: the text fmt's `%v`
    /// (`%+v` with `plus`) prints, and the JSON tree of docs/json.md
    /// (`print --json` "value": kind, len/cap, children, dynamic, note) for
    /// children displays.
    ///
    /// `data`: the value's bytes, for a value not in target memory (a
    /// register, as a debugger holds an argument); `addr` is then ignored.
    #[pyo3(signature = (type_name, addr, plus = false, max_elems = 100_000, data = None))]
    fn value(
        &self,
        py: Python<'_>,
        type_name: &str,
        addr: u64,
        plus: bool,
        max_elems: usize,
        data: Option<Vec<u8>>,
    ) -> PyResult<(String, String)> {
        let limits = goroscope::values::Limits {
            max_elems,
            ..Default::default()
        };
        let s = &self.inner;
        py.detach(|| {
            let v = match data {
                None => goroscope::values::decode_typed(s, type_name, addr, limits)?,
                Some(bytes) => goroscope::values::decode_bytes(s, type_name, bytes, limits)?,
            };
            Ok((
                goroscope::values::format_value(&v, plus),
                v.to_json().to_string(),
            ))
        })
        .map_err(py_err)
    }

    /// The goroutines certain to hold the `sync.Mutex` (`kind` "mutex")
    /// or `sync.RWMutex` ("rwmutex") at `addr`: `[(goroutine id,
    /// evidence)]`, from a pending deferred Unlock/RUnlock of this very
    /// lock (the analysis layer's holders; the lock's state comes from
    /// [`Self::value`]).
    fn lock_holders(&self, py: Python<'_>, addr: u64, kind: &str) -> PyResult<Vec<(u64, String)>> {
        let kinds: &[&str] = match kind {
            "mutex" => &["mutex"],
            "rwmutex" => &["rwmutex write", "rwmutex read"],
            k => {
                return Err(GoroscopeError::new_err(format!(
                    "unknown lock kind {k:?} (mutex or rwmutex)"
                )))
            }
        };
        let s = &self.inner;
        Ok(py.detach(|| {
            let mut holders: Vec<(u64, String)> = Vec::new();
            for k in kinds {
                for h in s.holders_of(addr, k, &[]) {
                    if h.confidence == "certain" && !holders.iter().any(|(id, _)| *id == h.id) {
                        holders.push((h.id, h.evidence));
                    }
                }
            }
            holders
        }))
    }

    /// The goroutine whose `runtime.g` is at `addr`: `(id, state)`, the
    /// state as Go's traceback header shows it ("chan receive", "running",
    /// "dead"), or None when no g in `allgs` is there (g0, gsignal, ...).
    fn g_summary(&self, addr: u64) -> Option<(u64, String)> {
        let s = &self.inner;
        let g = s.all_gs().iter().flatten().find(|g| g.addr == addr)?;
        if g.is_dead() {
            return Some((g.goid, "dead".into()));
        }
        let st = g.status();
        let waiting = st == status::WAITING && g.wait_reason != 0;
        let text = if waiting {
            s.rt.wait_reason(g.wait_reason)
        } else {
            s.rt.status_string(st)
        };
        Some((g.goid, text.to_string()))
    }

    /// The Go release of the target ("go1.26.6").
    #[getter]
    fn go_version(&self) -> String {
        self.inner.rt.build.go_version.clone()
    }

    /// The target, as messages name it.
    #[getter]
    fn target(&self) -> String {
        self.inner.target.describe()
    }

    /// The executable's path.
    #[getter]
    fn executable(&self) -> String {
        self.inner.exe_path().display().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "<goroscope session: {} ({})>",
            self.inner.target.describe(),
            self.inner.rt.build.go_version
        )
    }
}

/// The commands of the shared grammar: `[(name, one-line description)]`.
#[pyfunction]
fn commands() -> Vec<(String, String)> {
    goroscope::args::debugger_commands()
}

/// clap's help text for a command (`["chain"]`), or for all (`[]`).
#[pyfunction]
fn help_text(words: Vec<String>) -> String {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    goroscope::args::help_text(&words)
}

/// Checks a command line against the grammar without running it: raises
/// UsageError (clap's text; also for `--help`) or GoroscopeError.
#[pyfunction]
fn check(words: Vec<String>) -> PyResult<()> {
    goroscope::args::parse_words(&words)
        .map(|_| ())
        .map_err(py_err)
}

/// `goroscope._native`
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySession>()?;
    m.add_function(wrap_pyfunction!(commands, m)?)?;
    m.add_function(wrap_pyfunction!(help_text, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add("GoroscopeError", m.py().get_type::<GoroscopeError>())?;
    m.add("UsageError", m.py().get_type::<UsageError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
