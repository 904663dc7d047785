"""``GymnasiumVectorEnv``: the agent slots of N worlds as one ``gymnasium.vector.VectorEnv``.

PufferLib's layout, what a CleanRL-style single-policy trainer expects: sub-environment
``j = w * A + i`` is agent slot ``i`` of world ``w``, so ``num_envs = N * A``; arrays go in and
out with that leading axis.

    envs = GymnasiumVectorEnv("small", num_envs=8)          # 8 worlds x 64 agents = 512 sub-envs
    obs, infos = envs.reset(seed=0)
    while True:
        actions = policy(obs)                               # {"move": int[512], "attack_style": ..., ...}
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        live = infos["mask"]                                # slots whose obs is a live agent's

Observations: a dict of numpy arrays with leading axis ``N * A``: ``tiles``, ``entities``,
``entity_mask`` (and with the economy ``inventory``, ``inventory_mask``, ``market``; with a
curriculum ``task``) as the world gives them and ``action_mask``, a dict of int8 0/1 arrays per head
(gymnasium's mask convention). ``single_observation_space`` / ``single_action_space`` are one
agent's (the action a ``Dict`` of ``Discrete`` per head), ``observation_space`` /
``action_space`` the batched ones (``gymnasium.vector.utils.batch_space``). Actions: a dict head
-> int array ``[N * A]``; a missing head, or a value out of a head's range, is the no-op.

Episodes and dead slots (what a trainer must know):

* ``terminated[j]`` is True exactly once, on the tick slot j's agent dies; ``truncated[j]`` is
  True for the agents alive when their world reaches the horizon.
* A dead slot then stays dead until its world resets. Meanwhile it is masked:
  ``infos["mask"][j]`` is False, its reward is 0.0 and its terminated/truncated False; its
  observation is the world's observation of a dead agent (the tile window around where it fell,
  no entity rows, only "stay" and the no-op attack legal), still inside ``observation_space``;
  its actions are ignored. ``infos["mask"]`` (bool ``[N * A]``) marks the slots whose returned
  observation is a live agent's: the slots whose next action matters. A trainer drops the
  transitions of slots that were masked in the observation they acted on (``reset``'s infos
  carry the first mask, all True); a slot's terminal transition (terminated or truncated) is
  one it acted on while live, so it is kept.
* Auto-reset, gymnasium 1.x ``AutoresetMode.SAME_STEP``: a world is reset in the same call in
  which it ends (``info["done"]``: horizon reached or all its agents dead), and only that world.
  Its slots return the first observation of the new episode (mask True). The slots that ended in
  this call (``terminated | truncated``: all live slots of a finished world, and agents that died
  in a world that plays on) get ``infos["final_obs"][j]`` (a per-slot dict, gymnasium's object
  array, None elsewhere) and ``infos["final_info"]`` (``{"mask": ...}``: whether the final
  observation is a live agent's, i.e. truncated), with masks ``infos["_final_obs"]`` and
  ``infos["_final_info"]`` equal to ``terminated | truncated``. These keys appear only in calls in
  which some slot ended.
* ``infos["world"]``: the world's own per-tick info (``alive``, ``deaths``, ``tick``, ``done``,
  combat counters, ...), arrays ``[N]`` (one per world, not per slot), of the tick just played;
  ``envs.ticks`` is every world's tick counter after the call (0 for a world just reset).
* Persistent worlds never end: dead slots respawn after ``respawn_delay`` (mask True again: a
  new episode for that slot) and live agents are truncated every ``horizon`` ticks and play on
  (their final obs is the returned obs).

How the reset is done: the jitted step steps all N worlds (one vmapped call) and returns their
done flags; only when some world is done does the host call the jitted vmapped reset (the one
``reset()`` uses) and splice the fresh worlds in where done (a jitted select for the state, numpy
for the observation). A reset inside the vmapped step (select on every tick) would generate N
maps every tick: on the small preset a vmapped reset of 8 worlds costs 3.7 ms against 2.5 ms for
the step, so that would be 2.5x slower; resetting only on ticks where a world ends costs one
reset per episode. Worlds of one config usually end on the same tick (the horizon), so
generating all N then is no waste; a world that ends early (all dead) costs N map generations
once. A ``lax.cond(any(done), reset, ...)`` inside the jitted step would run as fast, but
compiles the map generator a second time (the tiny test world: 8.8 s against 3.4 s of compile).

Rewards are float32. One jitted reset, one jitted step and one jitted splice, shared by every
adapter of the same static config (compiled once per N). Seeding: ``reset(seed=s)`` starts from
``jax.random.PRNGKey(s)`` (its low 32 bits) and splits the key once per step and per reset of
ended worlds; ``seed=None`` draws one from ``np_random``. ``render()`` is the RGB frame of world 0; ``state`` is
the batched ``WorldState`` (JAX arrays, leading axis N).
"""
from __future__ import annotations

import jax
import numpy as np

from nmmo_jax.wrappers import _common

_gym = _common.require("gymnasium")
from gymnasium.vector.utils import batch_space  # noqa: E402


class GymnasiumVectorEnv(_gym.vector.VectorEnv):
    """N Neural MMO worlds as ``N * num_agents`` gymnasium sub-environments (see the module doc)."""

    metadata = {"autoreset_mode": _gym.vector.AutoresetMode.SAME_STEP, "render_modes": ["rgb_array"],
                "render_fps": 10}

    def __init__(self, config="small", num_envs: int = 8, render_mode: str | None = "rgb_array", params=None,
                 **overrides):
        """``config``: a preset name, YAML path, ``nmmo_jax.Config`` or ``nmmo_jax.Env``; ``num_envs``: the
        number of worlds N (the vector has ``N * num_agents`` sub-environments); ``overrides``: config
        keys; ``params``: ``EnvParams`` to use instead of the config's."""
        if int(num_envs) < 1:
            raise ValueError(f"num_envs={num_envs}: the number of worlds must be at least 1")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r}: supported: {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.world, self.params = _common.load(config, params, overrides)
        self.cfg = self.world.cfg
        self._fns = _common.vector_fns(self.cfg)
        self.num_worlds = int(num_envs)
        self.agents_per_world = self.cfg.num_agents
        self.num_envs = self.num_worlds * self.agents_per_world
        self._heads = dict(self.world.action_heads)
        self.single_observation_space = _common.observation_space(self.world)
        self.single_action_space = _common.action_space(self.world)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._key = None
        self.state = None
        self.ticks = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._np_random, self._np_random_seed = _gym.utils.seeding.np_random(int(seed))
        key = _common.seed_key(seed, self.np_random)
        self._key, self.state, obs = self._fns.reset(key, self.params, self.num_worlds)
        self.ticks = np.zeros(self.num_worlds, np.int32)
        return jax.device_get(obs), {"mask": np.ones(self.num_envs, bool)}

    def step(self, actions):
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        act = _common.encode_vector_actions(actions, self._heads, self.num_worlds, self.agents_per_world)
        self._key, self.state, out = self._fns.step(self._key, self.state, act, self.params)
        out = jax.device_get(out)
        obs, term, trunc, mask, done = out["obs"], out["terminated"], out["truncated"], out["mask"], out["done"]
        self.ticks = out["ticks"]
        infos = {"mask": mask, "world": self._fns.unpack_info(out["world"])}
        ended = term | trunc
        if ended.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            for j in np.flatnonzero(ended):
                final_obs[j] = _slot(obs, j)
            # In the final observation a slot is live iff it was truncated (alive at the horizon).
            infos.update(final_obs=final_obs, _final_obs=ended.copy(),
                         final_info={"mask": trunc.copy(), "_mask": ended.copy()}, _final_info=ended.copy())
        if done.any():  # reset the worlds that ended, only those
            self._key, fresh, fresh_obs = self._fns.reset(self._key, self.params, self.num_worlds)
            self.state = self._fns.splice_state(done, fresh, self.state)
            slots = np.repeat(done, self.agents_per_world)
            obs = jax.tree.map(np.array, obs)  # writable copies (arrays from the device are read-only)
            _assign(obs, jax.device_get(fresh_obs), slots)
            infos["mask"] = mask = mask | slots
            self.ticks = np.where(done, 0, self.ticks).astype(self.ticks.dtype)
        return obs, out["reward"], term, trunc, infos

    def render(self):
        if self.render_mode is None:
            _gym.logger.warn("render() without render_mode='rgb_array' returns None")
            return None
        if self.state is None:
            raise RuntimeError("call reset() before render()")
        from nmmo_jax.render.frames import render_frame
        first = jax.tree.map(lambda x: x[0], self.state)
        return render_frame(first, max_health=int(np.asarray(self.params.max_health)))

    def close_extras(self, **kwargs):
        self.state = None


def _slot(obs, j):
    """A copy of one sub-environment's observation out of the batched one."""
    return {k: ({h: m[j].copy() for h, m in v.items()} if isinstance(v, dict) else v[j].copy())
            for k, v in obs.items()}


def _assign(obs, new, where):
    """obs[k][where] = new[k][where] for every leaf (in place)."""
    for k, v in obs.items():
        if isinstance(v, dict):
            _assign(v, new[k], where)
        else:
            v[where] = new[k][where]
