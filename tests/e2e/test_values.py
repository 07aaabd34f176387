"""`goroscope print` against Go's own fmt: examples/fmtvalues writes
fmt.Sprintf("%v") and ("%+v") of each of its globals to a JSON file
before it idles; goroscope must print the same text for the same memory,
from a gcore core and from the live process, on every release, plus one
classic-map build (GOEXPERIMENT=noswissmap, accepted by 1.24 and 1.25) and a
PIE build.

Documented exception (fmt output that cannot be reproduced later):
  main.ctxTimeout  timerCtx.String() ends with "[" + time.Until(deadline)
                   + "]", the time left when fmt ran; goroscope computes it
                   when it prints. Everything before that bracket (parent
                   chain, deadline with its monotonic reading) must match.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from .conftest import GoEnv, RunningExample, assert_clean_error, assert_ok, go_versions, run_goroscope
from .variants import DEFAULT, VARIANTS, Build, Variant

pytestmark = [pytest.mark.matrix]

EXAMPLE = "fmtvalues"
NOSWISS = Variant("noswissmap", "GOEXPERIMENT=noswissmap: classic hmap buckets instead of swiss tables")

# name -> (pattern, replacement) applied to both texts before comparing.
EXCEPTIONS = {
    "main.ctxTimeout": (re.compile(r" \[[^\[\]]*\]\)$"), " [time.Until])"),
}


@dataclasses.dataclass(frozen=True)
class ExperimentBuild(Build):
    """The values example built with a GOEXPERIMENT."""

    experiment: str = ""

    def env(self) -> dict[str, str]:
        return {**super().env(), "GOEXPERIMENT": self.experiment}


def _build(flavor: str) -> Build:
    if flavor == "noswissmap":
        return ExperimentBuild(EXAMPLE, NOSWISS, experiment="noswissmap")
    if flavor == "pie":
        # Loaded at a random base: descriptor addresses need the load bias.
        return Build(EXAMPLE, VARIANTS["pie"])
    return Build(EXAMPLE, DEFAULT)


def _minor(version: str) -> int:
    return int(version.split(".")[1])


def _running(goenv: GoEnv, flavor: str) -> RunningExample:
    if flavor == "noswissmap" and _minor(goenv.version) not in (24, 25):
        pytest.skip("GOEXPERIMENT=noswissmap exists in go1.24 and go1.25 only (earlier releases are classic anyway)")
    b = goenv.as_build(_build(flavor))
    goenv.activate(b)
    return goenv.memo(("values", b.id), lambda: goenv.launch(b, goenv.build(b), goenv.workdir, b.id))


def _expected(r: RunningExample) -> dict[str, dict[str, str]]:
    path = Path(f"{r.stacks_path}.values.json")
    if not path.is_file():
        pytest.fail(f"{r.describe()} wrote no {path}", pytrace=False)
    return json.loads(path.read_text())


def _target(r: RunningExample, where: str) -> list[str]:
    if where == "core":
        return ["--core", str(r.require_core()), "--exe", str(r.exe)]
    if not r.alive():
        pytest.fail(f"example {r.name} (pid {r.pid}) is no longer running", pytrace=False)
    return ["--pid", str(r.pid)]


def _print(target: list[str], exprs: list[str], *extra: str) -> list[dict]:
    res = run_goroscope(*target, "print", "--json", *extra, *exprs)
    assert_ok(res)
    docs = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert len(docs) == len(exprs), f"{len(exprs)} expressions, {len(docs)} JSON documents:\n{res.describe()}"
    return docs


def _normalise(name: str, text: str) -> str:
    if name in EXCEPTIONS:
        pat, repl = EXCEPTIONS[name]
        return pat.sub(repl, text)
    return text


@pytest.mark.parametrize("where", ["core", "live"])
@pytest.mark.parametrize("flavor", ["default", "noswissmap", "pie"])
def test_print_matches_fmt(goenv: GoEnv, flavor: str, where: str):
    r = _running(goenv, flavor)
    want = _expected(r)
    names = sorted(want)
    target = _target(r, where)
    problems = []
    for verb, extra in (("v", ()), ("plusv", ("--plus",))):
        for name, doc in zip(names, _print(target, names, *extra)):
            w, g = _normalise(name, want[name][verb]), _normalise(name, doc["fmt"])
            if w != g:
                problems.append(f"{name} %{'+' if verb == 'plusv' else ''}v:\n  fmt:       {w[:400]!r}\n  goroscope: {g[:400]!r}")
    assert not problems, f"{len(problems)} of {2 * len(names)} differ ({r.describe()}, go {goenv.version}, {where}):\n" + "\n".join(problems)


def test_print_structured(goenv: GoEnv):
    """The JSON form the debugger adapters use: kinds, lengths, decoded
    sync and channel states, dynamic types of interfaces."""
    r = _running(goenv, "default")
    target = _target(r, "core")
    exprs = [
        "main.mu",
        "main.wg",
        "main.rw",
        "main.bufChan",
        "main.closedChan",
        "main.waitChan",
        "main.bigMap",
        "main.errWrapped",
        "main.nilMap",
        "main.shape",
    ]
    got = {e: d["value"] for e, d in zip(exprs, _print(target, exprs, "--max-elems", "20000"))}
    assert got["main.mu"]["note"].startswith("locked"), got["main.mu"]
    assert got["main.wg"]["note"].startswith("counter 2,"), got["main.wg"]
    assert got["main.rw"]["note"].startswith("2 readers"), got["main.rw"]
    ch = got["main.bufChan"]
    assert (ch["kind"], ch["len"], ch["cap"], ch["closed"]) == ("chan", 3, 5, False), ch
    assert [c["value"]["value"] for c in ch["children"]] == [1, 2, 3], ch
    assert got["main.closedChan"]["closed"] is True
    # One goroutine (main.awaitSignal) is queued to receive on waitChan.
    waiter = [g.id for g in r.dump if any(f.function == "main.awaitSignal" for f in g.frames)]
    assert got["main.waitChan"]["recv_waiters"] == waiter and waiter, (got["main.waitChan"], waiter)
    m = got["main.bigMap"]
    assert (m["kind"], m["len"], len(m["children"])) == ("map", 10000, 10000)
    assert m["children"][0]["key"]["value"] == "key00000" and m["children"][0]["value"]["value"] == 0
    e = got["main.errWrapped"]
    assert (e["kind"], e["dynamic"]["type"], e["text"]) == ("interface", "*fmt.wrapError", "loading config: plain failure"), e
    assert got["main.nilMap"]["nil"] is True
    assert got["main.shape"]["dynamic"]["type"] == "main.Rect"


def test_print_selectors(goenv: GoEnv):
    """Fields (through pointers and embedded structs), indexes, map keys
    and typed addresses."""
    r = _running(goenv, "default")
    target = _target(r, "core")
    cases = {
        "main.catalog.Items[1].Name": "bread",
        "main.person.Addr.City": "Springfield",
        "main.personPtr.Boss.Name": "Ada",
        'main.smallMap["b"]': "2",
        "main.intMap[-147]": "v1",
        "main.derived.ID": "7",
        "main.matrix[1]": "[3 4]",
        "main.catalog.Owner": "&{Bob 31 [dev ops] {2 Main St Springfield 12345} 0x",
    }
    docs = _print(target, list(cases))
    for (expr, want), doc in zip(cases.items(), docs):
        assert doc["fmt"].startswith(want), f"{expr}: {doc['fmt']!r}"
    point = _print(target, ["main.point"])[0]["value"]["addr"]
    assert _print(target, [f"*(main.Point)({point:#x})"], "--plus")[0]["fmt"] == "{X:1 Y:2}"
    for bad, mentions in (
        ("main.nosuch", ("variable",)),
        ("main.intSlice[7]", ("out of range",)),
        ("main.point.Z", ("no field",)),
        ("main.nilPtr.Name", ("nil pointer",)),
        ("*(main.NoSuchType)(0x1000)", ("no go type",)),
    ):
        assert_clean_error(run_goroscope(*target, "print", bad), mentions=mentions)


def test_print_without_dwarf(goenv: GoEnv):
    """A binary linked with -w has no types for values: a clean error that
    says so, not a panic (checked on the newest release only: the message
    does not depend on the release)."""
    if goenv.version != go_versions()[-1]:
        pytest.skip("checked on the newest release under test only")
    b = goenv.as_build(Build(EXAMPLE, VARIANTS["nodwarf"]))
    goenv.activate(b)
    r = goenv.memo(("values", b.id), lambda: goenv.launch(b, goenv.build(b), goenv.workdir, b.id, core=False))
    assert_clean_error(run_goroscope("--pid", str(r.pid), "print", "main.intVal"), mentions=("DWARF",))
