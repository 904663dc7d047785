"""What ends lives on held-out worlds, and how long an all-seeing scripted forager lives.

    python -m bench.survival [--checkpoint=RUN|pretrained:small] [--episodes=16] [--seed=0]
                             [--config=configs/small.yaml] [key=value overrides]

Three players on the same held-out worlds (``agents.evaluate``'s keys):
random legal actions, the checkpoint's policy (sampled actions) when one is
given, and two scripts that read the whole world state. ``forager`` walks
the shortest path to the nearest foliage when its food is at or below 60 and
to the nearest water when its water is at or below 80 (the lower bar first),
and otherwise stays: keeping both bars above 50 keeps health regenerating.
``avoider`` is the forager that also keeps out of aggressive NPCs' reach (a
tile within reach + 1 of one costs 100 steps). Neither attacks. They see
more than a policy does (the whole map, not a 15x15 window), so their
lifetimes are a reference for what foraging and caution buy on a preset's map,
not a bound (they neither fish nor hunt nor trade). ``sighted`` is the forager
with a policy's eyes: it finds paths inside its own window only, remembers
nothing, and wanders at random while it sees nothing it needs.

For each player: mean lifetime (``agents.evaluate``'s measure), the share of
lives that reach the horizon, and the causes of death, taken from the bars at
the start of the tick of death: ``starved`` (food empty, water not),
``thirst`` (water empty, food not), ``both`` (both empty) or ``fed`` (neither);
and, apart, the shares killed by NPCs and by players (the world's own counts;
a starving agent finished by an NPC is in both).
"""
from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

import nmmo_jax
from agents import models as M
from agents.evaluate import held_out_keys, load_policy
from nmmo_jax import tiles as T
from nmmo_jax.state import KIND_AGGRESSIVE
from nmmo_jax.config import ConfigError, load_config, parse_cli_overrides

CAUSES = ("starved", "thirst", "both", "fed")
_BIG = 1 << 20


def distance_field(targets, passable, iters: int):
    """i32[H, W]: steps from each tile to the nearest target tile, walking on passable tiles."""
    dist = jnp.where(targets, 0, _BIG)

    def relax(d, _):
        pad = jnp.pad(d, 1, constant_values=_BIG)
        best = jnp.minimum(jnp.minimum(pad[:-2, 1:-1], pad[2:, 1:-1]), jnp.minimum(pad[1:-1, :-2], pad[1:-1, 2:]))
        return jnp.where(targets, 0, jnp.where(passable, jnp.minimum(d, best + 1), _BIG)), None

    return jax.lax.scan(relax, dist, None, length=iters)[0]


def npc_threat(state, num_agents: int, radius: int):
    """i32[H, W]: live aggressive NPCs within ``radius`` tiles (L-infinity) of each tile."""
    e = state.entities
    hostile = e.alive[num_agents:] & (e.kind[num_agents:] == KIND_AGGRESSIVE)
    pos = e.pos[num_agents:]
    grid = jnp.zeros(state.tiles.shape, jnp.int32).at[pos[:, 0], pos[:, 1]].add(hostile.astype(jnp.int32))
    width = 2 * radius + 1
    return jax.lax.reduce_window(grid, 0, jax.lax.add, (width, width), (1, 1), "SAME")


def forager_moves(state, num_agents: int, food_low: int = 60, water_low: int = 80, avoid: int = 0,
                  threat_cost: int = 100):
    """i32[A] move actions of the scripted forager (see the module docstring)."""
    tiles = state.tiles
    passable = jnp.asarray(T.PASSABLE)[tiles] & (tiles != T.LAVA)
    water = tiles == T.WATER
    near_water = passable & (jnp.pad(water, 1)[:-2, 1:-1] | jnp.pad(water, 1)[2:, 1:-1]
                             | jnp.pad(water, 1)[1:-1, :-2] | jnp.pad(water, 1)[1:-1, 2:])
    iters = tiles.shape[0]
    food_d = distance_field(tiles == T.FOLIAGE, passable, iters)
    water_d = distance_field(near_water, passable, iters)
    e = state.entities
    pos = e.pos[:num_agents]
    deltas = jnp.asarray(T.MOVE_DELTAS)
    nxt = jnp.clip(pos[:, None, :] + deltas[None], 0, tiles.shape[0] - 1)  # [A, 5, 2]
    food, water_bar = e.food[:num_agents], e.water[:num_agents]
    want_water = (water_bar <= water_low) & ((water_bar <= food) | (food > food_low))
    want_food = (food <= food_low) & ~want_water
    field = jnp.where(want_water[:, None, None], water_d[None], food_d[None])  # [A, H, W]
    d = jax.vmap(lambda f, n: f[n[:, 0], n[:, 1]])(field, nxt)                   # [A, 5]
    d = jnp.where((want_water | want_food)[:, None], jnp.minimum(d, _BIG), 0)
    if avoid:  # keep out of aggressive NPCs' reach: a threatened tile costs threat_cost steps per NPC
        threat = npc_threat(state, num_agents, avoid)
        d = d + threat_cost * threat[nxt[..., 0], nxt[..., 1]]
    blocked = ~passable[nxt[..., 0], nxt[..., 1]]
    d = jnp.where(blocked.at[:, 0].set(False), _BIG * 2, d)
    return jnp.argmin(d, axis=1).astype(jnp.int32)  # stay first on ties: never step off a target


def sighted_forager_moves(key, state, num_agents: int, radius: int, food_low: int = 60, water_low: int = 80):
    """i32[A] moves of the forager that sees only its own window and remembers nothing.

    The same bars and choice of step as ``forager_moves``, but paths are found inside the agent's
    (2r+1) x (2r+1) window only (the policy's view), and an agent that sees nothing it needs takes a
    random passable step: the reference for a memoryless policy with a policy's eyes.
    """
    tiles = state.tiles
    passable = jnp.asarray(T.PASSABLE)[tiles] & (tiles != T.LAVA)
    water = tiles == T.WATER
    near_water = passable & (jnp.pad(water, 1)[:-2, 1:-1] | jnp.pad(water, 1)[2:, 1:-1]
                             | jnp.pad(water, 1)[1:-1, :-2] | jnp.pad(water, 1)[1:-1, 2:])
    e = state.entities
    pos = e.pos[:num_agents]
    food, water_bar = e.food[:num_agents], e.water[:num_agents]
    want_water = (water_bar <= water_low) & ((water_bar <= food) | (food > food_low))
    want_food = (food <= food_low) & ~want_water
    side = 2 * radius + 1

    def window(grid, p):  # the agent's window, off-map tiles impassable and empty
        return jax.lax.dynamic_slice(jnp.pad(grid, radius), (p[0], p[1]), (side, side))

    targets = jnp.where(want_water[:, None, None], jax.vmap(window, (None, 0))(near_water, pos),
                        jax.vmap(window, (None, 0))(tiles == T.FOLIAGE, pos))
    seen_passable = jax.vmap(window, (None, 0))(passable, pos)
    field = jax.vmap(lambda t, q: distance_field(t, q, 2 * side))(targets, seen_passable)  # [A, side, side]
    steps = radius + jnp.asarray(T.MOVE_DELTAS)                                               # [5, 2]
    d = field[:, steps[:, 0], steps[:, 1]]                                                    # [A, 5]
    open_step = seen_passable[:, steps[:, 0], steps[:, 1]].at[:, 0].set(True)
    wander = jax.random.categorical(key, jnp.where(open_step.at[:, 0].set(False), 0.0, -jnp.inf), axis=-1)
    need = want_water | want_food
    seen = jnp.min(jnp.where(open_step, d, _BIG), axis=1) < _BIG
    step = jnp.argmin(jnp.where(open_step, d, _BIG * 2), axis=1)  # stay first on ties: never step off a target
    return jnp.where(need & seen, step, jnp.where(need, wander, 0)).astype(jnp.int32)


def run(env, params_env, keys, player, ticks: int, policy=None, **forager):
    """Per episode: lifetime sum, ended count, lives alive at the horizon, and deaths by cause."""
    a = env.num_agents
    noop = env.noop_actions()

    def episode(key):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params_env)
        carry = None if policy is None else policy[0].initial_carry(a)

        def tick(c, key):
            obs, state, carry, reset, acc = c
            k_act, k_step = jax.random.split(key)
            if player == "random":
                action = env.sample_actions(k_act, obs)
            elif player == "forager":
                action = dict(noop, move=forager_moves(state, a, **forager))
            elif player == "sighted":
                action = dict(noop, move=sighted_forager_moves(k_act, state, a, env.cfg.window_radius))
            else:
                model, params = policy
                logits, _, carry = model.apply(params, obs, carry, reset)
                action = M.sample_actions(k_act, logits)
            e = state.entities
            was_alive = e.alive[:a]
            obs, state, _, term, trunc, info = env.step(k_step, state, action, params_env)
            died = was_alive & ~state.entities.alive[:a]
            hungry, thirsty = e.food[:a] <= 0, e.water[:a] <= 0
            cause = jnp.select([hungry & ~thirsty, thirsty & ~hungry, hungry & thirsty], jnp.arange(3), 3)
            ended = term | trunc
            life = state.entities.time_alive[:a]
            acc = dict(life=acc["life"] + jnp.sum(jnp.where(ended, life, 0)),
                       ended=acc["ended"] + jnp.sum(ended),
                       full=acc["full"] + jnp.sum(trunc & ~died),
                       causes=acc["causes"] + jnp.sum(died[:, None] & (cause[:, None] == jnp.arange(4)), axis=0),
                       npc=acc["npc"] + info["killed_by_npcs"], player=acc["player"] + info["player_kills"])
            return (obs, state, carry, ended | ~obs["entity_mask"][:, 0], acc), None

        acc0 = dict(life=jnp.int32(0), ended=jnp.int32(0), full=jnp.int32(0), causes=jnp.zeros(4, jnp.int32),
                    npc=jnp.int32(0), player=jnp.int32(0))
        c0 = (obs, state, carry, jnp.ones(a, bool), acc0)
        return jax.lax.scan(tick, c0, jax.random.split(k_run, ticks))[0][-1]

    return jax.device_get(jax.jit(jax.vmap(episode))(keys))


def report(name, acc):
    life, ended = float(np.sum(acc["life"])), float(np.sum(acc["ended"]))
    causes = np.sum(acc["causes"], axis=0)
    deaths = max(int(causes.sum()), 1)
    parts = "  ".join(f"{c} {100 * n / deaths:.0f}%" for c, n in zip(CAUSES, causes))
    parts += f"  (by NPCs {100 * np.sum(acc['npc']) / deaths:.0f}%, by players {100 * np.sum(acc['player']) / deaths:.0f}%)"
    print(f"{name:<8} mean lifetime {life / max(ended, 1):6.1f}  reach horizon {100 * np.sum(acc['full']) / max(ended, 1):4.1f}%"
          f"  deaths/episode {causes.sum() / len(acc['life']):5.1f}  {parts}")
    return life / max(ended, 1)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags, overrides = parse_cli_overrides(argv, known_flags=("checkpoint", "episodes", "seed", "config"))
        episodes, seed = int(flags.get("episodes", 16)), int(flags.get("seed", 0))
        policy, cfg = None, None
        if "checkpoint" in flags:
            model, params, cfg, _ = load_policy(flags["checkpoint"])
            policy = (model, params)
        if "config" in flags or cfg is None:
            cfg = load_config(flags.get("config", "configs/small.yaml"), overrides)
        elif overrides:
            cfg = cfg.replace(**overrides)
    except (ConfigError, ValueError) as err:
        sys.exit(f"bench.survival: {err}")
    env = nmmo_jax.Env(cfg)
    params_env = env.default_params
    keys = held_out_keys(seed, episodes)
    ticks = cfg.env.horizon
    print(f"{episodes} held-out worlds, seed {seed}, {env.num_agents} agents, horizon {ticks}")
    base = report("random", run(env, params_env, keys, "random", ticks))
    if policy is not None:
        print(f"         ({report('policy', run(env, params_env, keys, 'policy', ticks, policy)) / base:.2f}x random)")
    print(f"         ({report('forager', run(env, params_env, keys, 'forager', ticks)) / base:.2f}x random)")
    print(f"         ({report('sighted', run(env, params_env, keys, 'sighted', ticks)) / base:.2f}x random)")
    reach = max(cfg.params.melee_reach, cfg.params.range_reach, cfg.params.mage_reach) + 1
    print(f"         ({report('avoider', run(env, params_env, keys, 'forager', ticks, avoid=reach)) / base:.2f}x "
          f"random)")


if __name__ == "__main__":
    main()
