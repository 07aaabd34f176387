"""The harness itself, per Go release: the runtime's own dumps (the examples'
stacks files and the GOTRACEBACK=crash output) parse completely, so that the
comparisons in the other tests see every goroutine and frame. These do not
run goroscope."""

from __future__ import annotations

import pytest

from .conftest import CrashRun, RunningExample

pytestmark = [pytest.mark.matrix]


def _unparsed(goroutines) -> list[str]:
    return [f"goroutine {g.id}: {line!r}" for g in goroutines for line in g.unknown_lines]


def test_go_dump_parses(running: RunningExample):
    text = running.stacks_text
    gs = running.dump
    headers = sum(1 for line in text.splitlines() if line.startswith("goroutine "))
    assert len(gs) == headers, f"{running.stacks_path}: {headers} goroutine headers but {len(gs)} parsed"
    assert not _unparsed(gs), "unparsed lines:\n" + "\n".join(_unparsed(gs)[:20])
    assert running.writer_id is not None, f"{running.stacks_path}: the first goroutine is not the [running] dumper"
    for g in gs:
        assert g.frames or g.unavailable, f"goroutine {g.id} has no frames in {running.stacks_path}"
        if g.elided:
            assert len(g.frames) == 100, f"goroutine {g.id}: elided stack with {len(g.frames)} printed frames"


def test_crash_output_parses(crashed: CrashRun):
    if crashed.skip_reason:
        pytest.skip(crashed.skip_reason)
    gs = crashed.dump
    assert gs, f"no goroutines in the crash output:\n{crashed.stderr[-3000:]}"
    assert not _unparsed(gs), "unparsed lines:\n" + "\n".join(_unparsed(gs)[:20])
    assert any(g.base_status == "running" for g in gs), "no [running] goroutine in the crash output"
    # Level 2 (GOTRACEBACK=crash) prints runtime frames and fp/sp/pc.
    assert any(f.function == "runtime.goexit" for g in gs for f in g.frames)
    assert any("sp=" in f.extras for g in gs for f in g.frames)
