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
use crate::memory::{OsThread, Target};
use crate::unwind::SymCache;

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
    pub threads: Vec<OsThread>,
    pub ms: Vec<M>,
    /// Warnings gathered while loading (shown by `info`, kept in JSON).
    pub warnings: Vec<String>,
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
                let exe_path = match exe {
                    Some(p) => p.clone(),
                    None => core.executable_path().filter(|p| p.exists()).ok_or_else(|| {
                        Error::Other(format!(
                            "the core names executable {} which is not readable here; pass --exe PATH",
                            core.executable_path()
                                .map(|p| p.display().to_string())
                                .unwrap_or_else(|| "(none recorded)".into())
                        ))
                    })?,
                };
                let exe = Arc::new(Executable::open(&exe_path)?);
                core.set_executable(&exe_path, exe.mapping());
                check_core_matches(&core, &exe)?;
                Self::with_target(Box::new(core), exe)
            }
            TargetSpec::Pid { pid, exe } => {
                let live = LiveProcess::attach(*pid)?;
                let exe_path = match exe {
                    Some(p) => p.clone(),
                    None => PathBuf::from(format!("/proc/{pid}/exe")),
                };
                let exe = Arc::new(Executable::open(&exe_path)?);
                Self::with_target(Box::new(live), exe)
            }
        }
    }

    /// Builds a session over an already opened target.
    pub fn with_target(target: Box<dyn Target>, exe: Arc<Executable>) -> Result<Self> {
        let rt = GoRuntime::load(exe, target.as_ref())?;
        let threads = target.threads()?;
        let mut warnings = Vec::new();
        let ms = match rt.all_ms(target.as_ref()) {
            Ok(ms) => ms,
            Err(e) => {
                warnings.push(format!("cannot list Ms (runtime.allm): {e}"));
                Vec::new()
            }
        };
        Ok(Session {
            target,
            rt,
            sym: SymCache::default(),
            threads,
            ms,
            warnings,
        })
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

    /// Reads every goroutine in allgs (dead ones included), with per-g
    /// errors returned alongside rather than aborting the listing.
    pub fn all_gs(&self) -> Result<Vec<std::result::Result<G, (u64, Error)>>> {
        let addrs = self.rt.allg_addrs(self.target.as_ref())?;
        Ok(addrs
            .into_iter()
            .map(|a| self.rt.read_g(self.target.as_ref(), a).map_err(|e| (a, e)))
            .collect())
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
        let id_of = |d: &[u8]| {
            let s = String::from_utf8_lossy(d.get(16..).unwrap_or(&[]));
            s.trim_end_matches('\0').to_string()
        };
        return Err(Error::Mismatch(format!(
            "{} has Go build id {:?} but the core was made from a binary with build id {:?}",
            exe.path().display(),
            id_of(expected),
            id_of(found)
        )));
    }
    Ok(())
}
