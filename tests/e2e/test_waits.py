"""What a goroutine waits on, in detail (issue 10): the timer behind a
Ticker channel and a sleep, with when it fires; each select case with its
own name, state and queues; names that come from the program's frames
(here net/http's, `pc.writech`), never from the runtime's (`cas1`, `c (in
runtime.chanrecv)`); and the system call a goroutine's thread is in.
Live processes and gcore cores, on every release."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
from pathlib import Path

import pytest

from .conftest import go_versions
from .test_analysis import _build, _running, _tool

HOUR_NS = 3600 * 10**9


def _names(doc) -> list[tuple[str, str | None]]:
    """Every (name, scope) in a blocking --json document."""
    out = []
    for o in doc["objects"]:
        out.append((o["name"], o.get("scope")))
        out += [(c["name"], c.get("scope")) for c in o.get("cases", [])]
    for g in doc["goroutines"]:
        w = g.get("waiting_on") or {}
        out.append((w.get("name", ""), w.get("scope")))
        out += [(c["name"], c.get("scope")) for c in w.get("channels", [])]
    return out


def _no_runtime_names(doc) -> None:
    bad = [(n, s) for n, s in _names(doc) if "cas1" in n or "(in runtime." in n or (s or "").startswith(("runtime.", "sync.", "internal/"))]
    assert not bad, f"names taken from runtime frames: {bad}"


def _gcore(pid: int, exe: Path) -> Path:
    prefix = exe.with_suffix(".waits-gcore")
    subprocess.run(["gcore", "-o", str(prefix), str(pid)], capture_output=True, timeout=120, check=True)
    return Path(f"{prefix}.{pid}")


@pytest.mark.parametrize("version", go_versions())
def test_timers_selects_and_names_in_a_service(version: str):
    exe = _build(version, "healthy")
    core = None
    try:
        with _running(exe) as (proc, truth):
            role = {g["role"].split(":")[0]: g["id"] for g in truth["goroutines"]}
            live = _tool("blocking", "--json", "--pid", str(proc.pid))
            verbose = _tool("goroutines", "-v", "--json", "--pid", str(proc.pid))
            core = _gcore(proc.pid, exe)
            os.killpg(proc.pid, signal.SIGKILL)
            cored = _tool("blocking", "--json", "--core", str(core), "--exe", str(exe))
    finally:
        if core is not None:
            core.unlink(missing_ok=True)
    for res in (live, cored, verbose):
        assert res.returncode == 0, res.stderr
    ldoc, cdoc = json.loads(live.stdout), json.loads(cored.stdout)
    for doc, exact in ((ldoc, True), (cdoc, False)):
        _no_runtime_names(doc)
        ticker = next(o for o in doc["objects"] if o["name"] == "main.dispatchTicker.C")
        t = ticker["timer"]
        assert t["period_ns"] == HOUR_NS and t["exact"] is exact, t
        if exact:
            assert 0 < t["fires_in_ns"] <= HOUR_NS and t["fires_at"].endswith("Z"), t
        # The client's writeLoop selects on two fields of its persistConn.
        sel = next(o for o in doc["objects"] if o["kind"] == "select" and role["net/http persistConn.writeLoop"] in o["waiters"])
        cases = {c["name"]: c for c in sel["cases"]}
        assert set(cases) == {"pc.writech", "pc.closech"}, sel
        assert {c["scope"] for c in cases.values()} == {"net/http.(*persistConn).writeLoop"}
        for c in cases.values():
            assert c["receivers"] == [role["net/http persistConn.writeLoop"]] and c["senders"] == []
            assert {"len", "cap", "closed"} <= set(c["state"])
        assert cases["pc.writech"]["state"]["cap"] == 1
        # The server side reads with the server's 2h idle timeout as its
        # read deadline; the client side has none.
        by_id = {g["id"]: g for g in doc["goroutines"]}
        server = by_id[role["net/http conn.serve"]]["waiting_on"]["socket"]
        assert server["op"] == "read" and server["source"] == "netFD", server
        assert server["deadline"]["exact"] is exact and not server.get("deadline_expired"), server
        if exact:
            assert HOUR_NS < server["deadline"]["fires_in_ns"] <= 2 * HOUR_NS, server
        assert "deadline" not in by_id[role["net/http persistConn.readLoop"]]["waiting_on"]["socket"]
        token = by_id[role["refreshToken"]]["waiting_on"]
        assert token["name"] == "main.tokenCtx.Done()" and token["timer"]["context"] == "main.tokenCtx", token
        if exact:
            assert 0 < token["timer"]["fires_in_ns"] <= HOUR_NS, token
        sleeper = next(g for g in doc["goroutines"] if g["id"] == role["rotateLogs"])
        assert sleeper["waiting_on"]["kind"] == "sleep"
        if exact:
            assert 0 < sleeper["waiting_on"]["timer"]["fires_in_ns"] <= HOUR_NS
    waits = {g["id"]: g.get("waiting_on") for g in json.loads(verbose.stdout)["goroutines"]}
    assert waits[role["dispatchJobs"]]["timer"]["period_ns"] == HOUR_NS
    assert waits[role["main"]]["name"] == "main.shutdown"


@pytest.mark.parametrize("version", go_versions())
def test_syscall_named_from_the_thread_registers(version: str):
    """cms: readUpload is in read(2) on a pipe: [syscall] read."""
    exe = _build(version, "cms")
    core = None
    try:
        with _running_cms(exe) as pid:
            docs = [json.loads(_tool("goroutines", "-v", "--json", "--pid", str(pid)).stdout)]
            core = _gcore(pid, exe)
            docs.append(json.loads(_tool("goroutines", "-v", "--json", "--core", str(core), "--exe", str(exe)).stdout))
    finally:
        if core is not None:
            core.unlink(missing_ok=True)
    for doc in docs:
        g = next(g for g in doc["goroutines"] if any(f["function"] == "main.(*MediaImporter).readUpload" for f in g["frames"]))
        sc = g["waiting_on"]["syscall"]
        assert (sc["name"], sc["number"]) == ("read", 0), g["waiting_on"]
        assert g["waiting_on"]["name"].startswith("read(")


class _running_cms:
    """cms has no truth file: start it and wait for its ready line."""

    def __init__(self, exe: Path):
        self.exe = exe

    def __enter__(self) -> int:
        stacks = self.exe.with_suffix(".stacks")
        argv = [str(self.exe), "-stacks", str(stacks)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("ready pid="):
            self.__exit__()
            pytest.fail(f"{self.exe} did not become ready: {line!r}", pytrace=False)
        return self.proc.pid

    def __exit__(self, *exc) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
