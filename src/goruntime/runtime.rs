//! `GoRuntime`: everything we know about one Go program before reading any
//! goroutine — its executable, release, layouts, pclntab and the addresses
//! of the runtime globals in the target.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::binary::buildinfo::{self, BuildInfo};
use crate::binary::dwarf::DwarfTypes;
use crate::binary::elf::Executable;
use crate::binary::pclntab::Pclntab;
use crate::error::{Error, Result, ResultExt};
use crate::goruntime::layout::{FieldLoc, Layouts};
use crate::goruntime::tables::{self, BuiltinLayouts};
use crate::goruntime::typedesc::{Layered, TypeDescriptors};
use crate::goruntime::version::{FuncIds, GoVersion};
use crate::goruntime::{codeglobals, discover};
use crate::memory::Target;

/// Offsets of the `runtime.g` fields we read.
#[derive(Debug, Clone, Copy)]
pub struct GLayout {
    pub size: u64,
    pub stack_lo: FieldLoc,
    pub stack_hi: FieldLoc,
    pub sched_sp: FieldLoc,
    pub sched_pc: FieldLoc,
    pub sched_bp: FieldLoc,
    pub syscallsp: FieldLoc,
    pub syscallpc: FieldLoc,
    pub atomicstatus: FieldLoc,
    pub goid: FieldLoc,
    pub waitsince: FieldLoc,
    pub waitreason: FieldLoc,
    pub m: FieldLoc,
    pub lockedm: FieldLoc,
    pub parent_goid: FieldLoc,
    pub gopc: FieldLoc,
    pub startpc: FieldLoc,
    pub labels: FieldLoc,
    pub waiting: FieldLoc,
    pub defer: FieldLoc,
    pub panic: FieldLoc,
    /// go1.25+: set while a cleanup goroutine runs user code.
    pub running_cleanups: Option<FieldLoc>,
}

/// Offsets of the `runtime.m` fields we read.
#[derive(Debug, Clone, Copy)]
pub struct MLayout {
    pub size: u64,
    pub g0: FieldLoc,
    pub gsignal: FieldLoc,
    pub procid: FieldLoc,
    pub curg: FieldLoc,
    pub id: FieldLoc,
    pub p: FieldLoc,
    pub alllink: FieldLoc,
    pub lockedg: FieldLoc,
    pub vdso_sp: FieldLoc,
    pub vdso_pc: FieldLoc,
}

impl GLayout {
    fn resolve(l: &Layouts) -> Result<Self> {
        let f = |p: &str| l.field("runtime.g", p);
        Ok(GLayout {
            size: l.size("runtime.g")?,
            stack_lo: f("stack.lo")?,
            stack_hi: f("stack.hi")?,
            sched_sp: f("sched.sp")?,
            sched_pc: f("sched.pc")?,
            sched_bp: f("sched.bp")?,
            syscallsp: f("syscallsp")?,
            syscallpc: f("syscallpc")?,
            atomicstatus: f("atomicstatus")?,
            goid: f("goid")?,
            waitsince: f("waitsince")?,
            waitreason: f("waitreason")?,
            m: f("m")?,
            lockedm: f("lockedm")?,
            parent_goid: f("parentGoid")?,
            gopc: f("gopc")?,
            startpc: f("startpc")?,
            labels: f("labels")?,
            waiting: f("waiting")?,
            defer: f("_defer")?,
            panic: f("_panic")?,
            running_cleanups: l.try_field("runtime.g", "runningCleanups"),
        })
    }
}

impl MLayout {
    fn resolve(l: &Layouts) -> Result<Self> {
        let f = |p: &str| l.field("runtime.m", p);
        Ok(MLayout {
            size: l.size("runtime.m")?,
            g0: f("g0")?,
            gsignal: f("gsignal")?,
            procid: f("procid")?,
            curg: f("curg")?,
            id: f("id")?,
            p: f("p")?,
            alllink: f("alllink")?,
            lockedg: f("lockedg")?,
            vdso_sp: f("vdsoSP")?,
            vdso_pc: f("vdsoPC")?,
        })
    }
}

/// A Go program's static facts plus where its runtime globals live.
pub struct GoRuntime {
    pub exe: Arc<Executable>,
    pub build: BuildInfo,
    pub version: GoVersion,
    pub funcids: FuncIds,
    pub layouts: Layouts,
    pub pcln: Pclntab,
    /// Target address minus link address (PIE).
    pub bias: u64,
    pub g: GLayout,
    pub m: MLayout,
    /// moduledata.types: base for type-name offsets.
    pub types_base: u64,
    /// `runtime.waitReasonStrings` as the target holds them.
    pub wait_reasons: Vec<String>,
    /// `runtime.gStatusStrings`.
    pub status_strings: Vec<String>,
    /// The runtime prints pprof labels in goroutine headers
    /// (`debug.tracebacklabels`, go1.26+).
    pub traceback_labels: bool,
    /// Globals found without a symbol table.
    globals: HashMap<&'static str, u64>,
    /// Globals discovery looked for and did not find, with the reason.
    globals_missing: HashMap<&'static str, String>,
    /// Data/bss symbols sorted by address (built on first use).
    data_symbols: OnceLock<Vec<(u64, u64, String)>>,
    /// Function entry points by name (built on first use).
    func_entries: OnceLock<HashMap<String, u64>>,
}

impl std::fmt::Debug for GoRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoRuntime")
            .field("version", &self.build.go_version)
            .finish()
    }
}

/// Struct types worth keeping from DWARF.
/// All named structs are kept: runtime ones for layouts, the program's
/// own for naming objects by field path (`main.accounts.mu`).
fn keep_type(_name: &str) -> bool {
    true
}

impl GoRuntime {
    /// Loads everything static about `exe` and locates it in `target`.
    pub fn load(exe: Arc<Executable>, target: &dyn Target) -> Result<Self> {
        let build = buildinfo::read(&exe)?;
        let version = GoVersion::parse(&build.go_version)?;
        if exe.machine != goblin::elf::header::EM_X86_64 {
            return Err(Error::Other(format!(
                "{}: only linux/amd64 binaries are supported (ELF machine {})",
                exe.path().display(),
                exe.machine
            )));
        }
        let bias = load_bias(&exe, target);
        // One provider, two sources: the binary's DWARF, else the built-in
        // table generated from the same release's DWARF.
        let builtin = || {
            BuiltinLayouts::for_minor(version.minor).ok_or_else(|| {
                Error::Layout(format!(
                    "{} has no DWARF and goroscope has no built-in layouts for {}",
                    exe.path().display(),
                    build.go_version
                ))
            })
        };
        // DWARF without the runtime's types (C objects' DWARF kept by an
        // external link with -w) counts as none.
        let dwarf = DwarfTypes::load(&exe, keep_type)?.filter(|t| t.get("runtime.g").is_some());
        let has_dwarf = dwarf.is_some();
        let mut layouts = match dwarf {
            Some(types) => Layouts::new(Box::new(types)),
            None => Layouts::new(Box::new(builtin()?)),
        };

        let mut globals = HashMap::new();
        let md_addr = match symbol_addr(&exe, bias, "runtime.firstmoduledata") {
            Ok(a) => a,
            Err(_) => {
                let a = discover::find_moduledata(&exe, bias, target)?;
                globals.insert("runtime.firstmoduledata", a);
                a
            }
        };
        let read_md = |layouts: &Layouts, field: &str| -> Result<u64> {
            let loc = layouts.field("runtime.moduledata", field)?;
            target
                .read_u64(md_addr + loc.offset)
                .ctx(format!("runtime.firstmoduledata.{field}"))
        };
        let types_base = read_md(&layouts, "types")?;
        if !has_dwarf {
            // Without DWARF, the binary's own type descriptors describe the
            // structs they cover exactly; the table fills in the rest.
            let etypes = read_md(&layouts, "etypes")?;
            if let Ok(td) = TypeDescriptors::load(target, types_base, etypes, tables::ROOTS) {
                if td.has("runtime.g") {
                    layouts = Layouts::new(Box::new(Layered {
                        primary: td,
                        fallback: builtin()?,
                    }));
                }
            }
        }
        let md = |field: &str| read_md(&layouts, field);
        let g = GLayout::resolve(&layouts)?;
        let m = MLayout::resolve(&layouts)?;
        let text = md("text")?;
        let gofunc = md("gofunc")?;
        let pc_header = md("pcHeader")?;
        let pcln_off = exe
            .sections
            .iter()
            .find(|s| s.name.ends_with(".gopclntab") && s.addr + bias == pc_header)
            .map(|s| s.offset as usize)
            .or_else(|| {
                let vaddr = pc_header.checked_sub(bias)?;
                let seg = exe
                    .segments
                    .iter()
                    .find(|s| vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz)?;
                Some((seg.offset + (vaddr - seg.vaddr)) as usize)
            })
            .ok_or_else(|| {
                Error::Mismatch(format!(
                    "moduledata.pcHeader {pc_header:#x} is not in the executable {}",
                    exe.path().display()
                ))
            })?;
        let pcln = Pclntab::new(exe.clone(), pcln_off, text, gofunc, bias)?;
        let funcids = FuncIds::for_version(version);

        let builtin = BuiltinLayouts::for_minor(version.minor);
        let strings = |name: &str| -> Result<Vec<String>> {
            if exe.symbol(name).is_some() {
                return read_string_array(&exe, bias, target, name);
            }
            // Stripped: the release's own strings, recorded with its layouts.
            builtin
                .as_ref()
                .and_then(|b| b.strings(name))
                .ok_or_else(|| {
                    Error::Layout(format!(
                        "{name}: no symbol and no built-in copy for {}",
                        build.go_version
                    ))
                })
        };
        let wait_reasons = strings("runtime.waitReasonStrings")?;
        let status_strings = strings("runtime.gStatusStrings")?;
        // Stripped binaries: find the globals the analyses need in the
        // module's bss by what they hold.
        let md_range = |a: &str, b: &str| -> Option<(u64, u64)> {
            let fa = layouts.try_field("runtime.moduledata", a)?;
            let fb = layouts.try_field("runtime.moduledata", b)?;
            Some((
                target.read_u64(md_addr + fa.offset).ok()?,
                target.read_u64(md_addr + fb.offset).ok()?,
            ))
        };
        let bss_ranges: Vec<(u64, u64)> =
            [md_range("bss", "ebss"), md_range("noptrbss", "enoptrbss")]
                .into_iter()
                .flatten()
                .collect();
        if exe.symbol("runtime.allgs").is_none() {
            globals.insert(
                "runtime.allgs",
                discover::find_allgs(target, &layouts, &g, &bss_ranges)?,
            );
        }
        // Globals found by shape or through the code that uses them. What
        // is not found is remembered with the reason, for whichever command
        // needs it to say (`symbol` returns it).
        let mut globals_missing = HashMap::new();
        if exe.symbol("runtime.mheap_").is_none() {
            match discover::find_mheap(target, &layouts, &bss_ranges) {
                Ok(a) => {
                    globals.insert("runtime.mheap_", a);
                }
                Err(e) => {
                    globals_missing.insert("runtime.mheap_", e.to_string());
                }
            }
        }
        if exe.symbol("runtime.allp").is_none() {
            let data: Vec<(u64, u64)> = [("data", "edata"), ("noptrdata", "enoptrdata")]
                .iter()
                .filter_map(|(a, b)| md_range(a, b))
                .chain(bss_ranges.iter().copied())
                .collect();
            let found = codeglobals::find(&pcln, target, &layouts, &data);
            globals.extend(found.found);
            globals_missing.extend(found.missing);
        }
        // The GODEBUG setting as the process resolved it, not a guess.
        let traceback_labels = layouts
            .try_field("var runtime.debug", "tracebacklabels")
            .and_then(|f| {
                let a = symbol_addr(&exe, bias, "runtime.debug").ok()?;
                target.read_u32(a + f.offset).ok()
            })
            == Some(1)
            || (exe.symbol("runtime.debug").is_none() && default_traceback_labels(&build, version));
        Ok(GoRuntime {
            exe,
            build,
            version,
            funcids,
            layouts,
            pcln,
            bias,
            g,
            m,
            types_base,
            wait_reasons,
            status_strings,
            traceback_labels,
            globals,
            globals_missing,
            func_entries: OnceLock::new(),
            data_symbols: OnceLock::new(),
        })
    }

    /// Target address of a runtime global or function: from the symbol
    /// table, else from what discovery found, else (functions) the pclntab.
    pub fn symbol(&self, name: &str) -> Result<u64> {
        symbol_addr(&self.exe, self.bias, name).or_else(|e| {
            if let Some(&a) = self.globals.get(name) {
                return Ok(a);
            }
            if let Some(why) = self.globals_missing.get(name) {
                return Err(Error::Layout(why.clone()));
            }
            let funcs = self.func_entries.get_or_init(|| {
                self.pcln
                    .funcs()
                    .map(|f| (self.pcln.func_name(&f).to_string(), f.entry))
                    .collect()
            });
            funcs.get(name).copied().ok_or(e)
        })
    }

    /// Where a runtime global is and how it was located: ("symbol table"
    /// | "discovered", address), or the reason it was not found.
    pub fn locate_global(&self, name: &str) -> std::result::Result<(&'static str, u64), String> {
        if let Ok(a) = symbol_addr(&self.exe, self.bias, name) {
            return Ok(("symbol table", a));
        }
        if let Some(&a) = self.globals.get(name) {
            return Ok(("discovered", a));
        }
        Err(self
            .globals_missing
            .get(name)
            .cloned()
            .unwrap_or_else(|| format!("{name} not found (no symbol table)")))
    }

    /// The package-level variable containing `addr`: its name and start.
    pub fn global_at(&self, addr: u64) -> Option<(String, u64)> {
        let table = self.data_symbols.get_or_init(|| {
            let mut v: Vec<(u64, u64, String)> = self
                .exe
                .data_symbols()
                .into_iter()
                .map(|(name, a, size)| (a + self.bias, size, name))
                .collect();
            v.sort();
            v
        });
        let i = table.partition_point(|(a, _, _)| *a <= addr);
        let (a, size, name) = table.get(i.checked_sub(1)?)?;
        (addr < a + (*size).max(1)).then(|| (name.clone(), *a))
    }

    /// Whether the symbol table was stripped (`-s`).
    pub fn stripped(&self) -> bool {
        !self.exe.has_symbols()
    }

    /// The string Go prints for a wait reason.
    pub fn wait_reason(&self, r: u8) -> &str {
        self.wait_reasons
            .get(r as usize)
            .map(|s| s.as_str())
            .unwrap_or("unknown wait reason")
    }

    /// The string Go prints for a status (scan bit removed).
    pub fn status_string(&self, s: u32) -> &str {
        self.status_strings
            .get(s as usize)
            .map(|s| s.as_str())
            .unwrap_or("???")
    }
}

fn symbol_addr(exe: &Executable, bias: u64, name: &str) -> Result<u64> {
    // Assembly functions carry their ABI in the ELF name ("….abi0").
    let sym = exe
        .symbol(name)
        .or_else(|| exe.symbol(&format!("{name}.abi0")));
    sym.map(|s| s.addr + bias).ok_or_else(|| {
        Error::Layout(format!(
            "symbol {name} not found in {} (stripped with -s?)",
            exe.path().display()
        ))
    })
}

/// Reads a global `[N]string` whose size the symbol table records.
fn read_string_array(
    exe: &Executable,
    bias: u64,
    target: &dyn Target,
    name: &str,
) -> Result<Vec<String>> {
    let sym = exe
        .symbol(name)
        .ok_or_else(|| Error::Layout(format!("symbol {name} not found")))?;
    let n = (sym.size / 16).min(256);
    (0..n)
        .map(|i| {
            target
                .read_go_string(sym.addr + bias + i * 16, 256)
                .ctx(format!("{name}[{i}]"))
        })
        .collect()
}

/// PIE load bias from AT_ENTRY; 0 for fixed-address executables.
fn load_bias(exe: &Executable, target: &dyn Target) -> u64 {
    if !exe.is_pie {
        return 0;
    }
    target
        .auxv()
        .and_then(|a| {
            a.iter()
                .find(|&&(k, _)| k == libc::AT_ENTRY)
                .map(|&(_, v)| v)
        })
        .map(|entry| entry.wrapping_sub(exe.entry))
        .unwrap_or(0)
}

/// GODEBUG tracebacklabels as the build defaults it when the process's own
/// setting cannot be read: on from go1.27 unless the module opts out.
fn default_traceback_labels(build: &BuildInfo, version: GoVersion) -> bool {
    version.at_least(27)
        && !build
            .setting("DefaultGODEBUG")
            .is_some_and(|d| d.split(',').any(|kv| kv == "tracebacklabels=0"))
}
