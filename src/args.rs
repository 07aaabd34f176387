//! The command grammar, shared by every frontend: the CLI wraps it with
//! target options (`--core`, `--pid`), the debugger adapters parse what
//! follows `go` in gdb/LLDB with [`parse_words`]. One grammar, so `go chain
//! 7 --json` in gdb means exactly what `goroscope chain 7 --json` means.

use clap::{Args, Parser, Subcommand};

use crate::command::{Command, FrameSelect};
use crate::error::{Error, Result};
use crate::render::Format;

/// The commands that run against a target.
#[derive(Subcommand, Debug, Clone)]
pub enum CommandArgs {
    /// Go version, module, goroutine/thread/P counts, crash signal.
    Info,
    /// One line per goroutine.
    Goroutines {
        /// Include the runtime's system goroutines.
        #[arg(long)]
        all: bool,
        /// Merge goroutines with identical stacks.
        #[arg(long)]
        group: bool,
        /// Also what each one waits on: the object with its name, a
        /// timer's firing time, the fd, the syscall (as `blocking` says).
        #[arg(short, long)]
        verbose: bool,
    },
    /// Wait-for cycles (lock-order inversions), goroutines that can never
    /// be woken (offline leak detection) and global deadlock. Exit status:
    /// 0 nothing found, 1 deadlocks or leaks found, 2 error.
    Deadlocks {
        /// List system goroutines too.
        #[arg(long)]
        all: bool,
    },
    /// The blocking chain from a goroutine: what it waits on, who holds
    /// that (with evidence), what they wait on, … until a live goroutine,
    /// an unknown or a cycle.
    Chain {
        /// Goroutine id.
        id: u64,
    },
    /// What every blocked goroutine waits on (channels, mutexes, wait
    /// groups, conds, fds), grouped by object.
    Blocking {
        /// Include system goroutines.
        #[arg(long)]
        all: bool,
    },
    /// Stack usage per goroutine, the deepest ones, recursion cycles, and
    /// the diagnosis of a stack-overflow crash.
    Stacks {
        /// Include system goroutines.
        #[arg(long)]
        all: bool,
        /// How many of the deepest goroutines to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Tracebacks in Go's format.
    Bt {
        /// Goroutine id.
        id: Option<u64>,
        /// All goroutines.
        #[arg(long)]
        all: bool,
        /// Include system goroutines.
        #[arg(long)]
        system: bool,
        /// Show runtime and wrapper frames (GOTRACEBACK=system style).
        #[arg(long)]
        runtime_frames: bool,
    },
    /// A Go value as the program's own fmt.Printf("%v") would print it:
    /// a package-level variable (`main.catalog`), with fields, indexes
    /// and map keys (`main.catalog.items[3]`, `main.byName["bob"]`), or a
    /// typed address (`*(main.Item)(0xc000012000)`).
    Print {
        /// The expressions (one output line, or JSON document, each).
        #[arg(required = true)]
        exprs: Vec<String>,
        /// Print like %+v (field names).
        #[arg(long)]
        plus: bool,
        /// Elements decoded per slice, array or map.
        #[arg(long, default_value_t = 100_000)]
        max_elems: usize,
    },
    /// Parameters and locals of a goroutine's frames (DWARF variable
    /// locations), printed as fmt's %v: every frame of the program's own
    /// code, or one frame.
    Locals {
        /// Goroutine id.
        id: u64,
        /// Only this frame (0 = innermost, inlined calls counted), any
        /// package.
        #[arg(long)]
        frame: Option<usize>,
        /// Only the logical frames of this physical frame (0 = innermost,
        /// inlined calls not counted: a debugger's frame number when it
        /// shows one frame per machine frame, as LLDB does).
        #[arg(long, conflicts_with = "frame")]
        physical_frame: Option<usize>,
        /// Print like %+v (field names).
        #[arg(long)]
        plus: bool,
        /// Elements decoded per slice, array or map.
        #[arg(long, default_value_t = 1_000)]
        max_elems: usize,
    },
}

/// How to print the result.
#[derive(Args, Debug, Clone, Default)]
pub struct FormatArgs {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print the wait-for graph as Graphviz DOT (blocking, chain,
    /// deadlocks).
    #[arg(long, global = true, conflicts_with = "json")]
    pub dot: bool,
}

impl FormatArgs {
    pub fn format(&self) -> Format {
        match (self.json, self.dot) {
            (true, _) => Format::Json,
            (_, true) => Format::Dot,
            _ => Format::Text,
        }
    }
}

impl CommandArgs {
    /// The command to execute; refuses argument combinations clap cannot
    /// express.
    pub fn into_command(self) -> Result<Command> {
        Ok(match self {
            CommandArgs::Info => Command::Info,
            CommandArgs::Goroutines {
                all,
                group,
                verbose,
            } => Command::Goroutines {
                system: all,
                group,
                verbose,
            },
            CommandArgs::Stacks { all, top } => Command::Stacks { system: all, top },
            CommandArgs::Blocking { all } => Command::Blocking { system: all },
            CommandArgs::Chain { id } => Command::Chain { id },
            CommandArgs::Deadlocks { all } => Command::Deadlocks { system: all },
            CommandArgs::Print {
                exprs,
                plus,
                max_elems,
            } => Command::Print {
                exprs,
                plus,
                max_elems,
            },
            CommandArgs::Locals {
                id,
                frame,
                physical_frame,
                plus,
                max_elems,
            } => Command::Locals {
                id,
                frames: match (frame, physical_frame) {
                    (Some(n), _) => FrameSelect::Logical(n),
                    (None, Some(n)) => FrameSelect::Physical(n),
                    (None, None) => FrameSelect::User,
                },
                plus,
                max_elems,
            },
            CommandArgs::Bt {
                id,
                all,
                system,
                runtime_frames,
            } => {
                if id.is_none() && !all {
                    return Err(Error::Other("bt needs a goroutine id or --all".into()));
                }
                Command::Bt {
                    id,
                    system,
                    runtime_frames,
                }
            }
        })
    }
}

/// A command line inside a debugger: `go <command> [options]`.
#[derive(Parser, Debug)]
#[command(name = "go", no_binary_name = true, disable_version_flag = true)]
struct DebuggerLine {
    #[command(flatten)]
    format: FormatArgs,
    #[command(subcommand)]
    cmd: CommandArgs,
}

/// A parsed invocation: what to run and how to print it.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub command: Command,
    pub format: Format,
}

/// Parses the words after `go` in a debugger (`["chain", "7", "--json"]`).
/// `--help` and usage errors come back as [`Error::Usage`] carrying clap's
/// message, for the frontend to print.
pub fn parse_words<I, S>(words: I) -> Result<Invocation>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let line = DebuggerLine::try_parse_from(words).map_err(|e| Error::Usage(e.to_string()))?;
    let invocation = Invocation {
        command: line.cmd.into_command()?,
        format: line.format.format(),
    };
    invocation.format.check(&invocation.command)?;
    Ok(invocation)
}

/// The commands of the grammar with their one-line descriptions, in
/// declaration order (debugger adapters register one subcommand each).
pub fn debugger_commands() -> Vec<(String, String)> {
    use clap::CommandFactory;
    DebuggerLine::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            (c.get_name().to_string(), about)
        })
        .collect()
}

/// The help text of a command (`["chain"]`), or of the whole grammar
/// (`[]`), as clap renders it for `--help`.
pub fn help_text(words: &[&str]) -> String {
    let mut argv: Vec<&str> = words.to_vec();
    argv.push("--help");
    match DebuggerLine::try_parse_from(argv) {
        Err(e) => e.to_string(),
        Ok(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debugger_lines() {
        let i = parse_words(["chain", "7", "--json"]).unwrap();
        assert!(matches!(i.command, Command::Chain { id: 7 }));
        assert_eq!(i.format, Format::Json);
        let i = parse_words(["deadlocks", "--dot", "--all"]).unwrap();
        assert!(matches!(i.command, Command::Deadlocks { system: true }));
        assert_eq!(i.format, Format::Dot);
        let i = parse_words(["bt", "--all"]).unwrap();
        assert!(matches!(i.command, Command::Bt { id: None, .. }));
        let i = parse_words(["print", "main.m[\"k\"]", "--plus", "--json"]).unwrap();
        assert!(matches!(i.command, Command::Print { plus: true, .. }));
        assert_eq!(i.format, Format::Json);
        assert!(parse_words(["print", "main.x", "--dot"]).is_err());
        assert!(parse_words(["print"]).is_err());
    }

    #[test]
    fn refuses_bad_lines() {
        assert!(matches!(parse_words(["bt"]), Err(Error::Other(_))));
        assert!(matches!(parse_words(["nosuch"]), Err(Error::Usage(_))));
        assert!(matches!(parse_words(["chain", "x"]), Err(Error::Usage(_))));
        assert!(parse_words(["goroutines", "--dot"]).is_err());
        assert!(parse_words(["blocking", "--dot", "--json"]).is_err());
        match parse_words(["--help"]) {
            Err(Error::Usage(m)) => assert!(m.contains("deadlocks")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lists_commands_and_help() {
        let names: Vec<String> = debugger_commands().into_iter().map(|c| c.0).collect();
        assert!(names.contains(&"chain".to_string()) && names.contains(&"bt".to_string()));
        assert!(help_text(&["chain"]).contains("Goroutine id"));
    }
}
