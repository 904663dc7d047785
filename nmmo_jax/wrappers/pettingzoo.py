"""``PettingZooEnv``: one world as a ``pettingzoo.ParallelEnv`` (Neural MMO 2's interface).

    env = PettingZooEnv("small", num_agents=16)        # preset name or YAML path, plus overrides
    obs, infos = env.reset(seed=0)
    while env.agents:
        actions = {a: env.action_space(a).sample(mask=obs[a]["action_mask"]) for a in env.agents}
        obs, rewards, terminations, truncations, infos = env.step(actions)

* Agents are ``player_0 .. player_{A-1}`` (``possible_agents``, world slots in order).
* An observation is a dict of numpy arrays per agent, in ``observation_space(agent)``:
  ``tiles``, ``entities``, ``entity_mask`` (and with the economy ``inventory``,
  ``inventory_mask``, ``market``; with a curriculum ``task``) as the world gives them and ``action_mask``, a dict
  of int8 0/1 arrays per head (gymnasium's ``sample(mask=...)`` convention; the world's masks
  are bool). An action is a dict per head, e.g. ``{"move": 3, "attack_style": 0,
  "attack_target": 0}``; a missing head, a missing agent, ``None`` or a value out of a head's
  range is that head's no-op. An unknown head raises ``KeyError``.
* An agent that dies gets its last observation, reward and ``terminations[agent] = True`` on
  that tick and then leaves ``env.agents`` for good (PettingZoo does not revive agents: in a
  persistent world its slot may respawn, but it is no longer played). When the world is done
  (``info["done"]``: horizon reached or everyone dead; a persistent world: its first horizon)
  every remaining agent is truncated and ``env.agents`` becomes empty.
* ``infos[agent]`` is ``{}``; the world's own per-tick info (``alive``, ``deaths``, ``tick``,
  ``done``, the combat counters, ...) is ``env.world_info`` (numpy scalars) after each step.
* Seeding: ``reset(seed=s)`` starts from ``jax.random.PRNGKey(s)`` (its low 32 bits) and splits
  the key once per step, so the trajectory is a function of ``s`` and the actions;
  ``seed=None`` draws a seed from a numpy generator.
* One jitted reset and one jitted step, shared by every adapter of the same static config.
* ``render()`` is the RGB uint8 frame of the whole map (``nmmo_jax.render.frames.render_frame``).
  ``env.state`` is the world's ``WorldState`` (JAX arrays) and ``env.world`` the ``nmmo_jax.Env``.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping

import jax
import numpy as np

from nmmo_jax.wrappers import _common

_pettingzoo = _common.require("pettingzoo")
_common.require("gymnasium")


class PettingZooEnv(_pettingzoo.ParallelEnv):
    """A Neural MMO world as a PettingZoo parallel environment (see the module doc)."""

    metadata = {"name": "nmmo_jax_v0", "render_modes": ["rgb_array"], "render_fps": 10,
                "is_parallelizable": True}

    def __init__(self, config="small", render_mode: str | None = "rgb_array", params=None, **overrides):
        """``config``: a preset name, YAML path, ``nmmo_jax.Config`` or ``nmmo_jax.Env``; ``overrides``:
        config keys (``num_agents=16``, ``**{"env.fog": True}``); ``params``: ``EnvParams`` to use
        instead of the config's."""
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r}: supported: {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.world, self.params = _common.load(config, params, overrides)
        self.cfg = self.world.cfg
        self._fns = _common.world_fns(self.cfg)
        n = self.cfg.num_agents
        self.possible_agents = [f"player_{i}" for i in range(n)]
        self._index = {name: i for i, name in enumerate(self.possible_agents)}
        self.agents = []
        self._heads = dict(self.world.action_heads)
        obs_space, act_space = _common.observation_space(self.world), _common.action_space(self.world)
        # One object per agent (so each agent's space can be seeded on its own), the same one every call.
        self.observation_spaces = {a: copy.deepcopy(obs_space) for a in self.possible_agents}
        self.action_spaces = {a: copy.deepcopy(act_space) for a in self.possible_agents}
        self._rng = np.random.default_rng()
        self._key = None
        self.state = None
        self.world_info = {}

    def observation_space(self, agent):
        return self.observation_spaces[agent]

    def action_space(self, agent):
        return self.action_spaces[agent]

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    @property
    def max_num_agents(self) -> int:
        return len(self.possible_agents)

    def reset(self, seed=None, options=None):
        self._key, self.state, obs = self._fns.reset(_common.seed_key(seed, self._rng), self.params)
        self.agents = list(self.possible_agents)
        self.world_info = {}
        obs = jax.device_get(obs)
        return self._split(obs, range(len(self.agents))), {a: {} for a in self.agents}

    def step(self, actions):
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        live = list(self.agents)
        if not live:
            return {}, {}, {}, {}, {}
        self._key, self.state, out = self._fns.step(self._key, self.state, self._encode(actions, live), self.params)
        obs, reward, term, trunc, info = jax.device_get(out)
        self.world_info = info = self._fns.unpack_info(info)
        over = bool(info["done"]) or (self.cfg.persistent and int(info["tick"]) >= self.cfg.horizon)
        idx = [self._index[a] for a in live]
        terminations = {a: bool(term[i]) for a, i in zip(live, idx)}
        truncations = {a: bool(trunc[i]) or (over and not terminations[a]) for a, i in zip(live, idx)}
        rewards = {a: float(reward[i]) for a, i in zip(live, idx)}
        self.agents = [a for a in live if not (terminations[a] or truncations[a])]
        return self._split(obs, idx, live), rewards, terminations, truncations, {a: {} for a in live}

    def render(self):
        if self.render_mode is None:
            _common.require("gymnasium").logger.warn("render() without render_mode='rgb_array' returns None")
            return None
        if self.state is None:
            raise RuntimeError("call reset() before render()")
        from nmmo_jax.render.frames import render_frame
        return render_frame(self.state, max_health=int(np.asarray(self.params.max_health)))

    def close(self):
        self.state = None
        self.agents = []

    # ---------------------------------------------------------------- helpers
    def _split(self, obs, idx, names=None):
        names = self.possible_agents if names is None else names
        masks = obs["action_mask"]
        leaves = [k for k in obs if k != "action_mask"]  # every array the world observes (inventory, market, ...)
        return {a: {**{k: obs[k][i] for k in leaves}, "action_mask": {h: m[i] for h, m in masks.items()}}
                for a, i in zip(names, idx)}

    def _encode(self, actions, live):
        """Per-agent dicts of heads -> the world's int32 [num_agents] per head (no-op 0 by default)."""
        out = {h: np.zeros(self.cfg.num_agents, np.int32) for h in self._heads}
        live = set(live)
        for agent, act in (actions or {}).items():
            if agent not in self._index:
                raise KeyError(f"unknown agent {agent!r}; agents are player_0..player_{len(self._index) - 1}")
            if act is None or agent not in live:
                continue
            if not isinstance(act, Mapping):
                raise TypeError(f"the action of {agent} must be a dict per head {list(self._heads)}, "
                                f"got {type(act).__name__}")
            i = self._index[agent]
            for head, value in act.items():
                if head not in out:
                    raise KeyError(f"unknown action head {head!r}; heads: {list(self._heads)}")
                if value is None:
                    continue
                v = int(value)
                out[head][i] = v if 0 <= v < self._heads[head] else 0
        return out
