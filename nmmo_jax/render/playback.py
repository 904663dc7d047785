"""``Replay``: random access to the frames of a replay file (or of a recording still in memory).

    rp = Replay.load("run.replay")
    rp.num_frames, rp.config, rp.overlays      # header facts
    rp.state(t)                                # WorldState (numpy) of frame t
    rp.fields(t, "state/entities/")            # {name: array} of any recorded leaves, generic
    rp.overlay("counts", t)                    # f32[H, W] (NaN: nothing to show)
    rp.overlay("attention", t, agent=3)

``state(t)`` rebuilds the ``WorldState`` class of the running nmmo_jax from the
recorded leaves; a leaf the recorder leaves out on purpose (the header's
``unrecorded``, ``record.UNRECORDED``: the tasks' explored bitmap) comes back as
zeros of its recorded shape and dtype. A replay recorded before the world
gained a field fails with a ``ReplayError`` naming it, while ``fields`` (what
the viewer uses) works on whatever was recorded.
"""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import numpy as np

from nmmo_jax.render import overlays as OV
from nmmo_jax.render.fileformat import ReplayError, SparseLeaf, decode, read_file
from nmmo_jax.state import WorldState


class Replay:
    def __init__(self, header: dict, leaves: dict, source: str = "<memory>"):
        self.header = header
        self.source = source
        self._leaves = leaves
        self.num_frames = int(header["frames"])

    @classmethod
    def load(cls, path: str | Path) -> "Replay":
        header, arrays = read_file(path)
        return cls(header, decode(header, arrays), str(path))

    @classmethod
    def from_writer(cls, writer, header: dict) -> "Replay":
        """The replay a writer would save, without the file (tests, the live viewer)."""
        leaves, arrays = writer._encode()
        head = dict(header, frames=writer.frames, leaves=leaves)
        return cls(head, decode(head, arrays))

    # ----------------------------------------------------------------- facts
    @property
    def names(self) -> list[str]:
        return sorted(self._leaves)

    @property
    def config(self):
        from nmmo_jax.config import _build
        return _build(self.header["config"], None, f"replay {self.source}")

    @property
    def overlays(self) -> list[dict]:
        return list(self.header.get("overlays", []))

    @property
    def shape(self) -> tuple[int, int]:
        m = self.header["map"]
        return int(m["height"]), int(m["width"])

    def _check_t(self, t: int) -> int:
        t = int(t)
        if not 0 <= t < self.num_frames:
            raise IndexError(f"frame {t} outside the replay's 0..{self.num_frames - 1}")
        return t

    # ---------------------------------------------------------------- frames
    def frame(self, name: str, t: int) -> np.ndarray:
        """Leaf ``name`` at frame ``t`` (static leaves ignore ``t``)."""
        t = self._check_t(t)
        if name not in self._leaves:
            raise KeyError(f"replay has no leaf {name!r}; recorded: {self.names}")
        leaf = self._leaves[name]
        if isinstance(leaf, SparseLeaf):
            return leaf.at(t)
        if name.startswith("static/"):
            return leaf
        return leaf[t]

    def array(self, name: str) -> np.ndarray:
        """Leaf ``name`` over all frames, [T, ...] (materialises sparse leaves: mind the memory)."""
        leaf = self._leaves[name]
        if isinstance(leaf, SparseLeaf):
            return np.stack([leaf.at(t) for t in range(self.num_frames)])
        return leaf

    def fields(self, t: int, prefix: str = "state/") -> dict[str, np.ndarray]:
        """Every leaf under ``prefix`` at frame t, keyed by the rest of its name."""
        return {n[len(prefix):]: self.frame(n, t) for n in self.names if n.startswith(prefix)}

    def state(self, t: int) -> WorldState:
        """The ``WorldState`` of frame t (numpy); ``unrecorded`` leaves are zeros (see the module doc)."""
        return _build_dataclass(WorldState, "state", lambda name: self.frame(name, t), self)

    @property
    def unrecorded(self) -> dict[str, dict]:
        """name -> header entry (dtype, shape, why) of the state leaves the recorder left out on purpose."""
        out = {}
        for u in self.header.get("unrecorded") or []:
            if isinstance(u, dict) and isinstance(u.get("name"), str):
                out[u["name"]] = u
        return out

    # -------------------------------------------------------------- overlays
    def overlay(self, name: str, t: int, agent: int | None = None) -> np.ndarray:
        """f32[H, W] picture of overlay ``name`` at frame t (``attention`` needs ``agent``)."""
        t = self._check_t(t)
        return overlay_picture(self.header, lambda n: self.frame(n, t), set(self._leaves), name, agent)


def overlay_picture(header: dict, get, names, name: str, agent: int | None = None) -> np.ndarray:
    """f32[H, W] picture of one overlay of one frame (NaN: nothing to show).

    ``get(leaf name)`` reads the frame's leaves, ``names`` says which exist: the
    same code serves a replay file and the live viewer's frames in memory.
    """
    kinds = {o["name"]: o["kind"] for o in header.get("overlays", [])}
    if name not in kinds:
        raise KeyError(f"replay has no overlay {name!r}; it has {sorted(kinds)}")
    kind = kinds[name]
    if kind == "static":
        return np.asarray(get(f"static/{name}"), np.float32)
    if kind == "map":
        grid = np.array(get(f"overlay/{name}"), np.float32)
        if name == "counts":  # never visited: nothing to show
            grid[grid == 0] = np.nan
        return grid
    if agent is None:
        raise ValueError(f"overlay {name!r} is per agent: pass agent=<slot>")
    a = int(header["num_agents"])
    if not 0 <= agent < a:
        raise ValueError(f"agent {agent} outside 0..{a - 1}")
    shape = (int(header["map"]["height"]), int(header["map"]["width"]))
    pos = get("state/entities/pos")
    if not get("state/entities/alive")[agent]:
        return np.full(shape, np.nan, np.float32)
    row = lambda n: get(n)[agent] if n in names else None
    return OV.paint_attention(shape, pos[agent], row("agent/attention/entities"), row("agent/attention/slots"),
                              pos, row("agent/attention/tiles"), int(header["window"]))


def _build_dataclass(cls, prefix: str, get, replay):
    hints = typing.get_type_hints(cls)  # resolves string annotations too
    unrecorded = replay.unrecorded
    values = {}
    for f in dataclasses.fields(cls):
        name = f"{prefix}/{f.name}"
        kind = hints.get(f.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            values[f.name] = _build_dataclass(kind, name, get, replay)
            continue
        if name not in replay._leaves and name in unrecorded:
            u = unrecorded[name]
            try:
                values[f.name] = np.zeros(tuple(int(d) for d in u["shape"]), np.dtype(u["dtype"]))
            except (KeyError, TypeError, ValueError) as err:
                raise ReplayError(f"replay {replay.source}: corrupt header entry unrecorded {u!r} ({err})") from None
            continue
        if name not in replay._leaves:
            raise ReplayError(f"replay {replay.source} has no {name!r}: it was recorded by an nmmo_jax whose "
                              f"{cls.__name__} lacked that field; use Replay.fields() for what it holds")
        values[f.name] = get(name)
    return cls(**values)
