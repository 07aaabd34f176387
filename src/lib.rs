//! goroscope: a debugger extension that understands the Go runtime.
//!
//! Architecture (lower layers never depend on higher ones):
//! - [`error`]: one error type with context.
//! - [`memory`]: the `Memory`/`Target` traits; core files (mmap) and live
//!   processes (ptrace + process_vm_readv).
//! - [`binary`]: the executable on disk — ELF, `.go.buildinfo`, pclntab,
//!   DWARF types. Never reads target memory.
//! - [`goruntime`]: layouts by field name, goroutines, Ms, the runtime globals.
//! - [`unwind`]: Go frames from pclntab pcsp and inline trees.
//! - [`session`], [`report`], [`traceback`]: one target bound to its
//!   runtime; the goroutine model; Go's traceback rules and text.
//! - [`command`]: the one command table; [`render`]: its outputs as text,
//!   JSON or DOT; [`args`]: the one command grammar (clap), shared by the
//!   CLI (`main.rs`, which adds the target options) and the debugger
//!   adapters.
//! - [`values`]: Go values (DWARF types + target memory) printed as `fmt`
//!   prints them.

pub mod analysis;
pub mod args;
pub mod binary;
pub mod command;
pub mod error;
pub mod goruntime;
pub mod memory;
pub mod recover;
pub mod render;
pub mod report;
pub mod session;
pub mod timefmt;
pub mod traceback;
pub mod unwind;
pub mod values;
