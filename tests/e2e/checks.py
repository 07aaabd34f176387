"""Shared assertions for the matrix tests: compare goroscope's view of a
running example (from a gcore core or a live attach) with the Go runtime's
own runtime.Stack dump."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pytest

from .conftest import RunningExample, ToolResult, assert_ok
from .traceback import (
    Goroutine,
    compare_dumps,
    goroutine_from_json,
    looks_like_system_goroutine,
    parse_go_version,
    parse_traceback,
)


def _explainer(r: RunningExample):
    def explain(g: Goroutine) -> Optional[str]:
        if g.id == r.writer_id:
            return "the goroutine that wrote the dump (it has exited)"
        if looks_like_system_goroutine(g):
            return "system goroutine (Go's dump omits those)"
        return None

    return explain


def _skips(r: RunningExample) -> dict[int, str]:
    wid = r.writer_id
    return {wid: "wrote the dump; has exited since"} if wid is not None else {}


def _context(r: RunningExample, res: ToolResult, saved: Path) -> str:
    return f"\n\nexample {r.name}, go {r.version}, pid {r.pid}\nGo's dump: {r.stacks_path}\ntool output: {saved}\n$ {res.cmd}"


def check_bt_against_dump(r: RunningExample, res: ToolResult, saved: Path, what: str) -> None:
    assert_ok(res)
    actual = parse_traceback(res.stdout)
    if not actual:
        pytest.fail(
            f"{what}: no goroutine blocks ('goroutine N [status]:') in goroscope's output{_context(r, res, saved)}\n--- stdout (head) ---\n{res.stdout[:3000]}",
            pytrace=False,
        )
    bad = [g for g in actual if g.unknown_lines]
    cmp = compare_dumps(
        r.dump,
        actual,
        skip=_skips(r),
        explain_extra=_explainer(r),
        title=f"{what}: goroscope bt --all differs from Go's runtime.Stack dump",
    )
    msgs = []
    if not cmp.ok:
        msgs.append(cmp.report)
    if bad:
        msgs.append(
            "unparseable lines in goroscope's traceback output:\n"
            + "\n".join(f"  goroutine {g.id}: {line!r}" for g in bad[:10] for line in g.unknown_lines[:3])
        )
    if not cmp.compared:
        msgs.append("no goroutine was compared")
    if msgs:
        pytest.fail("\n\n".join(msgs) + _context(r, res, saved), pytrace=False)


def check_json_against_dump(r: RunningExample, res: ToolResult, saved: Path, go_version: str) -> None:
    assert_ok(res)
    try:
        doc = json.loads(res.stdout)
    except json.JSONDecodeError as e:
        pytest.fail(f"goroutines --json printed invalid JSON: {e}{_context(r, res, saved)}\n{res.stdout[:2000]}", pytrace=False)
    if not isinstance(doc, dict) or not isinstance(doc.get("goroutines"), list):
        pytest.fail(f"goroutines --json: expected an object with a 'goroutines' list{_context(r, res, saved)}", pytrace=False)
    problems = []
    if doc.get("go_version") != f"go{go_version}":
        problems.append(f"go_version: expected 'go{go_version}', got {doc.get('go_version')!r}")
    actual = []
    for i, g in enumerate(doc["goroutines"]):
        try:
            actual.append(goroutine_from_json(g, parse_go_version(go_version)))
        except (KeyError, TypeError, ValueError) as e:
            problems.append(f"goroutines[{i}] is malformed ({type(e).__name__}: {e}): {json.dumps(g)[:500]}")
    if problems:
        pytest.fail("\n".join(problems) + _context(r, res, saved), pytrace=False)
    cmp = compare_dumps(
        r.dump,
        actual,
        skip=_skips(r),
        explain_extra=_explainer(r),
        title="goroutines --json (filtered with Go's frame-hiding rules) differs from Go's runtime.Stack dump",
    )
    if not cmp.ok or not cmp.compared:
        pytest.fail((cmp.report or "no goroutine was compared") + _context(r, res, saved), pytrace=False)
