"""What the viewer shows: frames from a replay file, or frames a policy is producing right now.

Both sources answer the same three questions, so the server and the page do
not care which one they have:

* ``meta()``: the world's facts (map size, palette, overlays, ...) and the range
  of frame indices available now (``first``..``last``; a live source's range
  moves as it plays and forgets old frames);
* ``frame(i)``: one frame as JSON-able data: the tiles (base64 uint8) and every
  recorded entity field for every slot, named by the recorded leaf (so fields
  the world gains later reach the page's entity panel untouched), plus the
  per-agent policy outputs and world scalars;
* ``overlay(name, i, agent)``: f32[H, W] picture of an overlay.

``LiveSource`` runs a ``Recorder`` in a background thread, a compiled chunk at a
time, and publishes its frames at ``fps`` to a callback (the server's
WebSocket broadcast). A world that ends (non-persistent: horizon or everyone
dead) is followed by a fresh one, with a new episode number.
"""
from __future__ import annotations

import base64
import collections
import threading
import time

import jax
import numpy as np

from nmmo_jax import tiles as T
from nmmo_jax.observe import SKILL_NAMES
from nmmo_jax.render import frames as F
from nmmo_jax.render.playback import overlay_picture

KIND_NAMES = ["player", "passive NPC", "neutral NPC", "aggressive NPC"]


def _jsonable(x: np.ndarray):
    """Nested lists with NaN/inf as None (JSON has no NaN)."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating):
        obj = x.astype(object)
        obj[~np.isfinite(x)] = None
        return obj.tolist()
    return x.tolist()


def world_meta(header: dict) -> dict:
    """The facts the page needs to draw any frame of this world."""
    return dict(
        height=int(header["map"]["height"]), width=int(header["map"]["width"]),
        border=int(header["map"].get("border", 0)),
        num_agents=int(header["num_agents"]), num_entities=int(header["num_entities"]),
        max_health=int(header.get("max_health", 100)), window=int(header["window"]),
        overlays=header.get("overlays", []), policy=header.get("policy"), config=header.get("config"),
        palette=F.PALETTE.tolist(), materials=list(T.NAMES), team_colours=F.TEAM_COLOURS.tolist(),
        kind_colours=F.KIND_COLOURS.tolist(), kinds=KIND_NAMES, colormap=F.COLORMAP.tolist(),
        overlay_alpha=F.OVERLAY_ALPHA, outline=F.OUTLINE.tolist(), health_ok=F.HEALTH_OK.tolist(),
        health_lost=F.HEALTH_LOST.tolist(), skill_names=list(SKILL_NAMES),
    )


def frame_json(index: int, get, names, episode: int = 0) -> dict:
    """One frame for the page (see the module doc); ``get(name)`` reads a leaf of this frame."""
    entities, agent, world = {}, {}, {}
    for name in names:
        if name.startswith("state/entities/"):
            entities[name[len("state/entities/"):]] = _jsonable(get(name))
        elif name.startswith("agent/") and not name.startswith("agent/attention/"):
            agent[name[len("agent/"):]] = _jsonable(get(name))
        elif name.startswith("state/") and name != "state/tiles":
            v = np.asarray(get(name))
            if v.size == 1:  # world scalars (tick, deaths, ...); map layers stay on the server
                world[name[len("state/"):]] = _jsonable(v.reshape(()))
    tiles = np.ascontiguousarray(np.asarray(get("state/tiles"), np.uint8))
    return dict(index=int(index), episode=int(episode), tick=int(world.get("tick", index)),
                tiles=base64.b64encode(tiles.tobytes()).decode("ascii"),
                entities=entities, agent=agent, world=world)


class ReplaySource:
    """A replay file: every frame is there from the start."""

    live = False

    def __init__(self, replay):
        self.replay = replay
        self._names = set(replay.names)
        self._lock = threading.Lock()  # sparse leaves keep a cursor: one reader at a time

    def meta(self) -> dict:
        return dict(world_meta(self.replay.header), live=False, first=0, last=self.replay.num_frames - 1,
                    source=self.replay.source)

    def _get(self, i):
        if not 0 <= i < self.replay.num_frames:
            raise IndexError(f"frame {i} outside 0..{self.replay.num_frames - 1}")
        return lambda name: self.replay.frame(name, i)

    def frame(self, i: int) -> dict:
        with self._lock:
            return frame_json(i, self._get(i), sorted(self._names))

    def overlay(self, name: str, i: int, agent: int | None = None) -> np.ndarray:
        with self._lock:
            return overlay_picture(self.replay.header, self._get(i), self._names, name, agent)


class LiveSource:
    """Frames from a ``Recorder`` playing now; keeps the last ``history`` frames for scrubbing back.

    ``publish(frame_json)`` is called from the producer thread for every new
    frame (the server hands it to its event loop). ``start()`` launches the
    thread; ``stop()`` ends it.
    """

    live = True

    def __init__(self, recorder, seed: int = 0, fps: float = 8.0, history: int = 256, header_extra=None):
        if fps <= 0 or history < 1:
            raise ValueError(f"fps={fps} and history={history} must be positive")
        self.recorder = recorder
        self.seed = seed
        self.fps = fps
        self.header = dict(recorder.header(**(header_extra or {})), frames=0)
        self._frames: collections.deque = collections.deque(maxlen=history)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self.publish = lambda frame: None
        self.error: BaseException | None = None
        self.episode = 0

    # -------------------------------------------------------------- producer
    def start(self):
        self._thread = threading.Thread(target=self._run, name="nmmo-live", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _world_over(self, frame: dict) -> bool:
        env = self.recorder.cfg
        if env.persistent:
            return False
        alive = frame["state/entities/alive"][:env.num_agents]
        return int(frame["state/tick"]) >= env.horizon or not alive.any()

    def _run(self):
        try:
            index = 0
            key = jax.random.PRNGKey(self.seed)
            while not self._stop.is_set():
                key, k_world = jax.random.split(key)
                carry, static = self.recorder.start(k_world)
                static = {k: np.asarray(v) for k, v in jax.device_get(static).items()}
                over = False
                next_time = time.monotonic()
                while not over and not self._stop.is_set():
                    carry, chunk = self.recorder.chunk(carry)
                    chunk = jax.device_get(chunk)
                    for c in range(self.recorder.chunk_len):
                        frame = {name: np.asarray(v[c]) for name, v in chunk.items()}
                        frame.update(static)
                        delay = next_time - time.monotonic()
                        if delay > 0 and self._stop.wait(delay):
                            return
                        next_time = max(next_time, time.monotonic()) + 1.0 / self.fps
                        with self._lock:
                            self._frames.append((index, self.episode, frame))
                        self.publish(frame_json(index, frame.__getitem__, sorted(frame), self.episode))
                        index += 1
                        if self._world_over(frame):
                            over = True
                            break
                self.episode += 1
        except BaseException as err:  # surfaced by meta() so the page and the log can say why
            self.error = err
            raise

    # --------------------------------------------------------------- queries
    def _find(self, i: int):
        with self._lock:
            if not self._frames:
                raise IndexError("no frame produced yet")
            first = self._frames[0][0]
            k = i - first
            if not 0 <= k < len(self._frames):
                raise IndexError(f"frame {i} outside the live history {first}..{self._frames[-1][0]}")
            return self._frames[k]

    def meta(self) -> dict:
        with self._lock:
            first = self._frames[0][0] if self._frames else 0
            last = self._frames[-1][0] if self._frames else -1
        return dict(world_meta(self.header), live=True, first=first, last=last, fps=self.fps, history=self._frames.maxlen,
                    source="live", error=None if self.error is None else repr(self.error))

    def frame(self, i: int) -> dict:
        index, episode, frame = self._find(i)
        return frame_json(index, frame.__getitem__, sorted(frame), episode)

    def overlay(self, name: str, i: int, agent: int | None = None) -> np.ndarray:
        _, _, frame = self._find(i)
        return overlay_picture(self.header, frame.__getitem__, set(frame), name, agent)
