//! Supported Go releases and the per-release constants that the binary does
//! not describe itself (funcIDs are not in DWARF).

use crate::error::{Error, Result};

/// The supported window, for messages.
pub const SUPPORTED: &str = "go1.21 to go1.27";
/// Lowest supported minor release.
pub const MIN_MINOR: u32 = 21;
/// Highest supported minor release.
pub const MAX_MINOR: u32 = 27;

/// A parsed Go release ("go1.26.6" → 1.26.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoVersion {
    pub minor: u32,
    pub patch: u32,
}

impl GoVersion {
    /// Parses a `runtime.Version()` string and checks it is supported.
    pub fn parse(s: &str) -> Result<Self> {
        let unsupported = || Error::UnsupportedGo {
            found: s.to_string(),
            supported: SUPPORTED.into(),
        };
        let rest = s.strip_prefix("go1.").ok_or_else(unsupported)?;
        // "1.26.6", "1.27rc1", "1.26.6 X:nocoverageredesign"
        let rest = rest.split([' ', '-', '+']).next().unwrap_or("");
        let minor_str: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let minor: u32 = minor_str.parse().map_err(|_| unsupported())?;
        let patch = rest[minor_str.len()..]
            .strip_prefix('.')
            .and_then(|p| {
                p.chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect::<String>()
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
        if !(MIN_MINOR..=MAX_MINOR).contains(&minor) {
            return Err(unsupported());
        }
        Ok(GoVersion { minor, patch })
    }

    /// Whether this is at least go1.`minor`.
    pub fn at_least(&self, minor: u32) -> bool {
        self.minor >= minor
    }
}

/// FuncIDs (internal/abi) that the unwinder and traceback care about.
#[derive(Debug, Clone, Copy)]
pub struct FuncIds {
    pub asm_cgocall: u8,
    pub async_preempt: u8,
    pub cgocallback: u8,
    pub corostart: Option<u8>,
    pub debug_call_v2: u8,
    pub goexit: u8,
    pub gopanic: u8,
    pub handle_async_event: u8,
    pub mcall: u8,
    pub morestack: u8,
    pub mstart: u8,
    pub panicwrap: u8,
    pub rt0_go: u8,
    pub runfinq: u8,
    pub runtime_main: u8,
    pub run_cleanups: Option<u8>,
    pub sigpanic: u8,
    pub systemstack: u8,
    pub systemstack_switch: u8,
    pub wrapper: u8,
}

impl FuncIds {
    /// The table for a release (internal/abi/symtab.go of that release).
    pub fn for_version(v: GoVersion) -> Self {
        // 1.22 inserted corostart at 5; 1.25 dropped runfinq's slot order
        // (runtime_main 17, runFinalizers 18, runCleanups 19).
        let s = u8::from(v.minor >= 22);
        let (runtime_main, runfinq, run_cleanups, sigpanic, wrapper) = if v.minor >= 25 {
            (17, 18, Some(19), 20, 23)
        } else {
            (17 + s, 16 + s, None, 18 + s, 21 + s)
        };
        FuncIds {
            asm_cgocall: 2,
            async_preempt: 3,
            cgocallback: 4,
            corostart: (v.minor >= 22).then_some(5),
            debug_call_v2: 5 + s,
            goexit: 7 + s,
            gopanic: 9 + s,
            handle_async_event: 10 + s,
            mcall: 11 + s,
            morestack: 12 + s,
            mstart: 13 + s,
            panicwrap: 14 + s,
            rt0_go: 15 + s,
            runfinq,
            runtime_main,
            run_cleanups,
            sigpanic,
            systemstack: sigpanic + 1,
            systemstack_switch: sigpanic + 2,
            wrapper,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            GoVersion::parse("go1.26.6").unwrap(),
            GoVersion {
                minor: 26,
                patch: 6
            }
        );
        assert_eq!(GoVersion::parse("go1.21.13").unwrap().minor, 21);
        assert_eq!(GoVersion::parse("go1.27rc1").unwrap().minor, 27);
        assert!(GoVersion::parse("go1.20.3").is_err());
        assert!(GoVersion::parse("devel +abc").is_err());
    }

    #[test]
    fn funcids_match_abi_tables() {
        let v21 = FuncIds::for_version(GoVersion {
            minor: 21,
            patch: 0,
        });
        assert_eq!(
            (v21.goexit, v21.sigpanic, v21.wrapper, v21.runtime_main),
            (7, 18, 21, 17)
        );
        let v24 = FuncIds::for_version(GoVersion {
            minor: 24,
            patch: 0,
        });
        assert_eq!(
            (v24.goexit, v24.sigpanic, v24.wrapper, v24.runtime_main),
            (8, 19, 22, 18)
        );
        let v26 = FuncIds::for_version(GoVersion {
            minor: 26,
            patch: 0,
        });
        assert_eq!(
            (v26.goexit, v26.sigpanic, v26.wrapper, v26.runtime_main),
            (8, 20, 23, 17)
        );
        assert_eq!((v26.systemstack, v26.mcall, v26.morestack), (21, 12, 13));
    }
}
