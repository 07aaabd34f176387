"""Each non-default build (stripped, nodwarf, pie, cgo, race) against the
default build of the same example and Go release: `goroutines --json` must
give the same goroutines, compared per goroutine *shape* (status, wait
reason, frame functions/files/lines, creator function/line) as multisets,
since goroutine ids, pcs and addresses differ between runs and builds.

The default build is read once per release (GoEnv.memo); the variant's own
comparison with the runtime's dump is in test_gcore.py / test_crash.py."""

from __future__ import annotations

import pytest

from .conftest import CrashRun, GoEnv, RunningExample, ToolResult, _harness, run_goroscope
from .shapes import busy, compare_shapes, parse_goroutines
from .variants import Build

pytestmark = [pytest.mark.matrix, pytest.mark.variants]


def _goroutines_json(core, exe, saved) -> ToolResult:
    return run_goroscope("goroutines", "--json", "--core", str(core), "--exe", str(exe), save_to=saved)


def _check(base_res: ToolResult, var_res: ToolResult, base_desc: str, var_desc: str, saved: str, ignore=None) -> None:
    var_gs, why = parse_goroutines(var_res)
    if var_gs is None:
        pytest.fail(
            f"goroutines --json on the {var_desc} core failed ({why}):\n{var_res.describe()}",
            pytrace=False,
        )
    base_gs, why = parse_goroutines(base_res)
    if base_gs is None:
        pytest.fail(
            f"baseline missing: goroutines --json on the default build's core ({base_desc}) failed ({why}), "
            f"so the variant cannot be compared with it:\n{base_res.describe()}",
            pytrace=False,
        )
    ok, report = compare_shapes(base_gs, var_gs, ignore=ignore, base_name=f"default build ({base_desc})", variant_name=var_desc)
    if not ok:
        pytest.fail(
            f"goroutine shapes of {var_desc} differ from the default build's:\n{report}\n\nvariant output: {saved}\n$ {var_res.cmd}\n$ {base_res.cmd}",
            pytrace=False,
        )


@pytest.mark.builds(not_variants=("default",))
def test_shapes_gcore_vs_default(goenv: GoEnv, running: RunningExample, example: Build):
    core = running.require_core()
    base_build = example.default

    def baseline() -> ToolResult:
        r = _harness(lambda: goenv.running(base_build))
        saved = r.stacks_path.parent / f"{r.name}.shapes-baseline.json.txt"
        return _goroutines_json(r.require_core(), r.exe, saved)

    base_res = goenv.memo(("shapes-gcore", base_build.id), baseline)
    saved = core.parent / f"{running.name}.shapes.json.txt"
    var_res = _goroutines_json(core, running.exe, saved)
    _check(base_res, var_res, f"{base_build.id}, go {goenv.version}", f"{example.describe()}, go {goenv.version}", str(saved), ignore=busy)


@pytest.mark.builds(not_variants=("default",))
def test_shapes_crash_vs_default(goenv: GoEnv, crashed: CrashRun, crash_example: Build):
    core = crashed.require_core()
    base_build = crash_example.default

    def baseline() -> ToolResult:
        c = _harness(lambda: goenv.crash(base_build))
        if c.skip_reason or c.error or c.core is None:
            return ToolResult(["(no crash core of the default build)"], 2, "", c.error or c.skip_reason or "no core", 0.0)
        return _goroutines_json(c.core, c.exe, c.rundir / "shapes-baseline.json.txt")

    base_res = goenv.memo(("shapes-crash", base_build.id), baseline)
    saved = crashed.rundir / "shapes.json.txt"
    var_res = _goroutines_json(core, crashed.exe, saved)
    _check(base_res, var_res, f"{base_build.id}, go {goenv.version}", f"{crash_example.describe()}, go {goenv.version}", str(saved))
