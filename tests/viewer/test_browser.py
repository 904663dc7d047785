"""End to end in headless Chromium (Debian's ``chromium``, driven by Playwright): the page loads a replay,
plays, follows a clicked entity with the right values, toggles every overlay, and receives live ticks.

Chromium is found by ``chromium.find_or_install``: ``NMMO_CHROMIUM``, the PATH, ``/usr/bin/chromium``, or
Debian's package installed on the spot (root or passwordless sudo), so the README's test command passes
on a fresh machine; otherwise these tests fail saying what to install. ``NMMO_SKIP_BROWSER=1`` skips them. ``playwright install`` is
never needed: Playwright drives the system Chromium.
"""
from __future__ import annotations

import shutil
import tempfile

import numpy as np
import pytest

from nmmo_jax.viewer import LiveSource, ReplaySource, ViewerServer

from . import chromium
from .conftest import skip_browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
T_CLICK = 20


@pytest.fixture(scope="session")
def browser():
    if skip_browser():
        pytest.skip("NMMO_SKIP_BROWSER is set: browser tests skipped on purpose")
    executable, why = chromium.find_or_install(log=lambda msg: print(msg, flush=True))
    if executable is None:
        pytest.fail(f"browser tests: {why}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]' (it drives the system Chromium)")
    profile = tempfile.mkdtemp(prefix="nmmo-chromium-")
    pw = sync_playwright().start()
    try:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=executable, args=CHROMIUM_ARGS,
                                                    headless=True, viewport={"width": 1200, "height": 800})
    except Exception as err:
        pw.stop()
        pytest.fail(f"cannot launch Chromium at {executable}: {err}")
    yield ctx
    ctx.close()
    pw.stop()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def replay_url(recorded):
    server = ViewerServer(ReplaySource(recorded[3]), port=0)
    url = server.start_in_thread()
    yield url
    server.stop()


@pytest.fixture
def page(browser):
    p = browser.new_page()
    errors = []
    p.on("pageerror", lambda err: errors.append(str(err)))
    p.set_default_timeout(60_000)
    yield p
    p.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def open_viewer(page, url):
    page.goto(url)
    page.wait_for_function("window.viewer && window.viewer.ready")


def show(page, t):
    page.evaluate(f"viewer.show({t})")
    page.wait_for_function(f"viewer.index === {t}")


def panel(page) -> dict:
    return page.evaluate("""Object.fromEntries([...document.querySelectorAll('#panel tr[data-field]')]
                            .map(tr => [tr.dataset.field, tr.children[1].textContent]))""")


def click_tile(page, r, c):
    xy = page.evaluate(f"viewer.tileToScreen({r}, {c})")
    page.mouse.click(xy["x"], xy["y"])


def lone_agent(rp, t, num_agents):
    """A live player standing alone on its tile at frame t (a click on it is unambiguous)."""
    alive = rp.frame("state/entities/alive", t)
    pos = rp.frame("state/entities/pos", t)
    for slot in np.flatnonzero(alive[:num_agents]):
        same = np.all(pos == pos[slot], axis=1) & alive
        if same.sum() == 1:
            return int(slot)
    pytest.fail("no player alone on a tile")


def test_page_loads_a_replay_plays_and_scrubs(page, replay_url, recorded):
    rp = recorded[3]
    open_viewer(page, replay_url)
    assert page.inner_text("#mode") == "replay" and page.inner_text("#tick") == "0"
    assert page.get_attribute("#scrub", "max") == str(rp.num_frames - 1)
    page.select_option("#speed", "32")
    page.click("#play")
    page.wait_for_function("viewer.index >= 10")
    page.click("#play")
    idx = page.evaluate("viewer.index")
    page.wait_for_timeout(300)
    assert page.evaluate("viewer.index") == idx, "still playing after pause"
    assert page.inner_text("#tick") == str(int(rp.frame("state/tick", idx)))
    page.evaluate("(() => { const s = document.getElementById('scrub'); s.value = 33;"
                  " s.dispatchEvent(new Event('input')); })()")
    page.wait_for_function("viewer.index === 33")
    assert page.inner_text("#tick") == "33" and page.evaluate("viewer.draws") > 2


def test_clicking_an_entity_shows_its_values_for_that_tick(page, replay_url, recorded, world):
    rp = recorded[3]
    open_viewer(page, replay_url)
    show(page, T_CLICK)
    slot = lone_agent(rp, T_CLICK, world.A)
    pos = rp.frame("state/entities/pos", T_CLICK)[slot]
    click_tile(page, *pos)
    page.wait_for_function(f"viewer.selected === {slot}")
    for t in (T_CLICK, T_CLICK + 7):   # following it: the panel tracks the shown tick
        if t != T_CLICK:
            show(page, t)
        rows = panel(page)
        state = rp.state(t)
        e = state.entities
        assert rows["slot"] == str(slot)
        assert rows["alive"] == ("yes" if e.alive[slot] else "no")
        for field in ("health", "food", "water", "time_alive", "gold", "freeze"):
            assert rows[field] == str(int(getattr(e, field)[slot])), (t, field)
        assert rows["pos"] == f"{e.pos[slot, 0]}, {e.pos[slot, 1]}"
        assert rows["levels.melee"] == str(int(e.levels[slot, 0]))
        assert rows["xp.alchemy"] == str(int(e.xp[slot, 7]))
        assert rows["agent.value"] == f"{rp.frame('agent/value', t)[slot]:.4f}"
        assert rows["agent.action/move"] == str(int(rp.frame("agent/action/move", t)[slot]))
        assert page.inner_text("#panel h3").startswith(f"Agent #{slot}")
    # clicking empty ground lets go
    click_tile(page, 2, 2)
    page.wait_for_function("viewer.selected === null")


def test_each_overlay_toggles_and_draws_pixels(page, replay_url, recorded, world):
    rp = recorded[3]
    open_viewer(page, replay_url)
    show(page, T_CLICK)
    slot = lone_agent(rp, T_CLICK, world.A)
    click_tile(page, *rp.frame("state/entities/pos", T_CLICK)[slot])   # attention shows the selected agent
    page.wait_for_function(f"viewer.selected === {slot}")
    snap = """(() => { const c = document.getElementById('map');
                 window.__snap = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; })()"""
    changed = """(() => { const c = document.getElementById('map');
                 const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                 for (let i = 0; i < d.length; i += 4)
                   if (d[i] !== __snap[i] || d[i+1] !== __snap[i+1] || d[i+2] !== __snap[i+2]) n++;
                 return n; })()"""
    names = [o["name"] for o in rp.overlays]
    assert names == ["counts", "values", "attention", "globalValues"]
    for name in names:
        page.evaluate(snap)
        draws = page.evaluate("viewer.draws")
        page.click(f"#ov-{name}")
        page.wait_for_function(f"viewer.overlayStats && viewer.overlayStats.name === '{name}' && "
                               f"viewer.draws > {draws}")
        stats = page.evaluate("viewer.overlayStats")
        want = np.isfinite(rp.overlay(name, T_CLICK, agent=slot if name == "attention" else None)).sum()
        assert stats["finite"] == want > 0, (name, stats)
        assert page.evaluate(changed) > 100, f"overlay {name} drew nothing"
        assert name in page.inner_text("#legend")
        assert "on" in page.get_attribute(f"#ov-{name}", "class")
        draws = page.evaluate("viewer.draws")
        page.click(f"#ov-{name}")   # off again: the picture is back to the plain map
        page.wait_for_function(f"viewer.overlayStats === null && viewer.draws > {draws}")
        assert page.evaluate(changed) == 0, f"overlay {name} did not switch off"


def test_pan_and_zoom(page, replay_url):
    open_viewer(page, replay_url)
    span = "(() => { const a = viewer.tileToScreen(10, 10), b = viewer.tileToScreen(10, 30); return b.x - a.x; })()"
    before = page.evaluate(span)
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"{span} > {before * 1.5}")
    a = page.evaluate("viewer.tileToScreen(10, 10)")
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 40, steps=5)
    page.mouse.up()
    b = page.evaluate("viewer.tileToScreen(10, 10)")
    assert (round(b["x"] - a["x"]), round(b["y"] - a["y"])) == (60, 40)


@pytest.fixture(scope="module")
def live_url(policy_recorder):
    server = ViewerServer(LiveSource(policy_recorder, seed=2, fps=25, history=128), port=0)
    url = server.start_in_thread()
    yield url
    server.stop()


def test_live_mode_receives_ticks(page, live_url):
    open_viewer(page, live_url)
    page.wait_for_function("viewer.framesReceived >= 5")
    assert page.inner_text("#mode") == "live"
    first = page.evaluate("viewer.index")
    page.wait_for_function(f"viewer.index >= {first + 5} && viewer.framesReceived >= 10")
    frame = page.evaluate("viewer.index")
    assert int(page.inner_text("#tick")) >= 5 or frame >= first + 5
    for name in ("counts", "globalValues"):   # overlays work live too
        page.click(f"#ov-{name}")
        page.wait_for_function(f"viewer.overlayStats && viewer.overlayStats.name === '{name}' && "
                               "viewer.overlayStats.finite > 0")
    page.click("#play")   # pause: stays put while ticks keep arriving
    held = page.evaluate("viewer.index")
    received = page.evaluate("viewer.framesReceived")
    page.wait_for_function(f"viewer.framesReceived >= {received + 5}")
    assert page.evaluate("viewer.index") == held


@pytest.fixture(scope="module")
def custom_url(tmp_path_factory):
    """A random-agent replay with the README's custom overlay, recorded through the CLI."""
    from nmmo_jax import replay as cli
    from nmmo_jax.render import Replay

    from .conftest import forget_example_overlay, tiny_cli_flags
    out = tmp_path_factory.mktemp("custom") / "custom.replay"
    try:
        cli.main(["--random", *tiny_cli_flags(), "--ticks=12", "--chunk=8", f"--out={out}",
                  "--import=viewer.example_overlay"])
    finally:
        forget_example_overlay()
    server = ViewerServer(ReplaySource(Replay.load(out)), port=0)
    url = server.start_in_thread()
    yield url
    server.stop()


def test_custom_overlay_is_listed_and_drawn_like_the_built_ins(page, custom_url):
    open_viewer(page, custom_url)
    assert page.evaluate("[...document.querySelectorAll('#overlays button')].map(b => b.textContent)") == [
        "counts", "health"]
    show(page, 5)
    draws = page.evaluate("viewer.draws")
    page.click("#ov-health")
    page.wait_for_function(f"viewer.overlayStats && viewer.overlayStats.name === 'health' && viewer.draws > {draws}")
    stats = page.evaluate("viewer.overlayStats")
    assert stats["finite"] > 0 and 0 < stats["min"] <= stats["max"] <= 100
    assert "players' health where they stand" in page.inner_text("#legend")
