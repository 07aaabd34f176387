//! `.go.buildinfo`: the Go version and module/build settings the linker
//! embeds in every Go binary (stripped or not).

use crate::error::{Error, Result};

const MAGIC: &[u8] = b"\xff Go buildinf:";

/// What `.go.buildinfo` says about the binary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BuildInfo {
    /// e.g. "go1.26.6".
    pub go_version: String,
    /// Main package path ("path" line), e.g. "goroscope.example/cms".
    pub path: String,
    /// Main module path ("mod" line).
    pub module: String,
    /// `build` settings in order (GOOS, GOARCH, GOEXPERIMENT, -ldflags, ...).
    pub settings: Vec<(String, String)>,
}

impl BuildInfo {
    /// A build setting by key.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn uvarint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut x = 0u64;
    let mut shift = 0u32;
    loop {
        let b = *data.get(*pos)?;
        *pos += 1;
        if shift >= 64 {
            return None;
        }
        x |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(x);
        }
        shift += 7;
    }
}

fn inline_string<'a>(data: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let n = uvarint(data, pos)? as usize;
    let s = data.get(*pos..pos.checked_add(n)?)?;
    *pos += n;
    Some(s)
}

/// Parses the build info blob (the start of `.go.buildinfo`).
pub fn parse(data: &[u8]) -> Result<BuildInfo> {
    if data.len() < 32 || &data[..MAGIC.len()] != MAGIC {
        return Err(Error::NotGo(
            ".go.buildinfo has no Go build info header".into(),
        ));
    }
    let flags = data[15];
    if flags & 2 == 0 {
        return Err(Error::UnsupportedGo {
            found: "pre-1.18 build info (pointer format)".into(),
            supported: crate::goruntime::version::SUPPORTED.into(),
        });
    }
    let mut pos = 32;
    let bad = || Error::NotGo(".go.buildinfo is truncated".into());
    let version = inline_string(data, &mut pos).ok_or_else(bad)?;
    let modinfo = inline_string(data, &mut pos).ok_or_else(bad)?;
    let mut info = BuildInfo {
        go_version: String::from_utf8_lossy(version).into_owned(),
        ..Default::default()
    };
    // modinfo is framed by 16-byte sentinels.
    let modinfo = if modinfo.len() >= 33 {
        &modinfo[16..modinfo.len() - 16]
    } else {
        &[][..]
    };
    for line in String::from_utf8_lossy(modinfo).lines() {
        let mut parts = line.splitn(2, '\t');
        let (Some(kind), Some(rest)) = (parts.next(), parts.next()) else {
            continue;
        };
        match kind {
            "path" => info.path = rest.to_string(),
            "mod" => info.module = rest.split('\t').next().unwrap_or("").to_string(),
            "build" => {
                let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
                info.settings
                    .push((k.to_string(), v.trim_matches('"').to_string()));
            }
            _ => {}
        }
    }
    Ok(info)
}

/// Finds and parses the build info of an executable.
pub fn read(exe: &super::elf::Executable) -> Result<BuildInfo> {
    if let Some(data) = exe.section_data(".go.buildinfo") {
        return parse(data);
    }
    // No section headers: search the file for the 16-aligned header.
    let bytes = exe.bytes();
    let mut off = 0;
    while off + 32 <= bytes.len() {
        if &bytes[off..off + MAGIC.len()] == MAGIC {
            return parse(&bytes[off..]);
        }
        off += 16;
    }
    Err(Error::NotGo(format!(
        "{}: no Go build info (.go.buildinfo) found",
        exe.path().display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(version: &str, modinfo: &str) -> Vec<u8> {
        let mut d = MAGIC.to_vec();
        d.push(8);
        d.push(2);
        d.resize(32, 0);
        let push_uvarint = |d: &mut Vec<u8>, mut n: usize| {
            while n >= 0x80 {
                d.push((n as u8) | 0x80);
                n >>= 7;
            }
            d.push(n as u8);
        };
        push_uvarint(&mut d, version.len());
        d.extend_from_slice(version.as_bytes());
        let framed = format!("{}{}{}", "0123456789abcdef", modinfo, "0123456789abcdef");
        push_uvarint(&mut d, framed.len());
        d.extend_from_slice(framed.as_bytes());
        d
    }

    #[test]
    fn parses_version_and_settings() {
        let d = blob(
            "go1.26.6",
            "path\tgoroscope.example/cms\nmod\tgoroscope.example/cms\t(devel)\t\nbuild\tGOARCH=amd64\nbuild\t-ldflags=\"-s -w\"\n",
        );
        let bi = parse(&d).unwrap();
        assert_eq!(bi.go_version, "go1.26.6");
        assert_eq!(bi.path, "goroscope.example/cms");
        assert_eq!(bi.module, "goroscope.example/cms");
        assert_eq!(bi.setting("GOARCH"), Some("amd64"));
        assert_eq!(bi.setting("-ldflags"), Some("-s -w"));
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(parse(b"hello").is_err());
        let mut d = blob("go1.21.13", "");
        d.truncate(36);
        assert!(parse(&d).is_err());
    }
}
