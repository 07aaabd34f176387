//! The `goroscope` command line: parses arguments (clap), opens a session,
//! runs one command from the command table and prints its rendering.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use goroscope::args::{CommandArgs, FormatArgs};
use goroscope::command::execute;
use goroscope::session::{Session, TargetSpec};

/// Exit status for errors (0 = fine; 1 is reserved for "findings").
const EXIT_ERROR: u8 = 2;
/// Exit status when output is complete except for goroutines that could
/// not be fully decoded (each reported on stderr).
const EXIT_PARTIAL: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "goroscope",
    version,
    about = "Goroutines, stacks and blocking from Go cores and live processes"
)]
struct Cli {
    #[command(flatten)]
    t: TargetArgs,
    #[command(flatten)]
    format: FormatArgs,
    #[command(subcommand)]
    cmd: Sub,
}

#[derive(Args, Debug, Clone)]
struct TargetArgs {
    /// Core file to read.
    #[arg(long, global = true, conflicts_with = "pid")]
    core: Option<PathBuf>,
    /// Executable that produced the core (default: the path the core records).
    #[arg(long, global = true)]
    exe: Option<PathBuf>,
    /// Live process to attach to (stopped briefly, then resumed).
    #[arg(long, global = true)]
    pid: Option<i32>,
    /// Report how long a live target was paused (on stderr).
    #[arg(long, global = true)]
    timing: bool,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Check the built-in layout table and the type-descriptor layouts of
    /// an unstripped binary (--exe) against its DWARF.
    #[command(hide = true)]
    VerifyLayouts,
    /// Print the runtime struct layouts of an unstripped binary (--exe) as
    /// a built-in table (used by scripts/gen-layouts).
    #[command(hide = true)]
    DumpLayouts,
    /// Print the lines that load goroscope into gdb (for ~/.gdbinit).
    Gdbinit,
    /// Print the lines that load goroscope into LLDB (for ~/.lldbinit).
    Lldbinit,
    #[command(flatten)]
    Run(CommandArgs),
}

fn spec(t: &TargetArgs) -> Result<TargetSpec, String> {
    match (&t.core, t.pid) {
        (Some(core), None) => Ok(TargetSpec::Core {
            core: core.clone(),
            exe: t.exe.clone(),
        }),
        (None, Some(pid)) => Ok(TargetSpec::Pid {
            pid,
            exe: t.exe.clone(),
        }),
        _ => Err("choose a target: --core CORE [--exe BIN] or --pid PID".into()),
    }
}

/// Writes to stdout; a closed pipe (`| head`) ends the output quietly
/// instead of panicking as `println!` does.
fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("goroscope: {e}");
    ExitCode::from(EXIT_ERROR)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let t = cli.t;
    let args = match cli.cmd {
        Sub::DumpLayouts | Sub::VerifyLayouts if t.exe.is_none() => {
            return fail("this command needs --exe BINARY");
        }
        Sub::DumpLayouts => return dump_layouts(t.exe.as_deref().unwrap_or(Path::new(""))),
        Sub::VerifyLayouts => return verify_layouts(t.exe.as_deref().unwrap_or(Path::new(""))),
        Sub::Gdbinit => return gdbinit(),
        Sub::Lldbinit => return lldbinit(),
        Sub::Run(args) => args,
    };
    let format = cli.format.format();
    let cmd = match args.into_command() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if let Err(e) = format.check(&cmd) {
        return fail(e);
    }
    let spec = match spec(&t) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let session = match Session::open(&spec) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let outcome = match execute(&session, &cmd) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    // Let a live process run again before printing: the pause ends here.
    if let Err(e) = session.target.resume() {
        eprintln!("goroscope: warning: resuming the target: {e}");
    }
    if t.timing {
        let phases: Vec<String> = session
            .phases
            .iter()
            .map(|(name, d)| format!("{name} {:.1} ms", d.as_secs_f64() * 1e3))
            .collect();
        eprintln!("goroscope: opening: {}", phases.join(", "));
        if let Some(p) = session.target.pause_duration() {
            eprintln!(
                "goroscope: target paused for {:.1} ms",
                p.as_secs_f64() * 1e3
            );
        }
    }
    drop(session);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let written = outcome.output.write(format, &mut out);
    if let Err(e) = written.and_then(|_| out.flush()) {
        // A closed pipe (`| head`) is not an error worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return fail(format!("writing output: {e}"));
        }
    }
    for w in &outcome.warnings {
        eprintln!("goroscope: warning: {w}");
    }
    if outcome.output.found_problems() {
        ExitCode::from(1)
    } else if outcome.warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PARTIAL)
    }
}

/// Where scripts/goroscope-gdb.py is: beside a checkout's
/// target/{release,debug}/goroscope, in an installed share/goroscope, or
/// in the source tree this binary was built from.
fn gdb_script() -> Option<PathBuf> {
    find_script("goroscope-gdb.py")
}

/// Where a script of scripts/ is (see [`gdb_script`]).
fn find_script(name: &str) -> Option<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(bin) = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
    {
        if let Some(dir) = bin.parent() {
            dirs.push(dir.join("../../scripts"));
            dirs.push(dir.join("../share/goroscope"));
        }
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts"));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
}

fn gdbinit() -> ExitCode {
    println!(
        "# goroscope: Go goroutines, tracebacks, blocking and deadlocks in gdb (add to ~/.gdbinit)"
    );
    match gdb_script() {
        Some(p) => println!("source {}", p.display()),
        None => {
            // No script on disk: the package installed into gdb's Python
            // (`pip install .`) registers the same commands.
            println!("python import goroscope.gdb; goroscope.gdb.register()");
        }
    }
    ExitCode::SUCCESS
}

/// `goroscope lldbinit`: LLDB 16 refuses to import a module whose name
/// has a dash, so the line names scripts/goroscope_lldb.py, the link to
/// scripts/goroscope-lldb.py.
fn lldbinit() -> ExitCode {
    println!(
        "# goroscope: Go goroutines, tracebacks, blocking and deadlocks in LLDB (add to ~/.lldbinit)"
    );
    match find_script("goroscope_lldb.py") {
        Some(p) => {
            // canonicalize() followed the link; import the link itself.
            let p = p.with_file_name("goroscope_lldb.py");
            println!("command script import {}", p.display())
        }
        None => {
            // No script on disk: the package installed into LLDB's Python.
            println!("command script import goroscope.lldb");
        }
    }
    ExitCode::SUCCESS
}

fn dump_layouts(exe: &std::path::Path) -> ExitCode {
    let run = || -> goroscope::error::Result<String> {
        let exe = goroscope::binary::elf::Executable::open(exe)?;
        let info = goroscope::binary::buildinfo::read(&exe)?;
        let types = goroscope::binary::dwarf::DwarfTypes::load(&exe, |n| {
            ["runtime.", "internal/", "sync.", "net.", "context."]
                .iter()
                .any(|p| n.starts_with(p))
        })?
        .ok_or_else(|| {
            goroscope::error::Error::Layout(format!("{} has no DWARF", exe.path().display()))
        })?;
        let mut table = goroscope::goruntime::tables::extract(&types, &info.go_version);
        for name in goroscope::goruntime::tables::STRING_ARRAYS {
            table
                .strings
                .insert(name.to_string(), file_string_array(&exe, name)?);
        }
        serde_json::to_string_pretty(&table)
            .map_err(|e| goroscope::error::Error::Other(e.to_string()))
    };
    match run() {
        Ok(json) => {
            print_out(&format!("{json}\n"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("goroscope: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Reads a `[N]string` global from the executable file itself (the
/// unstripped, fixed-address probe binary of scripts/gen-layouts).
fn file_string_array(
    exe: &goroscope::binary::elf::Executable,
    name: &str,
) -> goroscope::error::Result<Vec<String>> {
    use goroscope::error::Error;
    let sym = exe
        .symbol(name)
        .ok_or_else(|| Error::Layout(format!("symbol {name} not found")))?;
    let word =
        |a: u64| -> Option<u64> { Some(u64::from_le_bytes(exe.bytes_at(a, 8)?.try_into().ok()?)) };
    (0..sym.size / 16)
        .map(|i| {
            let h = sym.addr + i * 16;
            let (ptr, len) = (word(h), word(h + 8));
            match (ptr, len) {
                (_, Some(0)) => Ok(String::new()),
                (Some(p), Some(l)) => exe
                    .bytes_at(p, l as usize)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .ok_or_else(|| Error::Layout(format!("{name}[{i}] not in the file"))),
                _ => Err(Error::Layout(format!("{name}[{i}] not in the file"))),
            }
        })
        .collect()
}

/// Checks the two DWARF-less layout sources against a binary's DWARF: the
/// built-in table of its release, and the struct layouts recovered from its
/// type descriptors. Prints every difference; exit 1 if there is any.
fn verify_layouts(path: &std::path::Path) -> ExitCode {
    use goroscope::binary::dwarf::DwarfTypes;
    use goroscope::goruntime::layout::LayoutSource;
    use goroscope::goruntime::tables::{BuiltinLayouts, ROOTS};
    use goroscope::goruntime::typedesc::TypeDescriptors;
    let run = || -> goroscope::error::Result<Vec<String>> {
        use goroscope::error::Error;
        let exe = goroscope::binary::elf::Executable::open(path)?;
        let info = goroscope::binary::buildinfo::read(&exe)?;
        let version = goroscope::goruntime::version::GoVersion::parse(&info.go_version)?;
        let dwarf =
            DwarfTypes::load(&exe, |_| true)?.ok_or_else(|| Error::Layout("no DWARF".into()))?;
        let builtin = BuiltinLayouts::for_minor(version.minor)
            .ok_or_else(|| Error::Layout(format!("no built-in table for {}", info.go_version)))?;
        let image = ExeImage(&exe);
        let md = exe
            .symbol("runtime.firstmoduledata")
            .ok_or_else(|| Error::Layout("no symbols".into()))?;
        let field = |f: &str| {
            dwarf
                .member("runtime.moduledata", f)
                .map(|(o, _, _)| o)
                .unwrap_or(0)
        };
        let types = goroscope::memory::Memory::read_u64(&image, md.addr + field("types"))?;
        let etypes = goroscope::memory::Memory::read_u64(&image, md.addr + field("etypes"))?;
        let td = TypeDescriptors::load(&image, types, etypes, ROOTS)?;
        let mut problems = Vec::new();
        let mut checked = [0usize; 2];
        for name in ROOTS {
            let Some(want) = dwarf.get(name) else {
                continue;
            };
            for (i, (what, src)) in [
                ("built-in table", &builtin as &dyn LayoutSource),
                ("type descriptors", &td),
            ]
            .into_iter()
            .enumerate()
            {
                let Some(size) = src.struct_size(name) else {
                    if what == "built-in table" {
                        problems.push(format!("{name}: missing from the {what}"));
                    }
                    continue;
                };
                checked[i] += 1;
                if size != want.size {
                    problems.push(format!(
                        "{name}: size {size} in the {what}, {} in DWARF",
                        want.size
                    ));
                }
                for m in want.members.iter().filter(|m| m.name != "_") {
                    match src.member(name, &m.name) {
                        Some((off, sz, _)) if off == m.offset && sz == m.size => {}
                        Some((off, sz, _)) => problems.push(format!(
                            "{name}.{}: offset {off} size {sz} in the {what}, offset {} size {} in DWARF",
                            m.name, m.offset, m.size
                        )),
                        None => problems.push(format!("{name}.{}: missing from the {what}", m.name)),
                    }
                }
            }
        }
        print_out(&format!(
            "{}: {} structs checked against DWARF in the built-in table, {} in the type descriptors\n",
            path.display(),
            checked[0],
            checked[1]
        ));
        Ok(problems)
    };
    match run() {
        Ok(p) if p.is_empty() => ExitCode::SUCCESS,
        Ok(p) => {
            for line in p {
                print_out(&format!("{line}\n"));
            }
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("goroscope: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// A fixed-address executable's file image read as memory.
struct ExeImage<'a>(&'a goroscope::binary::elf::Executable);

impl goroscope::memory::Memory for ExeImage<'_> {
    fn read_exact(&self, addr: u64, buf: &mut [u8]) -> goroscope::error::Result<()> {
        match self.0.bytes_at(addr, buf.len()) {
            Some(b) => {
                buf.copy_from_slice(b);
                Ok(())
            }
            None => Err(goroscope::error::Error::Unreadable {
                addr,
                len: buf.len(),
                context: "executable image".into(),
            }),
        }
    }
}
