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
//! - [`command`]: the one command table, rendered as text or JSON.
//! - `main.rs`/`cli`: the command-line frontend (clap) — the only place it is used.

pub mod analysis;
pub mod binary;
pub mod command;
pub mod error;
pub mod goruntime;
pub mod memory;
pub mod recover;
pub mod report;
pub mod session;
pub mod traceback;
pub mod unwind;
