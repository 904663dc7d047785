"""A random-agent rollout: the quickest way to see the world run.

    python -m nmmo_jax.demo [--config=small] [--ticks=N] [--seed=S] [--every=K] [--key=value ...]

Agents take uniformly random legal actions (moves and attacks). The whole
rollout is one jitted ``lax.scan`` (no host round-trip per tick); the per-tick
population, deaths, kills by players (of players and NPCs), live NPCs and the
running mean lifetime of agents that ended are printed afterwards.
"""
import sys
import time

import jax
import jax.numpy as jnp

import nmmo_jax
from nmmo_jax.config import ConfigError, parse_cli_overrides


def rollout(env, params, key, ticks: int):
    """(alive, deaths, ended, ended_lifetime_sum, kills, npcs_alive) per tick, each i32[ticks]."""
    k_reset, k_run = jax.random.split(key)
    obs, state = env.reset(k_reset, params)

    def tick(carry, key):
        obs, state = carry
        k_act, k_step = jax.random.split(key)
        obs, state, reward, term, trunc, info = env.step(k_step, state, env.sample_actions(k_act, obs), params)
        return (obs, state), (info["alive"], info["deaths"], info["ended"], info["ended_lifetime_sum"],
                              info["kills"], info["npcs_alive"])

    _, out = jax.lax.scan(tick, (obs, state), jax.random.split(k_run, ticks))
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags, overrides = parse_cli_overrides(argv, known_flags=("config", "ticks", "seed", "every"))
        cfg = nmmo_jax.load_config(flags.get("config", "small"), overrides)
        ticks = int(flags.get("ticks", cfg.env.horizon))
        seed = int(flags.get("seed", 0))
        every = int(flags.get("every", 1))
        if ticks < 1 or every < 1:
            raise ConfigError("--ticks and --every must be positive integers")
    except (ConfigError, ValueError) as err:
        sys.exit(f"nmmo_jax.demo: {err}")
    env = nmmo_jax.Env(cfg)
    print(f"config={cfg.source} agents={cfg.env.num_agents} map={cfg.env.map_size} ticks={ticks} "
          f"(random legal actions; backend {jax.default_backend()})")
    run = jax.jit(rollout, static_argnums=(0, 3))
    t0 = time.perf_counter()
    alive, deaths, ended, lifetime_sum, kills, npcs = jax.device_get(
        run(env, env.default_params, jax.random.key(seed), ticks))
    elapsed = time.perf_counter() - t0
    print(f"{'tick':>6} {'alive':>6} {'deaths':>7} {'kills':>6} {'npcs':>5} {'mean_lifetime':>14}")
    total_ended = total_life = 0
    for t in range(ticks):
        total_ended += int(ended[t])
        total_life += int(lifetime_sum[t])
        mean = total_life / total_ended if total_ended else float("nan")
        if (t + 1) % every == 0 or t == ticks - 1 or alive[t] == 0:
            print(f"{t + 1:>6} {int(alive[t]):>6} {int(deaths[t]):>7} {int(kills[t]):>6} {int(npcs[t]):>5} "
                  f"{mean:>14.1f}")
        if alive[t] == 0 and not cfg.env.persistent:
            print("everyone died: the episode is over")
            break
    print(f"mean_lifetime={mean:.1f} over {total_ended} agents, kills={int(kills[:t + 1].sum())} "
          f"({elapsed:.1f}s including compile)")


if __name__ == "__main__":
    main()
