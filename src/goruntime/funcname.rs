//! Function names as the Go runtime prints them.

/// Formats a function name as Go prints it (runtime `funcNamePiecesForPrint`).
pub fn print_name(raw: &str, go127: bool) -> String {
    let Some(i) = raw.find('[') else {
        return raw.to_string();
    };
    let Some(j) = raw.rfind(']') else {
        return raw.to_string();
    };
    if j <= i {
        return raw.to_string();
    }
    let interior = &raw[i + 1..j];
    if !go127 || !interior.contains('[') {
        return format!("{}[...]{}", &raw[..i], &raw[j + 1..]);
    }
    // go1.27: generic method of a generic type: "T[...].M[...]".
    let mut depth = 1i32;
    let (mut rbr, mut lbr) = (None, None);
    for (k, c) in interior.char_indices() {
        match c {
            '[' => {
                depth += 1;
                if depth == 1 {
                    lbr = Some(k);
                    break;
                }
            }
            ']' => {
                depth -= 1;
                if depth < 0 {
                    break;
                }
                if depth == 0 {
                    rbr = Some(k);
                }
            }
            _ => {}
        }
    }
    match (rbr, lbr) {
        (Some(r), Some(l)) if l > r => format!(
            "{}[...]{}[...]{}",
            &raw[..i],
            &interior[r + 1..l],
            &raw[j + 1..]
        ),
        _ => format!("{}[...]{}", &raw[..i], &raw[j + 1..]),
    }
}

/// Whether a function belongs to user code: package `main`, or an import
/// path whose first element has a dot (standard-library paths never do).
pub fn is_user_function(name: &str) -> bool {
    let pkg = package_of(name);
    pkg == "main"
        || pkg
            .split('/')
            .next()
            .is_some_and(|first| first.contains('.'))
}

/// Whether a function is the runtime's or the sync primitives' own code
/// (`runtime.selectgo`, `sync.(*Mutex).Lock`, `internal/sync…`): its
/// variables are the machinery's (`c`, `cas1`, `m`), so they never name
/// the program's objects nor serve as evidence of who holds them.
pub fn is_runtime_internal(name: &str) -> bool {
    let pkg = package_of(name);
    pkg == "runtime"
        || pkg == "sync"
        || pkg == "sync/atomic"
        || pkg.starts_with("runtime/")
        || pkg.starts_with("internal/")
        || pkg == "internal"
}

/// The import path of a function's package ("net/http" for
/// "net/http.(*conn).serve").
fn package_of(name: &str) -> &str {
    let after_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let pkg_end = name[after_slash..]
        .find('.')
        .map(|i| after_slash + i)
        .unwrap_or(name.len());
    &name[..pkg_end]
}

#[cfg(test)]
mod tests {
    use super::{is_runtime_internal, is_user_function};

    #[test]
    fn runtime_internal_functions() {
        assert!(is_runtime_internal("runtime.selectgo"));
        assert!(is_runtime_internal("runtime.chanrecv"));
        assert!(is_runtime_internal("sync.(*Mutex).Lock"));
        assert!(is_runtime_internal("internal/sync.(*Mutex).lockSlow"));
        assert!(is_runtime_internal("runtime/pprof.writeGoroutine"));
        assert!(!is_runtime_internal("net/http.(*persistConn).writeLoop"));
        assert!(!is_runtime_internal("main.runtimeStats"));
        assert!(!is_runtime_internal("github.com/x/runtime.F"));
    }

    #[test]
    fn user_functions() {
        assert!(is_user_function("main.main"));
        assert!(is_user_function("main.(*Store).flush"));
        assert!(is_user_function("github.com/x/y.(*T).M"));
        assert!(is_user_function("goroscope.example/cms.run"));
        assert!(!is_user_function("internal/sync.runtime_SemacquireMutex"));
        assert!(!is_user_function("sync.(*Mutex).Lock"));
        assert!(!is_user_function("net/http.(*conn).serve"));
        assert!(!is_user_function("runtime.gopark"));
    }
}
