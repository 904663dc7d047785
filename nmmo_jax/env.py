"""The public API: ``Env(cfg)`` with pure ``reset`` and ``step`` (SPEC section 4 tick order).

``step`` reads top to bottom like the rules: vitals, harvest, actions (move),
deaths and the tick counter, tile regrowth, respawns, then observations and
rewards. Both functions are pure, so they work under ``jax.jit`` and
``jax.vmap`` over a batch of environments; the ``Env`` object only holds the
static config and small constant tables.

Episodes (non-persistent): an agent is ``terminated`` on the tick it dies and
every live agent is ``truncated`` on the tick the counter reaches the horizon;
``info["done"]`` says the whole world is over (horizon reached or everyone
dead) and the caller resets it. Stepping a finished world is harmless: dead
agents stay dead and nothing more is rewarded. Persistent mode never ends:
dead slots respawn after ``respawn_delay`` and every ``horizon`` ticks the
live agents are truncated (an episode boundary for a learner) and play on.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from nmmo_jax import observe as O
from nmmo_jax import terrain
from nmmo_jax import tiles as T
from nmmo_jax.config import Config, EnvParams, StaticConfig
from nmmo_jax.state import KIND_PLAYER, NEVER, NUM_SKILLS, Entities, WorldState
from nmmo_jax.systems import harvest, lifecycle, movement, vitals

ACTION_HEADS = {"move": T.NUM_MOVES}


class Env:
    """A Neural MMO world for one static config; ``reset``/``step`` are pure functions of their inputs."""

    def __init__(self, cfg: Config | StaticConfig, params: EnvParams | None = None):
        if isinstance(cfg, Config):
            self.config = cfg
            self.cfg = cfg.env
            self._default_params = cfg.params.to_params()
        else:
            from nmmo_jax.config import ParamsConfig
            self.config = None
            self.cfg = cfg
            self._default_params = ParamsConfig().to_params()
        if params is not None:
            self._default_params = params
        self.spawn_ring = terrain.spawn_ring(self.cfg)
        self.num_agents = self.cfg.num_agents
        self.action_heads = dict(ACTION_HEADS)

    @property
    def default_params(self) -> EnvParams:
        return self._default_params

    # ------------------------------------------------------------------ reset
    def reset(self, key, params: EnvParams):
        cfg = self.cfg
        k_map, k_spawn = jax.random.split(key)
        tiles = terrain.generate_map(k_map, cfg)
        n, a = cfg.num_entities, cfg.num_agents
        ring = jnp.asarray(self.spawn_ring)
        spots = ring[jax.random.permutation(k_spawn, ring.shape[0])[:a]]
        pos = jnp.zeros((n, 2), jnp.int32).at[:a].set(spots)
        is_player = jnp.arange(n) < a
        full = lambda v: jnp.where(is_player, v, 0).astype(jnp.int32)
        entities = Entities(
            pos=pos,
            alive=is_player,
            kind=jnp.where(is_player, KIND_PLAYER, 1).astype(jnp.int32),
            team=jnp.zeros(n, jnp.int32),
            health=full(params.max_health),
            food=full(params.max_food),
            water=full(params.max_water),
            time_alive=jnp.zeros(n, jnp.int32),
            respawn_tick=jnp.full(n, NEVER, jnp.int32),
            freeze=jnp.zeros(n, jnp.int32),
            combat_timer=jnp.zeros(n, jnp.int32),
            gold=full(1),
            levels=jnp.ones((n, NUM_SKILLS), jnp.int32),
            xp=jnp.zeros((n, NUM_SKILLS), jnp.int32),
            equipment_level=jnp.zeros(n, jnp.int32),
        )
        state = WorldState(
            tiles=tiles,
            regrow_tick=jnp.full(tiles.shape, NEVER, jnp.int32),
            entities=entities,
            tick=jnp.zeros((), jnp.int32),
            total_deaths=jnp.zeros((), jnp.int32),
        )
        return O.observe(state, cfg), state

    # ------------------------------------------------------------------- step
    def step(self, key, state: WorldState, actions: dict, params: EnvParams):
        cfg = self.cfg
        a = cfg.num_agents
        k_harvest, k_move, k_spawn = jax.random.split(key, 3)
        move_action = self._entity_actions(actions, "move")
        was_alive = state.entities.alive[:a]
        # A finished (non-persistent) world can still be stepped, but pays and ends nothing more.
        in_play = True if cfg.persistent else state.tick < cfg.horizon

        state = vitals.update_vitals(state, params)
        state = harvest.harvest(k_harvest, state, params, a)
        state = movement.move(k_move, state, move_action, cfg.one_per_tile)
        state, died = lifecycle.process_deaths(state, params, cfg.persistent)
        state = harvest.regrow_tiles(state)
        lifetimes = state.entities.time_alive[:a]  # read before a respawn resets them
        if cfg.persistent:
            state = lifecycle.respawn_players(k_spawn, state, params, self.spawn_ring, a, cfg.one_per_tile)

        obs = O.observe(state, cfg)
        died = died[:a] & in_play
        alive_now = state.entities.alive[:a]
        if cfg.persistent:
            at_horizon = (state.tick % cfg.horizon) == 0
        else:
            at_horizon = state.tick == cfg.horizon
        survived = was_alive & ~died & in_play
        truncated = survived & at_horizon
        terminated = died
        reward = (jnp.where(survived, params.alive_reward / cfg.horizon, 0.0)
                  + jnp.where(died, params.death_penalty, 0.0)).astype(jnp.float32)

        ended = died | truncated
        lifetime_sum = jnp.sum(jnp.where(ended, lifetimes, 0))
        ended_count = jnp.sum(ended)
        num_alive = jnp.sum(alive_now)
        info = {
            "alive": num_alive,
            "deaths": jnp.sum(died),
            "ended": ended_count,
            "ended_lifetime_sum": lifetime_sum,
            "mean_lifetime": jnp.where(ended_count > 0, lifetime_sum / jnp.maximum(ended_count, 1), 0.0),
            "tick": state.tick,
            "done": jnp.logical_and(not cfg.persistent, (state.tick >= cfg.horizon) | (num_alive == 0)),
        }
        return obs, state, reward, terminated, truncated, info

    def _entity_actions(self, actions: dict, head: str):
        """Players' actions for one head, padded with 'do nothing' for the NPC slots."""
        n = self.cfg.num_entities
        act = jnp.asarray(actions.get(head, jnp.zeros(self.cfg.num_agents, jnp.int32))).astype(jnp.int32)
        return jnp.zeros(n, jnp.int32).at[: self.cfg.num_agents].set(act)

    # ---------------------------------------------------------------- actions
    def sample_actions(self, key, obs):
        """Uniformly random among legal actions, per head (from ``obs['action_mask']``)."""
        masks = obs["action_mask"]
        keys = jax.random.split(key, len(masks))
        out = {}
        for k, (head, mask) in zip(keys, sorted(masks.items())):
            logits = jnp.where(mask, 0.0, -jnp.inf)
            out[head] = jax.random.categorical(k, logits, axis=-1).astype(jnp.int32)
        return out

    def noop_actions(self):
        return {head: jnp.zeros(self.cfg.num_agents, jnp.int32) for head in self.action_heads}
