"""Recording a rollout inside the compiled graph: the frames are ``lax.scan`` outputs.

The policy is a plain function of the world's observation (the world knows no
model)::

    policy(obs, carry, key) -> (actions, value, attention, carry)

``obs``: the observation dict of the ``num_agents`` players of one world;
``actions``: head -> int32[A]; ``value``: f32[A]; ``attention``: a dict,
possibly empty, of per-agent arrays, e.g. ``entities`` f32[A, K] (a weight per
entity row) and ``tiles`` f32[A, g, g] (a weight per tile patch, the window cut
as ``overlays.patch_geometry`` says); ``carry``: any pytree (a recurrent
policy's state; ``None`` for a stateless one). The world passes no reset flags:
a policy that keeps a carry sees a fresh life in the observation itself (its
self row's ``time_alive`` is 0 on the first observation of every life, and
``entity_mask[:, 0]`` is False while it is dead). ``agents.policy_fn`` builds
one from a Flax model and its parameters.

Give it as a ``jax.tree_util.Partial`` to keep arrays (parameters) traced: its
bound arguments are pytree leaves, passed to the compiled functions as
arguments rather than baked in as constants. A plain function is wrapped in
``Partial(fn)``. The carry of the first tick is ``initial_carry``.

``Recorder(env, policy, initial_carry=carry0)`` compiles two functions:

* ``start(key)``: reset the world, the policy's carry and the overlay
  accumulators; compute the static overlays (``globalValues``) of the new map;
* ``chunk(carry)``: ``chunk`` ticks as one ``lax.scan`` whose per-tick output is
  a *frame*: every leaf of the ``WorldState`` (so fields added to the world
  later are recorded with no change here) but those of ``UNRECORDED``, the
  scalars of the world's ``info``, the policy's value, actions and attention,
  and the overlay maps.

Why not every leaf: ``UNRECORDED`` names state leaves that are bookkeeping
behind a recorded number and would cost more than the rest of a frame. The
tasks' explored bitmap (``state/tasks/explored``, 128 bytes a player, a hash of
the tiles its life has stood on) only feeds the ``tiles_explored`` counter,
which ``state/tasks/counters`` records. The header lists what was left out
(``unrecorded``: name, dtype, shape, why) and ``Replay.state`` gives it back as
zeros, so a replay still rebuilds a ``WorldState``; the file's format and
version are unchanged (a leaf is recorded or not; the header says which).

Why ``info`` too: some events leave no trace in the next state. Kills, gifts,
listings, equips, items lost for room and the lives that ended (with their
lengths) cannot be told from two consecutive states (a slot that died and
respawned, an item given away and one destroyed look alike), and these are what
a chart of the world's history plots (the viewer's population, mean lifetime,
kills and trades). Frame t's ``info/<name>`` is the info of the step that led
to frame t, like ``state/market_sales`` ("on the last tick"); frame 0's are zeros.

The host sees a chunk at a time (progress bar, streaming to the live viewer,
writing the file), never a single tick: there is no host round-trip per tick.
Frame t is the world after t steps, with the policy's outputs on that world's
observation (the action it is about to take). ``record(key, ticks)`` returns
the frames 0..ticks and a header ready for ``ReplayWriter.write``.

Frame leaves are named by path: ``state/tiles``, ``state/entities/health``,
``info/kills``, ``agent/value``, ``agent/action/move``, ``agent/attention/entities``,
``overlay/counts``, ``overlay/<custom>``; ``static/globalValues`` once per world.

With tasks on (``env.curriculum``), the header's ``tasks`` (``task_table``)
says what the curriculum's rows are, so a viewer can name the task a player
holds (``state/tasks/task``), its progress (``state/tasks/best``) and the
counters it reads (``state/tasks/counters``, columns named by ``counters``).
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

__all__ = ["Recorder", "UNRECORDED", "state_leaves", "recorded_state_leaves", "path_name", "task_table", "tick_keys"]

# State leaves a frame leaves out (see the module doc), with why; the header lists them as ``unrecorded``.
UNRECORDED = {
    "state/tasks/explored": "the tasks' explored bitmap (a hash of the tiles each life has stood on); what tasks "
                            "read of it, the tiles_explored counter, is in state/tasks/counters",
}


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


def recorded_state_leaves(state) -> dict[str, Any]:
    """The leaves of a ``WorldState`` a frame records: all of ``state_leaves`` but ``UNRECORDED``."""
    return {name: leaf for name, leaf in state_leaves(state).items() if name not in UNRECORDED}


def task_table(curriculum) -> dict | None:
    """The header's ``tasks``: a curriculum (``env.curriculum``) as a viewer shows it; None without one.

    ``curriculum``: where it came from; ``tasks``: one entry per curriculum row
    (the values of ``state/tasks/task``), with its ``name``, ``description``
    (``Curriculum.describe``'s line without the name), ``reward``, ``weight``
    (the chance to draw it), ``ends`` (completing ends the episode), ``combine``
    (all / any) and ``parts`` (predicate, target, and the counter a ``count``
    part reads); ``counters``: the names of the columns of ``state/tasks/counters``.
    """
    if curriculum is None:
        return None
    from nmmo_jax.tasks import predicates as P
    from nmmo_jax.tasks.counters import COUNTERS
    from nmmo_jax.tasks.curriculum import ALL
    cur = curriculum
    rows = []
    for t, (name, line) in enumerate(zip(cur.names, cur.describe())):
        parts = []
        for p in range(cur.predicate.shape[1]):
            pid = int(cur.predicate[t, p])
            if pid <= 0:
                continue
            pred = P.PREDICATES[pid - 1]
            part = dict(predicate=pred.name, target=int(cur.target[t, p]))
            if pred.name == "count":
                part["counter"] = COUNTERS[int(cur.subject[t, p])]
            parts.append(part)
        prefix = f"{name}: "
        rows.append(dict(name=name, description=line[len(prefix):] if line.startswith(prefix) else line,
                         reward=float(cur.reward[t]), weight=round(float(cur.weight[t]), 6), ends=bool(cur.ends[t]),
                         combine="all" if int(cur.combine[t]) == ALL else "any", parts=parts))
    return dict(curriculum=str(cur.source), tasks=rows, counters=list(COUNTERS))


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
    """A world played by a policy function (see the module doc) or by random legal actions (``policy=None``).

    ``policy``: ``policy(obs, carry, key) -> (actions, value, attention, carry)``,
    a ``jax.tree_util.Partial`` (bound arrays stay traced) or a plain function.
    ``initial_carry``: the policy's carry on the first tick (any pytree; None for
    a stateless policy); also the carry ``globalValues`` evaluates with.
    ``overlays``: names of custom overlays to record (default: every one
    registered with ``register_overlay``). ``global_values``: compute the
    ``globalValues`` overlay at each ``start`` (needs a policy).
    """

    def __init__(self, env, policy=None, *, initial_carry=None, env_params=None,
                 overlays: list[str] | None = None, chunk: int = 64, global_values: bool = True):
        if chunk < 1:
            raise ValueError(f"chunk={chunk}: must be a positive number of ticks")
        if policy is not None and not callable(policy):
            raise TypeError(f"policy must be a function policy(obs, carry, key) -> (actions, value, attention, "
                            f"carry), e.g. agents.policy_fn.policy_function(model, params); got {type(policy)}")
        self.env = env
        self.cfg = env.cfg
        self.env_params = env.default_params if env_params is None else env_params
        if policy is not None and not isinstance(policy, jax.tree_util.Partial):
            policy = jax.tree_util.Partial(policy)
        self.policy = policy
        self.initial_carry = initial_carry
        self.chunk_len = chunk
        registered = OV.custom_overlays()
        names = list(registered) if overlays is None else list(overlays)
        unknown = [n for n in names if n not in registered]
        if unknown:
            raise ValueError(f"unknown overlay(s) {unknown}; registered custom overlays: {sorted(registered)} "
                             f"(built-ins are always recorded: {sorted(OV.BUILTIN)})")
        self.custom = [registered[n] for n in names]
        self.with_global_values = global_values and self.policy is not None
        self._start = jax.jit(self._start_fn)
        self._chunk = jax.jit(self._chunk_fn)
        self._overlays = None
        self._unrecorded = None

    # ------------------------------------------------------------ the graph
    def _policy_outputs(self, policy, obs, state, carry, key):
        """(actions, outputs dict, new carry) for the players of one tick."""
        a = self.cfg.num_agents
        if policy is None:
            actions = self.env.sample_actions(key, obs)
            return actions, {"obs": obs, "actions": actions}, carry
        actions, value, attention, new_carry = policy(obs, carry, key)
        alive = state.entities.alive[:a]
        value = jnp.where(alive, jnp.asarray(value, jnp.float32), jnp.nan)
        outputs = {"obs": obs, "actions": actions, "value": value, "attention": dict(attention or {})}
        return actions, outputs, new_carry

    def _start_fn(self, key, policy, initial_carry, reset=None):
        k_reset, k_run = jax.random.split(key)
        obs, state = reset if reset is not None else self.env.reset(k_reset, self.env_params)
        h, w = state.tiles.shape
        acc = {"counts": jnp.zeros((h, w), jnp.int32)}
        if policy is not None:
            acc["values"] = jnp.full((h, w), jnp.nan, jnp.float32)
        static = {}
        if self.with_global_values:
            static["static/globalValues"] = OV.global_values(policy, initial_carry, state, state.entities,
                                                             self.cfg, self.env_params,
                                                             key=jax.random.fold_in(k_run, 0x7FFFFFFF))  # no frame uses it
        return (obs, state, initial_carry, acc, k_run, jnp.zeros((), jnp.int32), self._zero_info(state)), static

    def _zero_info(self, state):
        """Zeros shaped like the recorded part of ``env.step``'s info (its scalars): frame 0's ``info/``."""
        spec = lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x))
        key = jax.ShapeDtypeStruct((2,), jnp.uint32)
        actions = jax.tree.map(spec, self.env.noop_actions())
        info = jax.eval_shape(self.env.step, key, jax.tree.map(spec, state), actions,
                              jax.tree.map(spec, self.env_params))[5]
        return {k: jnp.zeros((), v.dtype) for k, v in info.items() if v.shape == ()}

    def _tick(self, c, _, policy):
        obs, state, carry, acc, k_run, t, last_info = c
        k_act, k_step = tick_keys(k_run, t)
        a = self.cfg.num_agents
        actions, outputs, new_carry = self._policy_outputs(policy, obs, state, carry, k_act)
        acc = dict(acc, counts=OV.add_counts(acc["counts"], state, a))
        frame = recorded_state_leaves(state)
        frame["overlay/counts"] = acc["counts"]
        for name, value in last_info.items():
            frame[f"info/{name}"] = value
        for head, act in actions.items():
            frame[f"agent/action/{head}"] = act.astype(jnp.int32)
        if policy is not None:
            acc["values"] = OV.paint_values(acc["values"], state, outputs["value"], a)
            frame["overlay/values"] = acc["values"]
            frame["agent/value"] = outputs["value"]
            att = OV.attention_leaves(outputs["attention"], obs, state.entities.alive[:a])
            for k, v in att.items():
                frame[f"agent/attention/{k}"] = v
        for ov in self.custom:
            try:
                grid = ov.fn(state, outputs)
            except KeyError as err:
                raise ValueError(f"custom overlay {ov.name!r} reads outputs[{err}], which a random-agent "
                                 f"recording does not have; record with a policy "
                                 f"(python -m agents.record --checkpoint=DIR)") from None
            grid = jnp.asarray(grid, jnp.float32)
            if grid.shape != state.tiles.shape:
                raise ValueError(f"custom overlay {ov.name!r} returned shape {grid.shape}; "
                                 f"expected the map's {state.tiles.shape}")
            frame[f"overlay/{ov.name}"] = grid
        obs2, state2, reward, term, trunc, info = self.env.step(k_step, state, actions, self.env_params)
        info = {k: jnp.asarray(info[k]).astype(v.dtype) for k, v in last_info.items()}
        return (obs2, state2, new_carry, acc, k_run, t + 1, info), frame

    def _chunk_fn(self, c, policy):
        return jax.lax.scan(lambda c, x: self._tick(c, x, policy), c, None, length=self.chunk_len)

    # -------------------------------------------------------------- driving
    def start(self, key):
        """(carry, static overlays dict) of a freshly reset world."""
        # Reset (map generation: most of start's compile time) is compiled once per Env and shared
        # by every Recorder of that Env; the rest of start takes its output.
        reset = jitted_reset(self.env)(jax.random.split(key)[0], self.env_params)
        return self._start(key, self.policy, self.initial_carry, reset)

    def chunk(self, carry):
        """(carry, frames): ``chunk`` ticks; frames is a dict of device arrays [chunk, ...]."""
        return self._chunk(carry, self.policy)

    def overlays(self) -> list[dict]:
        """What the replay will show: name, kind (map: a layer per frame; agent: per selected agent;
        static: one layer), description."""
        out = [dict(name="counts", kind="map", description=OV.BUILTIN["counts"])]
        if self.policy is not None:
            out.append(dict(name="values", kind="map", description=OV.BUILTIN["values"]))
            if self._has_attention():
                out.append(dict(name="attention", kind="agent", description=OV.BUILTIN["attention"]))
        if self.with_global_values:
            out.append(dict(name="globalValues", kind="static", description=OV.BUILTIN["globalValues"]))
        out += [dict(name=o.name, kind="map", description=o.description) for o in self.custom]
        return out

    def _has_attention(self) -> bool:
        if self._overlays is None:
            shapes = jax.eval_shape(self._start_fn, jax.random.PRNGKey(0), self.policy, self.initial_carry)
            carry = shapes[0]
            frames = jax.eval_shape(self._chunk_fn, carry, self.policy)[1]
            self._overlays = set(frames)
        return any(k.startswith("agent/attention/") for k in self._overlays)

    def unrecorded(self) -> list[dict]:
        """The header's ``unrecorded``: the ``UNRECORDED`` leaves of this world's state (name, dtype, shape, why)."""
        if self._unrecorded is None:
            # Shapes of reset's output: the trace is the one the first start() compiles (jit caches it).
            shapes = jax.eval_shape(jitted_reset(self.env), jax.random.PRNGKey(0), self.env_params)[1]
            self._unrecorded = [dict(name=name, dtype=str(leaf.dtype), shape=list(leaf.shape), why=UNRECORDED[name])
                                for name, leaf in state_leaves(shapes).items() if name in UNRECORDED]
        return [dict(u) for u in self._unrecorded]

    def header(self, **extra) -> dict:
        """The replay header: config, overlays, geometry the viewer needs, the curriculum's ``tasks``
        (``task_table``; None without tasks) and the ``unrecorded`` state leaves."""
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
            tasks=task_table(getattr(self.env, "curriculum", None)),
            unrecorded=self.unrecorded(),
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
