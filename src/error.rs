//! One error type for the core crate. Every variant says what went wrong and
//! where (an address, a field path, a file), because target data is untrusted
//! input and the user must be able to tell a corrupt core from a tool bug.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading a Go target.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Target memory at `addr` could not be read.
    #[error("cannot read {len} bytes at {addr:#x}{}", ctx_suffix(.context))]
    Unreadable {
        addr: u64,
        len: usize,
        context: String,
    },
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not what it should be (not ELF, not a core, truncated...).
    #[error("{path}: {what}")]
    BadFile { path: PathBuf, what: String },
    /// The executable is not a Go binary, or lacks what we need.
    #[error("not a Go binary: {0}")]
    NotGo(String),
    /// The Go release is outside the supported window.
    #[error("unsupported Go version {found}: goroscope supports {supported}")]
    UnsupportedGo { found: String, supported: String },
    /// The core was not produced by this executable.
    #[error("core does not match the executable: {0}")]
    Mismatch(String),
    /// A runtime type or field layout is missing.
    #[error("layout: {0}")]
    Layout(String),
    /// Runtime memory holds a value that cannot be right.
    #[error("corrupt runtime data: {0}")]
    Corrupt(String),
    /// Live process control (ptrace) failed.
    #[error("process {pid}: {what}")]
    Process { pid: i32, what: String },
    /// A command line that does not parse, or `--help`: the message is
    /// clap's usage text, for the frontend to print as it is.
    #[error("{0}")]
    Usage(String),
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}

fn ctx_suffix(ctx: &str) -> String {
    if ctx.is_empty() {
        String::new()
    } else {
        format!(" ({ctx})")
    }
}

impl Error {
    /// Adds a description of what was being read to an `Unreadable` error
    /// (outermost context first), leaving other errors alone.
    pub fn context(self, what: impl std::fmt::Display) -> Self {
        match self {
            Error::Unreadable { addr, len, context } => Error::Unreadable {
                addr,
                len,
                context: if context.is_empty() {
                    what.to_string()
                } else {
                    format!("{what}: {context}")
                },
            },
            Error::Corrupt(msg) => Error::Corrupt(format!("{what}: {msg}")),
            other => other,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad_file(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.into(),
            what: what.into(),
        }
    }
}

/// Extension to attach context to results.
pub trait ResultExt<T> {
    /// Wraps an error with a description of what was being read.
    fn ctx(self, what: impl std::fmt::Display) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn ctx(self, what: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| e.context(what))
    }
}
