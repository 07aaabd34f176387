"""Unit tests of the Go traceback parser and comparator (traceback.py) on
literal samples of Go runtime output (paths shortened)."""

from __future__ import annotations

import copy

import pytest

from .traceback import (
    Creator,
    Frame,
    Goroutine,
    compare_dumps,
    compare_goroutine,
    diff_blocks,
    elide,
    go_shows_frame,
    go_visible_frames,
    goroutine_from_json,
    is_exported_runtime,
    looks_like_system_goroutine,
    normalize_function,
    parse_go_version,
    parse_traceback,
    split_call,
    split_status,
)

R = "/go/src/runtime"
M = "/src/demo/main.go"

# runtime.Stack(buf, true) at traceback level 1 (Go 1.26): the writer first.
LEVEL1 = f"""goroutine 5 [running]:
main.main.func6()
	{M}:83 +0x4f
created by main.main in goroutine 1
	{M}:81 +0x3c9

goroutine 1 [chan receive]:
main.main()
	{M}:89 +0x3d5

goroutine 18 [chan receive]:
main.(*Store).flush(...)
	{M}:17
main.main.gowrap1()
	{M}:60 +0x1d
created by main.main in goroutine 1
	{M}:60 +0x12d

goroutine 19 [chan receive, 3 minutes]:
main.waitFor[...](0x0?)
	{M}:21 +0x25
created by main.main in goroutine 1
	{M}:61 +0x176

goroutine 22 [chan receive, locked to thread]:
main.main.func2()
	{M}:66 +0x28
created by main.main in goroutine 1
	{M}:64 +0x205

goroutine 23 [sync.Mutex.Lock]:
internal/sync.runtime_SemacquireMutex(0x0?, 0x0?, 0x0?)
	{R}/sema.go:95 +0x25
internal/sync.(*Mutex).lockSlow(0x2ab6dbe04008)
	/go/src/internal/sync/mutex.go:149 +0x15d
internal/sync.(*Mutex).Lock(...)
	/go/src/internal/sync/mutex.go:70
sync.(*Mutex).Lock(...)
	/go/src/sync/mutex.go:46
main.main.func3()
	{M}:69 +0x2d
created by main.main in goroutine 1
	{M}:69 +0x265

goroutine 24 [chan receive]:
main.panicker.func2()
	{M}:47 +0x19
panic({{0x4b6000?, 0x4de010?}})
	{R}/panic.go:860 +0x13a
main.panicker(0x0?)
	{M}:49 +0x5d
created by main.main in goroutine 1
	{M}:70 +0x2a5

goroutine 26 [runnable]:
main.spin(...)
	{M}:36
created by main.main in goroutine 1
	{M}:73 +0x2ff

goroutine 30 [select (no cases)]:
main.main.func1()
	{M}:63 +0xf
created by main.main
	{M}:63 +0x1c5
"""

# GOTRACEBACK=crash output of a panic (Go 1.22+ level-2 headers).
CRASH = f"""panic: crash now

goroutine 1 gp=0x43e199f41e0 m=2 mp=0x43e19a2e808 [running]:
panic({{0x4b6000?, 0x4de020?}})
	{R}/panic.go:879 +0x16f fp=0x43e19a8aeb8 sp=0x43e19a8ae08 pc=0x47abaf
main.main()
	{M}:93 +0x492 fp=0x43e19a8af48 sp=0x43e19a8aeb8 pc=0x4aa792
runtime.main()
	{R}/proc.go:290 +0x2d5 fp=0x43e19a8afe0 sp=0x43e19a8af48 pc=0x44a2d5
runtime.goexit({{}})
	{R}/asm_amd64.s:1771 +0x1 fp=0x43e19a8afe8 sp=0x43e19a8afe0 pc=0x481581

goroutine 2 gp=0x43e199f4780 m=nil [force gc (idle)]:
runtime.gopark(0x0?, 0x0?, 0x0?, 0x0?, 0x0?)
	{R}/proc.go:462 +0xce fp=0x43e19a2afa8 sp=0x43e19a2af88 pc=0x47b04e
runtime.goparkunlock(...)
	{R}/proc.go:468
runtime.forcegchelper()
	{R}/proc.go:375 +0xb3 fp=0x43e19a2afe0 sp=0x43e19a2afa8 pc=0x44a5f3
runtime.goexit({{}})
	{R}/asm_amd64.s:1771 +0x1 fp=0x43e19a2afe8 sp=0x43e19a2afe0 pc=0x481581
created by runtime.init.7 in goroutine 1
	{R}/proc.go:363 +0x1a

goroutine 26 gp=0x43e19aa50e0 m=nil [runnable]:
runtime.asyncPreempt2()
	{R}/preempt.go:320 +0x14 fp=0x43e19ab2750 sp=0x43e19ab2730 pc=0x448bf4
runtime.asyncPreempt()
	{R}/preempt_amd64.s:124 +0x28b fp=0x43e19ab27d8 sp=0x43e19ab2750 pc=0x4826ab
main.main.gowrap6()
	{M}:34 +0x8 fp=0x43e19ab27e0 sp=0x43e19ab27d8 pc=0x4aa908
runtime.goexit({{}})
	{R}/asm_amd64.s:1771 +0x1 fp=0x43e19ab27e8 sp=0x43e19ab27e0 pc=0x481581
created by main.main in goroutine 1
	{M}:73 +0x2ff

goroutine 40 gp=0x43e19aa5000 m=4 mp=0x43e19a80008 [running]:
	goroutine running on other thread; stack unavailable
created by main.main in goroutine 1
	{M}:75 +0x33b

-----

SIGQUIT: quit
PC=0x4830c1 m=5 sigcode=0

goroutine 0 gp=0x76397d5f2c0 m=5 mp=0x76397d78008 [idle]:
runtime.futex(0x5a23f8, 0x80, 0x0, 0x0, 0x0, 0x0)
	{R}/sys_linux_amd64.s:569 +0x21 fp=0x7ffeaface570 sp=0x7ffeaface568 pc=0x4830c1
runtime.mstart()
	{R}/asm_amd64.s:395 +0x5 fp=0x7ffeaface708 sp=0x7ffeaface6f0 pc=0x47fab5

rax    0xca
rbx    0x0
rip    0x4830c1
"""


def gor(text: str) -> dict[int, Goroutine]:
    return {g.id: g for g in parse_traceback(text)}


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def test_parse_level1_blocks():
    gs = parse_traceback(LEVEL1)
    assert [g.id for g in gs] == [5, 1, 18, 19, 22, 23, 24, 26, 30]
    assert all(not g.unknown_lines for g in gs), [g.unknown_lines for g in gs]
    by = {g.id: g for g in gs}
    assert by[5].status == "running" and by[5].frames[0].function == "main.main.func6"
    assert by[1].created_by is None
    assert by[1].frames == [Frame("main.main", M, 89, "", 0x3D5, "")]


def test_parse_method_generic_inlined_and_creator():
    by = gor(LEVEL1)
    f = by[18].frames
    assert [x.function for x in f] == ["main.(*Store).flush", "main.main.gowrap1"]
    assert f[0].args == "..." and f[0].offset is None  # inlined: no +0x
    assert f[1].offset == 0x1D
    assert by[18].created_by == Creator("main.main", M, 60, 1)
    assert by[19].frames[0].function == "main.waitFor[...]"
    assert by[30].created_by == Creator("main.main", M, 63, None)  # no " in goroutine N"


def test_parse_status_extras():
    by = gor(LEVEL1)
    assert by[19].status == "chan receive, 3 minutes"
    assert by[19].base_status == "chan receive" and by[19].status_extras == ()
    assert by[22].status_extras == ("locked to thread",)
    assert split_status("GC worker (idle) (scan), 12 minutes, locked to thread") == (
        "GC worker (idle)",
        ("locked to thread",),
    )
    assert split_status("select (no cases)") == ("select (no cases)", ())


def test_parse_panic_frame_and_args_with_braces():
    f = gor(LEVEL1)[24].frames
    assert [x.function for x in f] == ["main.panicker.func2", "panic", "main.panicker"]
    assert f[1].args == "{0x4b6000?, 0x4de010?}"


def test_parse_crash_output():
    gs = parse_traceback(CRASH)
    assert [g.id for g in gs] == [1, 2, 26, 40, 0]
    assert all(not g.unknown_lines for g in gs), [(g.id, g.unknown_lines) for g in gs]
    g1 = gs[0]
    assert g1.header_extras == {"gp": "0x43e199f41e0", "m": "2", "mp": "0x43e19a2e808"}
    assert g1.status == "running"
    assert [f.function for f in g1.frames] == ["panic", "main.main", "runtime.main", "runtime.goexit"]
    assert g1.frames[0].extras == "fp=0x43e19a8aeb8 sp=0x43e19a8ae08 pc=0x47abaf"
    assert g1.frames[0].line == 879 and g1.frames[0].offset == 0x16F
    assert gs[1].header_extras == {"gp": "0x43e199f4780", "m": "nil"}
    assert gs[1].created_by == Creator("runtime.init.7", f"{R}/proc.go", 363, 1)
    assert gs[3].unavailable and gs[3].frames == [] and gs[3].created_by is not None
    # The register dump after goroutine 0's blank line is not part of any block.
    assert [f.function for f in gs[4].frames] == ["runtime.futex", "runtime.mstart"]


def test_parse_labels_header_and_ancestors():
    text = f'goroutine 7 [select] {{"job": "x"}}:\nmain.worker()\n\t{M}:10 +0x1\n[originating from goroutine 1]:\nmain.main(...)\n\t{M}:5 +0x2\n'
    (g,) = parse_traceback(text)
    assert g.labels == '{"job": "x"}' and g.status == "select"
    assert [f.function for f in g.frames] == ["main.worker"]
    assert not g.unknown_lines


def test_parse_elided():
    lines = ["goroutine 20 [chan receive]:"]
    for i in range(50):
        lines += ["main.recurse(0x0?, 0x0?)", f"\t{M}:{27 if i == 0 else 29} +0x3c"]
    lines.append("...31 frames elided...")
    for _ in range(50):
        lines += ["main.recurse(0x0?, 0x0?)", f"\t{M}:29 +0x3c"]
    lines += ["created by main.main in goroutine 1", f"\t{M}:62 +0x1b6", ""]
    (g,) = parse_traceback("\n".join(lines))
    assert len(g.frames) == 100 and g.elided == 31 and g.elided_at == 50
    assert g.total_frames == 131
    assert "...31 frames elided..." in g.render()


def test_parse_unknown_line_kept():
    (g,) = parse_traceback(f"goroutine 3 [sleep]:\nthis is not a frame\ntime.Sleep(0x1)\n\t{R}/time.go:1 +0x1\n")
    assert g.unknown_lines == ["this is not a frame"]
    assert [f.function for f in g.frames] == ["time.Sleep"]


def test_parse_ignores_text_outside_blocks():
    assert parse_traceback("") == []
    assert parse_traceback("hello\nPC=0x1 m=0 sigcode=0\n\nrax 0x0\n") == []


@pytest.mark.parametrize(
    "line,expected",
    [
        ("main.(*Store).flush(0x0?, 0x0?)", ("main.(*Store).flush", "0x0?, 0x0?")),
        ("sync.(*Mutex).Lock(...)", ("sync.(*Mutex).Lock", "...")),
        ("main.waitFor[...](0xc000010000)", ("main.waitFor[...]", "0xc000010000")),
        ("runtime.goexit({})", ("runtime.goexit", "{}")),
        ("panic({0x4b6000?, 0x4de010?})", ("panic", "{0x4b6000?, 0x4de010?}")),
        ("main.main.func3()", ("main.main.func3", "")),
        ("main.F[go.shape.func(int) string](0x1)", ("main.F[go.shape.func(int) string]", "0x1")),
        ("main.(*T[...]).M(0x1, {0x2, 0x3})", ("main.(*T[...]).M", "0x1, {0x2, 0x3}")),
        ("not a call", ("not a call", None)),
    ],
)
def test_split_call(line, expected):
    assert split_call(line) == expected


def test_normalize_function():
    assert normalize_function("runtime.gopanic") == "panic"
    assert normalize_function("main.waitFor[go.shape.int]") == "main.waitFor[...]"
    assert normalize_function("main.(*Box[go.shape.struct { X int }]).Get") == "main.(*Box[...]).Get"
    assert normalize_function("main.waitFor[...]") == "main.waitFor[...]"
    assert normalize_function("main.main.func1") == "main.main.func1"


# ---------------------------------------------------------------------------
# Go's frame-hiding rules
# ---------------------------------------------------------------------------


def test_parse_go_version():
    assert parse_go_version("go1.26.6") == (1, 26, 6)
    assert parse_go_version("1.21.13") == (1, 21, 13)
    assert parse_go_version("go1.23rc1") == (1, 23)


@pytest.mark.parametrize(
    "name,v122,v123",
    [
        ("runtime.Gosched", True, True),
        ("runtime.gopark", False, False),
        ("runtime.(*Func).Name", False, True),
        ("runtime.(*scavengerState).park", False, False),
        ("runtime.(*Func).name", False, False),
        ("runtime.Frames.Next", True, True),
        ("main.main", False, False),
        ("runtime.", False, False),
    ],
)
def test_is_exported_runtime(name, v122, v123):
    assert is_exported_runtime(name, (1, 22, 10)) is v122
    assert is_exported_runtime(name, (1, 23, 9)) is v123


def test_go_shows_frame():
    v = (1, 26, 6)
    assert go_shows_frame("main.main", first_frame=True, go_version=v)
    assert not go_shows_frame("runtime.gopark", first_frame=True, go_version=v)
    assert not go_shows_frame("runtime.gopanic", first_frame=True, go_version=v)
    assert go_shows_frame("runtime.gopanic", first_frame=False, go_version=v)
    assert go_shows_frame("runtime.Goexit", first_frame=True, go_version=v)
    assert not go_shows_frame("nodot", first_frame=False, go_version=v)
    assert not go_shows_frame("main.(*T).M", first_frame=False, go_version=v, wrapper=True, callee="main.T.M")
    assert go_shows_frame("main.(*T).M", first_frame=False, go_version=v, wrapper=True, callee="runtime.gopanic")
    assert go_shows_frame("runtime.runFinalizers", first_frame=False, go_version=v)
    assert not go_shows_frame("runtime.runFinalizers", first_frame=False, go_version=(1, 24, 11))
    assert go_shows_frame("runtime.gopark", first_frame=True, go_version=v, level=2)


def _fr(name, line=1, file=M):
    return Frame(name, file, line)


def test_go_visible_frames_filters_and_falls_back():
    v = (1, 26, 6)
    frames = [_fr("runtime.gopark"), _fr("runtime.chanrecv1"), _fr("main.worker"), _fr("main.main.gowrap1"), _fr("runtime.goexit")]
    shown = go_visible_frames(frames, [False, False, False, True, False], v)
    assert [f.function for f in shown] == ["main.worker"]
    system = [_fr("runtime.gopark"), _fr("runtime.forcegchelper"), _fr("runtime.goexit")]
    assert go_visible_frames(system, [False] * 3, v) == system


def test_elide_matches_go():
    frames = [_fr("main.recurse", i) for i in range(131)]
    shown, n, at = elide(frames)
    assert n == 31 and at == 50 and len(shown) == 100
    assert shown[49].line == 49 and shown[50].line == 81
    assert elide(frames[:100]) == (frames[:100], 0, None)


def _json_g(gid, frames, status="waiting", reason="chan receive", created_by=None):
    return {
        "id": gid,
        "status": status,
        "wait_reason": reason,
        "wait_minutes": 0,
        "frames": [{"function": f, "file": file, "line": line, "pc": 4096 + i, "inlined": False, "wrapper": w} for i, (f, file, line, w) in enumerate(frames)],
        "created_by": created_by,
    }


def test_goroutine_from_json_matches_go_dump():
    expected = gor(LEVEL1)[18]
    j = _json_g(
        18,
        [
            ("runtime.gopark", f"{R}/proc.go", 462, False),
            ("runtime.chanrecv", f"{R}/chan.go", 667, False),
            ("runtime.chanrecv1", f"{R}/chan.go", 509, False),
            ("main.(*Store).flush", M, 17, False),
            ("main.main.gowrap1", M, 60, False),
            ("runtime.goexit", f"{R}/asm_amd64.s", 1771, False),
        ],
        created_by={"function": "main.main", "file": M, "line": 60, "goroutine": 1},
    )
    g = goroutine_from_json(j, "go1.26.6")
    assert g.status == "chan receive" and not g.status_extras_known
    assert compare_goroutine(expected, g) == []


def test_goroutine_from_json_generic_wrapper_panic_and_main():
    by = gor(LEVEL1)
    j = _json_g(
        19,
        [("runtime.gopark", f"{R}/proc.go", 1, False), ("main.waitFor[go.shape.int]", M, 21, False)],
        created_by={"function": "main.main", "file": M, "line": 61, "goroutine": 1},
    )
    assert compare_goroutine(by[19], goroutine_from_json(j, "go1.26.6")) == []
    j = _json_g(
        24,
        [
            ("runtime.gopark", f"{R}/proc.go", 1, False),
            ("main.panicker.func2", M, 47, False),
            ("runtime.gopanic", f"{R}/panic.go", 860, False),
            ("main.panicker", M, 49, False),
            ("main.main.gowrap7", M, 70, True),
            ("runtime.goexit", f"{R}/asm_amd64.s", 1771, False),
        ],
        created_by={"function": "main.main", "file": M, "line": 70, "goroutine": 1},
    )
    assert compare_goroutine(by[24], goroutine_from_json(j, "go1.26.6")) == []
    # goroutine 1: Go never prints a creator for it.
    j = _json_g(
        1,
        [("runtime.gopark", f"{R}/proc.go", 1, False), ("main.main", M, 89, False), ("runtime.main", f"{R}/proc.go", 290, False)],
        created_by={"function": "runtime.rt0_go", "file": "asm.s", "line": 1, "goroutine": 0},
    )
    assert compare_goroutine(by[1], goroutine_from_json(j, "go1.26.6")) == []


def test_goroutine_from_json_elides_like_go():
    frames = [("runtime.gopark", f"{R}/proc.go", 1, False), ("main.recurse", M, 27, False)]
    frames += [("main.recurse", M, 29, False)] * 130
    frames += [("runtime.goexit", f"{R}/asm_amd64.s", 1, False)]
    g = goroutine_from_json(_json_g(20, frames), "go1.26.6")
    assert g.total_frames == 131 and g.elided == 31 and len(g.frames) == 100


def test_goroutine_from_json_system_goroutine_hidden_creator():
    j = _json_g(
        2,
        [
            ("runtime.gopark", f"{R}/proc.go", 462, False),
            ("runtime.forcegchelper", f"{R}/proc.go", 375, False),
            ("runtime.goexit", f"{R}/asm_amd64.s", 1771, False),
        ],
        reason="force gc (idle)",
        created_by={"function": "runtime.init.7", "file": f"{R}/proc.go", "line": 363, "goroutine": 1},
    )
    g = goroutine_from_json(j, "go1.26.6")
    assert [f.function for f in g.frames] == ["runtime.gopark", "runtime.forcegchelper", "runtime.goexit"]
    assert g.created_by is None
    assert looks_like_system_goroutine(g)
    assert not looks_like_system_goroutine(gor(LEVEL1)[18])
    assert not looks_like_system_goroutine(gor(LEVEL1)[1])
    full = goroutine_from_json(j, "go1.26.6", level=2)
    assert full.created_by is not None


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------


def test_compare_identical_and_ignores_args_offsets_minutes():
    e = gor(LEVEL1)[19]
    a = gor(LEVEL1.replace("chan receive, 3 minutes", "chan receive").replace("(0x0?)", "(...)").replace("+0x25", "+0x99"))[19]
    assert compare_goroutine(e, a) == []


def test_compare_status_mismatch_and_locked_to_thread():
    e = gor(LEVEL1)[22]
    a = copy.deepcopy(e)
    a.status = "select"
    assert any("status" in p for p in compare_goroutine(e, a))
    a.status = "chan receive"
    assert any("locked to thread" in p for p in compare_goroutine(e, a))
    a.status_extras_known = False  # JSON: no "locked to thread" there
    assert compare_goroutine(e, a) == []


def test_compare_frame_mismatch_and_diff():
    e = gor(LEVEL1)[23]
    a = copy.deepcopy(e)
    a.frames[4].line = 70
    problems = compare_goroutine(e, a)
    assert problems and "main.main.func3" in problems[0] and ":70" in problems[0]
    d = diff_blocks(e, a)
    assert f"-\t{M}:69" in d and f"+\t{M}:70" in d
    a = copy.deepcopy(e)
    del a.frames[2]
    assert any("frame count" in p for p in compare_goroutine(e, a))


def test_compare_busy_goroutine_is_relaxed():
    e = gor(LEVEL1)[26]  # [runnable] in Go's dump
    a = copy.deepcopy(e)
    a.status = "running"
    a.frames[0].line = 38
    assert compare_goroutine(e, a) == []
    a.frames[0].function = "main.other"
    assert compare_goroutine(e, a)
    b = copy.deepcopy(e)
    b.status = "running"
    b.created_by.line = 99
    assert compare_goroutine(e, b)


def test_compare_created_by():
    e = gor(LEVEL1)[18]
    a = copy.deepcopy(e)
    a.created_by.goroutine = 7
    assert any("created by" in p for p in compare_goroutine(e, a))
    a.created_by = None
    assert any("created by" in p for p in compare_goroutine(e, a))


def _deep(n, elide_it):
    frames = [_fr("main.recurse", 27)] + [_fr("main.recurse", 29)] * (n - 2) + [_fr("main.main.gowrap3", 62)]
    g = Goroutine(20, "chan receive", frames, created_by=Creator("main.main", M, 62, 1))
    if elide_it:
        g.frames, g.elided, g.elided_at = elide(frames)
    return g


def test_compare_elided_against_full_and_elided():
    e = _deep(131, True)
    assert compare_goroutine(e, _deep(131, False)) == []  # tool printed everything
    assert compare_goroutine(e, _deep(131, True)) == []
    assert any("frame count" in p for p in compare_goroutine(e, _deep(132, False)))
    assert compare_goroutine(e, _deep(130, True))
    bad = _deep(131, False)
    bad.frames[-1] = _fr("main.other", 1)
    assert any("outer frame" in p for p in compare_goroutine(e, bad))
    # The tool elided where Go did not.
    assert any("elided" in p for p in compare_goroutine(_deep(100, False), _deep(101, True)))


def test_compare_dumps_missing_extra_skip():
    exp = parse_traceback(LEVEL1)
    act = [copy.deepcopy(g) for g in exp if g.id not in (5, 30)]
    sysg = Goroutine(2, "force gc (idle)", [_fr("runtime.gopark", 1, f"{R}/proc.go"), _fr("runtime.forcegchelper", 2, f"{R}/proc.go")])
    stray = Goroutine(99, "sleep", [_fr("time.Sleep", 1, f"{R}/time.go")], created_by=Creator("main.main", M, 1, 1))
    act += [sysg, stray]
    cmp = compare_dumps(
        exp,
        act,
        skip={5: "writer"},
        explain_extra=lambda g: "system" if looks_like_system_goroutine(g) else None,
    )
    assert not cmp.ok
    assert cmp.missing == [30]
    assert cmp.extra == [99]
    assert cmp.explained_extra == {2: "system"}
    assert 5 not in cmp.compared and 18 in cmp.compared
    assert "goroutine 30: missing" in cmp.report and "goroutine 99: listed by the tool" in cmp.report


def test_compare_dumps_ok_and_skips_unavailable_and_g0():
    exp = parse_traceback(CRASH)
    act = [copy.deepcopy(g) for g in exp if g.id not in (0, 40)]
    cmp = compare_dumps(exp, act, include=lambda g: "running" if g.base_status == "running" else None)
    assert cmp.ok, cmp.report
    assert sorted(cmp.compared) == [2, 26]
    assert set(cmp.skipped) == {0, 1, 40}


def test_compare_dumps_reports_readable_diff():
    exp = parse_traceback(LEVEL1)
    act = copy.deepcopy(exp)
    act[2].status = "select"
    act[2].frames[0].line = 18
    cmp = compare_dumps(exp, act)
    assert not cmp.ok
    assert "--- goroutine 18:" in cmp.report
    assert "expected (Go runtime)" in cmp.report and "actual (goroscope)" in cmp.report
    assert "status: expected [chan receive], got [select]" in cmp.report
