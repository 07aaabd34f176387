"""goroscope on a core taken with gcore from a running example, compared with
the Go runtime's own runtime.Stack(all) dump written just before."""

from __future__ import annotations

import pytest

from .checks import check_bt_against_dump, check_json_against_dump
from .conftest import RunningExample, assert_ok, run_goroscope

pytestmark = [pytest.mark.matrix, pytest.mark.gcore]


def test_gcore_info(running: RunningExample):
    core = running.require_core()
    res = run_goroscope("info", "--core", str(core), "--exe", str(running.exe))
    assert_ok(res)
    assert res.stdout.strip(), f"goroscope info printed nothing:\n{res.describe()}"


def test_gcore_bt(running: RunningExample):
    core = running.require_core()
    saved = core.parent / f"{running.name}.gcore-bt.txt"
    res = run_goroscope("bt", "--all", "--core", str(core), "--exe", str(running.exe), save_to=saved)
    check_bt_against_dump(running, res, saved, "gcore")


def test_gcore_goroutines_json(running: RunningExample, go_version: str):
    core = running.require_core()
    saved = core.parent / f"{running.name}.gcore-goroutines.json.txt"
    res = run_goroscope("goroutines", "--json", "--core", str(core), "--exe", str(running.exe), save_to=saved)
    check_json_against_dump(running, res, saved, go_version)
