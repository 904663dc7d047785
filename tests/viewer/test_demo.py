"""``python -m agents.demo`` (``nmmo-demo``): the pretrained agents playing, live in the browser.

The demo runs as a user runs it: the real command in a child process on a free port. The suite's background
lane (tests/background.py) starts it and waits until the page serves its first tick, while the in-process
tests run; the browser test then opens the page in headless Chromium and checks that the shipped policy is
the one playing and that its agents move. The child compiles with the session's fast-compile flags
(tests/conftest.py), so its time to the first tick here is not the demo's real start-up time (README).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from background import LANE

from agents import demo as demo_cli
from agents import pretrained

REPO = Path(__file__).resolve().parents[2]
DEMO_FPS = 4          # the child keeps playing while other tests run: few ticks a second keep its CPU use low
FIRST_TICK_TIMEOUT = 600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _meta(url: str) -> dict:
    with urllib.request.urlopen(f"{url}api/meta", timeout=10) as r:
        return json.load(r)


def _start_demo() -> dict:
    """Start ``python -m agents.demo`` and wait for its first tick: {proc, url, log, seconds (None: it never
    served one), meta}. The child runs on (killed at the session's end) until the test's fixture stops it."""
    out = Path(tempfile.mkdtemp(prefix="nmmo-jax-demo-"))
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    log = out / "demo.log"
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = LANE.popen([sys.executable, "-m", "agents.demo", f"--port={port}", f"--fps={DEMO_FPS}"],
                          env=env, cwd=str(out), stdout=f, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    result = dict(proc=proc, url=url, log=log, dir=out, seconds=None, meta=None)
    while time.perf_counter() - t0 < FIRST_TICK_TIMEOUT and proc.poll() is None:
        try:
            meta = _meta(url)
            if meta["last"] >= 0 or meta["error"]:
                result.update(meta=meta, seconds=time.perf_counter() - t0)
                break
        except OSError:  # not listening yet
            pass
        time.sleep(0.5)
    return result


@pytest.fixture(scope="module")
def demo_server():
    result = LANE.result("demo")
    proc = result["proc"]
    yield result
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    shutil.rmtree(result["dir"], ignore_errors=True)


def test_the_demo_serves_the_pretrained_agents_moving(demo_server):
    from .test_browser import open_viewer
    from .test_tasks_panel import in_browser
    log = lambda: demo_server["log"].read_text()   # noqa: E731
    assert demo_server["seconds"] is not None, f"no tick served within {FIRST_TICK_TIMEOUT} s:\n{log()}"
    meta, url = demo_server["meta"], demo_server["url"]
    assert meta["error"] is None, log()
    update = pretrained.metadata("medium")["update"]
    assert meta["live"] and meta["num_agents"] == 128 and meta["height"] == 160, meta   # the medium world
    assert meta["policy"] == {"kind": "pretrained", "checkpoint": "pretrained:medium", "update": update}
    # The child prints its "playing" line from a watcher thread polling every 0.1 s, so the line can trail the
    # first tick the lane saw by a moment on loaded cores: wait for it rather than race it.
    deadline = time.perf_counter() + 60
    while "playing: first tick after" not in log() and time.perf_counter() < deadline:
        time.sleep(0.2)
    printed = log()
    assert f"viewer: {url}" in printed and "pretrained:medium (update" in printed and "playing: first tick after" \
        in printed, printed
    seen = {}

    def check(page):
        open_viewer(page, url)
        page.wait_for_function("viewer.live && viewer.framesReceived >= 1 && viewer.index >= 0")
        assert page.inner_text("#mode") == "live"
        i0, t0 = page.evaluate("[viewer.index, viewer.tick]")
        page.wait_for_function(f"viewer.tick >= {t0 + 3} || viewer.index >= {i0 + 3}", timeout=120_000)
        i1 = page.evaluate("viewer.index")
        seen["frames"] = page.evaluate("async ([a, b]) => Promise.all([a, b].map("
                                       "i => fetch(`/api/frame/${i}`).then(r => r.json())))", [i0, i1])
        seen["tick_shown"] = int(page.inner_text("#tick"))

    in_browser(check)
    a, b = seen["frames"]
    n = meta["num_agents"]
    assert b["index"] > a["index"], (a["index"], b["index"])
    if a["episode"] == b["episode"]:
        assert b["tick"] > a["tick"]
    both = [s for s in range(n) if a["entities"]["alive"][s] and b["entities"]["alive"][s]]
    assert len(both) >= n // 4, f"only {len(both)} of {n} agents alive in both frames"
    moved = [s for s in both if a["entities"]["pos"][s] != b["entities"]["pos"][s]]
    assert len(moved) >= len(both) // 4, f"{len(moved)} of {len(both)} live agents moved between frames " \
                                         f"{a['index']} and {b['index']}"


# ---------------------------------------------------------------- in-process
@pytest.mark.parametrize("flags, message", [
    (["--port=x"], "--port='x'"),
    (["--fps=0"], "--fps=0.0: must be positive"),
    (["--seed=one"], "--seed='one'"),
    (["--host=a b"], "--host='a b'"),
    (["--checkpoint=pretrained:huge"], "pretrained:huge: no such pretrained policy; shipped: "
                                       "pretrained:medium, pretrained:small"),
    (["--no_such_key=1"], "no_such_key"),
])
def test_demo_flag_errors_say_what_is_wrong(flags, message):
    with pytest.raises(SystemExit) as exc:
        demo_cli.main(flags)
    assert message in str(exc.value), str(exc.value)


def test_demo_help(capsys):
    demo_cli.main(["--help"])
    out = capsys.readouterr().out
    assert "python -m agents.demo" in out and "--port" in out and "nmmo_jax.demo" in out


LANE.add("demo", _start_demo, needed_by=lambda item: "demo_server" in item.fixturenames)
