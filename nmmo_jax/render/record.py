"""Recording a rollout inside the compiled graph: the frames are ``lax.scan`` outputs.

``Recorder(env, policy)`` compiles two functions:

* ``start(key)``: reset the world, the policy's carry and the overlay
  accumulators; compute the static overlays (``globalValues``) of the new map;
* ``chunk(carry)``: ``chunk`` ticks as one ``lax.scan`` whose per-tick output is
  a *frame*: every leaf of the ``WorldState`` (so fields added to the world
  later are recorded with no change here), the policy's value, actions and
  attention, and the overlay maps.

The host sees a chunk at a time (progress bar, streaming to the live viewer,
writing the file), never a single tick: there is no host round-trip per tick.
Frame t is the world after t steps, with the policy's outputs on that world's
observation (the action it is about to take). ``record(key, ticks)`` returns
the frames 0..ticks and a header ready for ``ReplayWriter.write``.

Frame leaves are named by path: ``state/tiles``, ``state/entities/health``,
``agent/value``, ``agent/action/move``, ``agent/attention/entities``,
``overlay/counts``, ``overlay/<custom>``; ``static/globalValues`` once per world.
"""
from __future__ import annotations

import datetime
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nmmo_jax.render import overlays as OV
from nmmo_jax.render.fileformat import ReplayWriter

__all__ = ["Recorder", "state_leaves", "path_name", "tick_keys"]


def path_name(path) -> str:
    parts = []
    for k in path:
        for attr in ("name", "key", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def state_leaves(state, prefix: str = "state") -> dict[str, Any]:
    """Every leaf of a ``WorldState`` by path name, e.g. ``state/entities/pos``."""
    flat, _ = jax.tree_util.tree_flatten_with_path(state)
    return {f"{prefix}/{path_name(p)}": leaf for p, leaf in flat}


@functools.lru_cache(maxsize=16)
def jitted_reset(env):
    """``jax.jit(env.reset)``, one per Env: recorders, tests and tools of one world share its compile."""
    return jax.jit(env.reset)


def tick_keys(k_run, t):
    """(action key, step key) of frame ``t``: ``k_run`` is the second half of ``split(key)``, the first resets.

    Folding the frame number in (instead of carrying a split key) lets anyone
    replay the same world step by step from the recorded actions.
    """
    k_act, k_step = jax.random.split(jax.random.fold_in(k_run, t))
    return k_act, k_step


class Recorder:
    """A world played by a policy (``(model, params)``) or by random legal actions (``policy=None``).

    ``overlays``: names of custom overlays to record (default: every one
    registered with ``register_overlay``). ``global_values``: compute the
    ``globalValues`` overlay at each ``start`` (needs a policy).
    ``greedy``: most likely actions instead of sampling.
    """

    def __init__(self, env, policy=None, *, env_params=None, greedy: bool = False,
                 overlays: list[str] | None = None, chunk: int = 64, global_values: bool = True):
        if chunk < 1:
            raise ValueError(f"chunk={chunk}: must be a positive number of ticks")
        self.env = env
        self.cfg = env.cfg
        self.env_params = env.default_params if env_params is None else env_params
        self.model, self.params = (None, None) if policy is None else policy
        self.greedy = greedy
        self.chunk_len = chunk
        registered = OV.custom_overlays()
        names = list(registered) if overlays is None else list(overlays)
        unknown = [n for n in names if n not in registered]
        if unknown:
            raise ValueError(f"unknown overlay(s) {unknown}; registered custom overlays: {sorted(registered)} "
                             f"(built-ins are always recorded: {sorted(OV.BUILTIN)})")
        self.custom = [registered[n] for n in names]
        self.with_global_values = global_values and self.model is not None
        self._start = jax.jit(self._start_fn)
        self._chunk = jax.jit(self._chunk_fn)
        self._overlays = None

    # ------------------------------------------------------------ the graph
    def _policy_outputs(self, model_params, obs, state, carry, reset, key):
        """(actions, outputs dict, new carry) for the players of one tick."""
        a = self.cfg.num_agents
        if self.model is None:
            actions = self.env.sample_actions(key, obs)
            return actions, {"obs": obs, "actions": actions}, carry
        from agents import models as M  # the policy side is optional for a random recording
        (logits, value, new_carry), inter = self.model.apply(model_params, obs, carry, reset,
                                                             mutable=["intermediates"])
        actions = M.greedy_actions(logits) if self.greedy else M.sample_actions(key, logits)
        alive = state.entities.alive[:a]
        value = jnp.where(alive, value.astype(jnp.float32), jnp.nan)
        outputs = {"obs": obs, "actions": actions, "value": value, "logits": logits,
                   "intermediates": inter.get("intermediates", {})}
        return actions, outputs, new_carry

    def _start_fn(self, key, model_params, reset=None):
        a = self.cfg.num_agents
        k_reset, k_run = jax.random.split(key)
        obs, state = reset if reset is not None else self.env.reset(k_reset, self.env_params)
        carry = None if self.model is None else self.model.initial_carry(a)
        h, w = state.tiles.shape
        acc = {"counts": jnp.zeros((h, w), jnp.int32)}
        if self.model is not None:
            acc["values"] = jnp.full((h, w), jnp.nan, jnp.float32)
        static = {}
        if self.with_global_values:
            static["static/globalValues"] = OV.global_values(self.model, model_params, state, state.entities,
                                                             self.cfg, self.env_params)
        return (obs, state, carry, jnp.ones(a, bool), acc, k_run, jnp.zeros((), jnp.int32)), static

    def _tick(self, c, _, model_params):
        obs, state, carry, reset, acc, k_run, t = c
        k_act, k_step = tick_keys(k_run, t)
        a = self.cfg.num_agents
        actions, outputs, new_carry = self._policy_outputs(model_params, obs, state, carry, reset, k_act)
        acc = dict(acc, counts=OV.add_counts(acc["counts"], state, a))
        frame = dict(state_leaves(state))
        frame["overlay/counts"] = acc["counts"]
        for head, act in actions.items():
            frame[f"agent/action/{head}"] = act.astype(jnp.int32)
        if self.model is not None:
            acc["values"] = OV.paint_values(acc["values"], state, outputs["value"], a)
            frame["overlay/values"] = acc["values"]
            frame["agent/value"] = outputs["value"]
            att = OV.attention_outputs(outputs["intermediates"], obs, state.entities.alive[:a])
            for k, v in att.items():
                frame[f"agent/attention/{k}"] = v
        for ov in self.custom:
            try:
                grid = ov.fn(state, outputs)
            except KeyError as err:
                raise ValueError(f"custom overlay {ov.name!r} reads outputs[{err}], which a random-agent "
                                 f"recording does not have; record with a policy (--checkpoint)") from None
            grid = jnp.asarray(grid, jnp.float32)
            if grid.shape != state.tiles.shape:
                raise ValueError(f"custom overlay {ov.name!r} returned shape {grid.shape}; "
                                 f"expected the map's {state.tiles.shape}")
            frame[f"overlay/{ov.name}"] = grid
        obs2, state2, reward, term, trunc, info = self.env.step(k_step, state, actions, self.env_params)
        reset2 = term | trunc | ~state2.entities.alive[:a]
        return (obs2, state2, new_carry, reset2, acc, k_run, t + 1), frame

    def _chunk_fn(self, c, model_params):
        return jax.lax.scan(lambda c, x: self._tick(c, x, model_params), c, None, length=self.chunk_len)

    # -------------------------------------------------------------- driving
    def start(self, key):
        """(carry, static overlays dict) of a freshly reset world."""
        # Reset (map generation: most of start's compile time) is compiled once per Env and shared
        # by every Recorder of that Env; the rest of start takes its output.
        reset = jitted_reset(self.env)(jax.random.split(key)[0], self.env_params)
        return self._start(key, self.params, reset)

    def chunk(self, carry):
        """(carry, frames): ``chunk`` ticks; frames is a dict of device arrays [chunk, ...]."""
        return self._chunk(carry, self.params)

    def overlays(self) -> list[dict]:
        """What the replay will show: name, kind (map: a layer per frame; agent: per selected agent;
        static: one layer), description."""
        out = [dict(name="counts", kind="map", description=OV.BUILTIN["counts"])]
        if self.model is not None:
            out.append(dict(name="values", kind="map", description=OV.BUILTIN["values"]))
            if self._has_attention():
                out.append(dict(name="attention", kind="agent", description=OV.BUILTIN["attention"]))
        if self.with_global_values:
            out.append(dict(name="globalValues", kind="static", description=OV.BUILTIN["globalValues"]))
        out += [dict(name=o.name, kind="map", description=o.description) for o in self.custom]
        return out

    def _has_attention(self) -> bool:
        if self._overlays is None:
            shapes = jax.eval_shape(self._start_fn, jax.random.PRNGKey(0), self.params)
            carry = shapes[0]
            frames = jax.eval_shape(self._chunk_fn, carry, self.params)[1]
            self._overlays = set(frames)
        return any(k.startswith("agent/attention/") for k in self._overlays)

    def header(self, **extra) -> dict:
        """The replay header: config, overlays, geometry the viewer needs."""
        cfg = self.cfg
        head = dict(
            created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            config=self.env.config.to_dict() if self.env.config is not None else {"env": vars(cfg)},
            map=dict(height=cfg.map_size, width=cfg.map_size, border=cfg.border),
            num_agents=cfg.num_agents,
            num_entities=cfg.num_entities,
            window=cfg.window_size,
            max_health=int(np.asarray(self.env_params.max_health)),
            overlays=self.overlays(),
            policy=None,
        )
        head.update(extra)
        return head

    def record(self, key, ticks: int, progress=None) -> tuple[ReplayWriter, dict]:
        """Frames 0..ticks (``ticks + 1`` of them) of one world, and the static overlays.

        ``progress``: an object with ``update(n)`` (a tqdm bar), told after each chunk.
        Returns the filled ``ReplayWriter`` and the static arrays (already added to it).
        """
        if ticks < 0:
            raise ValueError(f"ticks={ticks}: must be >= 0")
        writer = ReplayWriter()
        carry, static = self.start(key)
        static = jax.device_get(static)
        for name, value in static.items():
            writer.add_static(name, value)
        total = ticks + 1
        for _ in range(math.ceil(total / self.chunk_len)):
            carry, frames = self.chunk(carry)
            frames = jax.device_get(frames)
            keep = min(self.chunk_len, total - writer.frames)
            writer.add(frames, keep)
            if progress is not None:
                progress.update(keep)
        return writer, static
