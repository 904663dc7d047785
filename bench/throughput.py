"""Environment throughput: agent-steps per second of a jitted scan of vmapped steps.

    python -m bench.throughput --config=configs/medium.yaml --envs=32 --steps=256 [--key=value ...]

Random legal actions come from ``env.sample_actions`` on the full observation,
so the number includes building every observation. Compile time is measured
and reported separately, never counted. Worlds that end (horizon or everyone
dead) are not reset inside the timed scan: a finished world still costs a
full step, and its dead slots still count as agent-steps (the slots are
computed all the same); ``live_agent_steps_per_s`` reports the live ones.
The last line is ``agent_steps_per_s=<number>``.
"""
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import nmmo_jax
from nmmo_jax.config import ConfigError, parse_cli_overrides


def obs_bytes_per_agent(obs) -> int:
    leaves = jax.tree_util.tree_leaves(obs)
    return int(sum(x.size * x.dtype.itemsize for x in leaves) // obs["entity_mask"].shape[-2])


def make_rollout(env, params, num_envs: int, steps: int):
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    v_sample = jax.vmap(env.sample_actions)

    def tick(carry, _):
        key, obs, state = carry
        key, k_act, k_step = jax.random.split(key, 3)
        actions = v_sample(jax.random.split(k_act, num_envs), obs)
        obs, state, reward, term, trunc, info = v_step(jax.random.split(k_step, num_envs), state, actions, params)
        return (key, obs, state), jnp.sum(info["alive"])

    @jax.jit
    def reset(key):
        return v_reset(jax.random.split(key, num_envs), params)

    @jax.jit
    def rollout(key, obs, state):
        (key, obs, state), alive = jax.lax.scan(tick, (key, obs, state), None, length=steps)
        return obs, state, jnp.sum(alive)

    return reset, rollout


def run(cfg, num_envs: int, steps: int, repeats: int = 3):
    env = nmmo_jax.Env(cfg)
    params = env.default_params
    reset, rollout = make_rollout(env, params, num_envs, steps)
    key = jax.random.key(0)
    obs, state = jax.block_until_ready(reset(key))
    t0 = time.perf_counter()
    compiled = rollout.lower(key, obs, state).compile()
    compile_s = time.perf_counter() - t0
    best = float("inf")
    live = 0
    for r in range(repeats):
        obs_r, state_r = reset(jax.random.key(r))
        jax.block_until_ready(state_r)
        t0 = time.perf_counter()
        _, _, alive = jax.block_until_ready(compiled(jax.random.key(100 + r), obs_r, state_r))
        elapsed = time.perf_counter() - t0
        if elapsed < best:
            best, live = elapsed, int(alive)
    agent_steps = num_envs * steps * cfg.env.num_agents
    return dict(agent_steps_per_s=agent_steps / best, live_agent_steps_per_s=live / best,
                seconds=best, compile_s=compile_s, obs_bytes=obs_bytes_per_agent(obs) // num_envs)


def parse_args(argv, prog: str, default_config, default_envs: int):
    """(config, envs, steps, repeats) from ``--config --envs --steps --repeats --key=value``; exits on bad input."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags, overrides = parse_cli_overrides(argv, known_flags=("config", "envs", "steps", "repeats"))
        cfg = nmmo_jax.load_config(flags.get("config", default_config), overrides)
        num_envs, steps = int(flags.get("envs", default_envs)), int(flags.get("steps", 256))
        repeats = int(flags.get("repeats", 3))
        if num_envs < 1 or steps < 1 or repeats < 1:
            raise ConfigError("--envs, --steps and --repeats must be positive integers")
    except (ConfigError, ValueError) as err:
        sys.exit(f"{prog}: {err}")
    return cfg, num_envs, steps, repeats


def main(argv=None):
    cfg, num_envs, steps, repeats = parse_args(argv, "bench.throughput", default_config=None, default_envs=32)
    e = cfg.env
    print(f"config={cfg.source} agents={e.num_agents} npc_slots={e.num_npcs} map={e.map_size} "
          f"K={e.entity_rows} envs={num_envs} steps={steps} devices={jax.devices()}")
    res = run(cfg, num_envs, steps, repeats)
    print(f"compile_s={res['compile_s']:.1f} run_s={res['seconds']:.3f} obs_bytes_per_agent={res['obs_bytes']}")
    print(f"live_agent_steps_per_s={res['live_agent_steps_per_s']:.0f}")
    print(f"agent_steps_per_s={res['agent_steps_per_s']:.0f}")


if __name__ == "__main__":
    main()
