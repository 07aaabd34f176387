"""The layout sources used when a binary has no DWARF — the built-in table
of each Go release and the binary's own type descriptors — must agree with
the DWARF of an unstripped build of the same release."""

from __future__ import annotations

import os
import subprocess

import pytest

from .conftest import REPO, WORK, go_versions, goroscope_path


@pytest.mark.parametrize("version", go_versions())
def test_layout_sources_match_dwarf(version: str):
    go = subprocess.run([str(REPO / "scripts" / "go-toolchain"), version], capture_output=True, text=True, check=True).stdout.strip()
    out = WORK / version / "layouts-cms"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GOPROXY="off")
    subprocess.run([go, "build", "-o", str(out), "."], cwd=REPO / "examples" / "cms", env=env, check=True)
    res = subprocess.run([str(goroscope_path()), "verify-layouts", "--exe", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"layouts differ from DWARF for go{version}:\n{res.stdout}\n{res.stderr}"
    assert "structs checked" in res.stdout, res.stdout
    # Both sources must actually have covered something.
    counts = [int(w) for w in res.stdout.replace(",", " ").split() if w.isdigit()]
    assert len(counts) >= 2 and counts[-2] > 20 and counts[-1] > 10, res.stdout
