"""The followed player's task in the viewer: the curriculum travels in the header (``tasks``), every frame
carries the players' task rows, progress and the counters their tasks read, live and from a file, and the
page's panel shows them (name, description, a progress bar, counts); a world without tasks shows nothing new.
Recordings leave the tasks' explored bitmap out (``state/tasks/explored``) and ``Replay.state`` still works.

No world is compiled here: the task frames are the session's 40-tick recording (tests/viewer/conftest.py)
with a curriculum table written into its header and known tasks, progress and counts into its task leaves
(the viewer is a function of the frames), and the live source plays those frames through a stand-in
recorder. The browser test runs in its own thread with its own Playwright (the sync API allows one per
thread, and test_browser.py's session browser may be open in this one).
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import nmmo_jax
from nmmo_jax.render import Recorder, Replay, ReplayError
from nmmo_jax.render.record import UNRECORDED, task_table
from nmmo_jax.tasks.counters import COUNTERS, EXPLORED_WORDS
from nmmo_jax.tasks.curriculum import load_curriculum
from nmmo_jax.viewer import LiveSource, ReplaySource, ViewerServer

from . import chromium
from .conftest import TINY, edited_replay, skip_browser

CURRICULUM = load_curriculum("rich", 64)
TABLE = task_table(CURRICULUM)
ROW = {name: k for k, name in enumerate(CURRICULUM.names)}
DONE = 5          # a player whose task is complete from frame DONE_FROM on
DONE_FROM = 20
SHOWN = 30        # the frame the panel tests show


def counts(t, a, c):
    """The counters written into the task frames: a known value per (frame, player, counter column)."""
    return (t * (a + 1) // 6 + c) % 11


def best(t, a):
    progress = np.minimum(1.0, t * (a + 1) / 800.0).astype(np.float32)   # below 1 in 40 frames
    return np.where((a == DONE) & (t >= DONE_FROM), np.float32(1.0), progress)


@pytest.fixture(scope="module")
def tasks_replay(recorded, world):
    """The session recording as a world with the ``rich`` curriculum: player a holds row a % 14."""
    rp = recorded[3]

    def edit(leaves):
        t = np.arange(rp.num_frames)[:, None]
        a = np.arange(world.A)[None, :]
        leaves["state/tasks/task"][:] = a % CURRICULUM.num_tasks
        leaves["state/tasks/best"][:] = best(t, a)
        leaves["state/tasks/counters"][:] = counts(t[..., None], a[..., None], np.arange(len(COUNTERS)))

    return edited_replay(rp, dict(rp.header, tasks=TABLE), edit)


def progress_text(b) -> str:
    """What the panel says of a progress ``b`` in 0..1."""
    return f"{int(np.floor(100 * float(b) + 1e-6))}%" + (" done" if b >= 1 else "")


def read_counters(task: str) -> list[str]:
    return [p["counter"] for p in TABLE["tasks"][ROW[task]]["parts"] if "counter" in p]


# ---------------------------------------------------------------- header
def test_task_table_names_each_row_with_its_description_and_counters():
    assert [t["name"] for t in TABLE["tasks"]] == list(CURRICULUM.names)
    assert TABLE["counters"] == list(COUNTERS) and TABLE["curriculum"].endswith("rich.yaml")
    fish = TABLE["tasks"][ROW["fish"]]
    assert fish["description"].startswith("count harvest_fish >= 2")
    assert [f"{t['name']}: {t['description']}" for t in TABLE["tasks"]] == CURRICULUM.describe()
    assert fish["parts"] == [dict(predicate="count", target=2, counter="harvest_fish")]
    assert read_counters("gather") == ["harvest_ore", "harvest_tree", "harvest_crystal"]
    assert TABLE["tasks"][ROW["gather"]]["combine"] == "any" and TABLE["tasks"][ROW["fish_and_herbs"]]["combine"] == "all"
    centre = TABLE["tasks"][ROW["reach_centre"]]
    assert centre["ends"] is True and centre["parts"] == [dict(predicate="near_centre", target=6)]
    assert task_table(None) is None


def test_a_curriculum_world_records_its_table_and_leaves_the_explored_bitmap_out():
    """The recorder's header (no compile: the unrecorded leaves' shapes come from tracing reset)."""
    env = nmmo_jax.Env(nmmo_jax.load_config("small", dict(TINY, curriculum="rich")))
    head = Recorder(env, None, chunk=8).header()
    assert head["tasks"] == task_table(env.curriculum)
    assert head["unrecorded"] == [dict(name="state/tasks/explored", dtype="uint32", shape=[16, EXPLORED_WORDS],
                                       why=UNRECORDED["state/tasks/explored"])]


def test_recordings_leave_the_explored_bitmap_out_and_state_still_rebuilds(recorded, world):
    writer, header, path, rp = recorded
    assert "state/tasks/explored" not in rp.names
    assert {"state/tasks/task", "state/tasks/best", "state/tasks/counters"} <= set(rp.names)
    assert [u["name"] for u in rp.header["unrecorded"]] == ["state/tasks/explored"]
    explored = rp.state(7).tasks.explored   # zeros of the recorded shape and dtype
    assert explored.dtype == np.uint32 and explored.shape == (world.A, EXPLORED_WORDS) and not explored.any()
    assert rp.header["tasks"] is None   # the session world has no curriculum
    # a replay recorded before the leaf was left out (it holds the bitmap, its header lists nothing) reads as before
    bits = np.arange(rp.num_frames * world.A * EXPLORED_WORDS, dtype=np.uint32).reshape(rp.num_frames, world.A, -1)
    old_header = {k: v for k, v in rp.header.items() if k != "unrecorded"}
    old = edited_replay(rp, old_header, lambda leaves: leaves.__setitem__("state/tasks/explored", bits))
    np.testing.assert_array_equal(old.state(7).tasks.explored, bits[7])
    missing = Replay(old_header | {"frames": rp.num_frames}, {n: rp.array(n) for n in rp.names}, "<old>")
    with pytest.raises(ReplayError, match="state/tasks/explored"):
        missing.state(0)


# ---------------------------------------------------------------- frames
def check_frame_tasks(frame, rp, t, num_agents):
    tasks = frame["tasks"]
    assert tasks["task"] == rp.frame("state/tasks/task", t).tolist()
    np.testing.assert_allclose(tasks["best"], rp.frame("state/tasks/best", t))
    read = [c for c in COUNTERS if any(c in read_counters(n) for n in CURRICULUM.names)]
    assert list(tasks["counters"]) == read and "tiles_explored" in read and "gold_spent" not in read
    for c in read:
        assert tasks["counters"][c] == rp.frame("state/tasks/counters", t)[:, COUNTERS.index(c)].tolist(), c
    assert len(tasks["task"]) == num_agents


def test_replay_frames_carry_every_players_task_progress_and_counts(tasks_replay, world):
    src = ReplaySource(tasks_replay)
    meta = src.meta()["tasks"]
    assert meta["tasks"] == TABLE["tasks"] and meta["read"][0] == "eat"
    for t in (0, SHOWN, tasks_replay.num_frames - 1):
        frame = src.frame(t)
        check_frame_tasks(frame, tasks_replay, t, world.A)
        assert not any(k.startswith("tasks") for k in frame["world"])
    assert src.frame(SHOWN)["tasks"]["best"][DONE] == 1.0


def test_a_world_without_tasks_sends_none(recorded):
    src = ReplaySource(recorded[3])
    assert src.meta()["tasks"] is None and "tasks" not in src.frame(5)
    # a header with a table but a recording without the task leaves: none either
    rp = recorded[3]
    bare = Replay(dict(rp.header, tasks=TABLE), {n: rp.array(n) for n in rp.names if "tasks" not in n}, "<bare>")
    assert ReplaySource(bare).meta()["tasks"] is None and "tasks" not in ReplaySource(bare).frame(3)


class FramesRecorder:
    """Stands in for a ``Recorder`` (all ``LiveSource`` asks of one): plays a replay's frames round and round."""

    def __init__(self, rp, cfg, chunk=8):
        self.rp, self.cfg, self.chunk_len = rp, cfg, chunk
        self.frames = {n: rp.array(n) for n in rp.names if not n.startswith("static/")}

    def header(self, **extra):
        return dict({k: v for k, v in self.rp.header.items() if k not in ("frames", "leaves")}, **extra)

    def start(self, key):
        return 0, {n: self.rp.frame(n, 0) for n in self.rp.names if n.startswith("static/")}

    def chunk(self, t):
        idx = (t + np.arange(self.chunk_len)) % self.rp.num_frames
        return t + self.chunk_len, {n: v[idx] for n, v in self.frames.items()}


@pytest.fixture(scope="module")
def live_tasks(tasks_replay, world):
    src = LiveSource(FramesRecorder(tasks_replay, world.cfg), fps=50, history=64)
    server = ViewerServer(src, port=0)
    url = server.start_in_thread()
    yield src, url
    server.stop()


def test_live_frames_carry_the_tasks_too(live_tasks, tasks_replay, world):
    src, _ = live_tasks
    deadline = time.monotonic() + 60
    while src.meta()["last"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    meta = src.meta()
    assert meta["last"] >= 3 and meta["tasks"]["tasks"] == TABLE["tasks"]
    i = meta["last"]
    frame = src.frame(i)
    check_frame_tasks(frame, tasks_replay, i % tasks_replay.num_frames, world.A)


# ---------------------------------------------------------------- the page
def in_browser(fn):
    """``fn(page)`` in a fresh thread with its own Playwright and headless Chromium; fails on page errors."""
    if skip_browser():
        pytest.skip("NMMO_SKIP_BROWSER is set: browser tests skipped on purpose")
    executable, why = chromium.find_or_install(log=lambda msg: print(msg, flush=True))
    if executable is None:
        pytest.fail(f"browser tests: {why}")
    from .test_browser import CHROMIUM_ARGS
    outcome = {}

    def main():
        try:
            from playwright.sync_api import sync_playwright
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
                try:
                    page = browser.new_page(viewport={"width": 1200, "height": 800})
                    errors = []
                    page.on("pageerror", lambda err: errors.append(str(err)))
                    page.set_default_timeout(60_000)
                    fn(page)
                    assert not errors, f"JavaScript errors on the page: {errors}"
                finally:
                    browser.close()
        except BaseException as err:   # re-raised in the test's thread
            outcome["error"] = err

    thread = threading.Thread(target=main, name="tasks-browser", daemon=True)
    thread.start()
    thread.join(300)
    assert not thread.is_alive(), "the browser test did not finish in 300 s"
    if "error" in outcome:
        raise outcome["error"]


def serve(rp):
    server = ViewerServer(ReplaySource(rp), port=0)
    return server, server.start_in_thread()


def test_the_panel_shows_the_followed_players_task_progress_and_counts(tasks_replay, recorded, live_tasks, world):
    from .test_browser import follow, groups, open_viewer, panel, show
    rp = tasks_replay
    a_count = rp.frame("state/tasks/counters", SHOWN)
    shown_best = rp.frame("state/tasks/best", SHOWN)
    with_tasks, with_url = serve(rp)
    plain, plain_url = serve(recorded[3])

    def check(page):
        open_viewer(page, with_url)
        show(page, SHOWN)
        for task in ("fish", "gather", "reach_centre"):
            slot = ROW[task]   # player a holds row a % 14
            follow(page, slot)
            assert groups(page)[:3] == ["vitals", "task", "status"]
            rows = panel(page)
            entry = TABLE["tasks"][ROW[task]]
            assert page.inner_text("#panel [data-group='task'] h4 [data-task]") == task
            assert rows["task.description"] == entry["description"]
            assert rows["task.progress"] == progress_text(shown_best[slot])
            width = page.evaluate("document.querySelector(\"#panel [data-field='task.progress'] .bar > div\").style.width")
            assert float(width.rstrip("%")) == pytest.approx(100 * float(shown_best[slot]), abs=0.06)
            shown = {k[len("task.counter."):]: v for k, v in rows.items() if k.startswith("task.counter.")}
            assert shown == {c: f"{a_count[slot, COUNTERS.index(c)]} / {p['target']}"
                             for p in entry["parts"] if "counter" in p for c in [p["counter"]]}, task
        assert read_counters("reach_centre") == [] and "task.counter" not in str(panel(page))
        follow(page, DONE)
        assert panel(page)["task.progress"] == "100% done"
        show(page, DONE_FROM - 1)   # following it back in time: the progress of that frame
        assert panel(page)["task.progress"] == progress_text(best(DONE_FROM - 1, DONE)) != "100% done"
        npc = int(np.flatnonzero(rp.frame("state/entities/alive", DONE_FROM - 1)[world.A:])[0]) + world.A
        follow(page, npc)
        assert "task" not in groups(page)
        # a world without tasks: no task section, nothing empty
        open_viewer(page, plain_url)
        assert page.evaluate("viewer.meta.tasks") is None
        show(page, 5)
        follow(page, int(np.flatnonzero(recorded[3].frame("state/entities/alive", 5)[:world.A])[0]))
        assert "task" not in groups(page) and "Task" not in page.inner_text("#panel")
        # live: the same panel from the stream
        _, live_url = live_tasks
        open_viewer(page, live_url)
        page.wait_for_function("viewer.framesReceived >= 2")
        follow(page, ROW["explore"])
        page.wait_for_selector("#panel [data-group='task']")
        assert page.inner_text("#panel [data-group='task'] h4 [data-task]") == "explore"
        assert "task.counter.tiles_explored" in panel(page)

    try:
        in_browser(check)
    finally:
        with_tasks.stop()
        plain.stop()
