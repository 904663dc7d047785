"""Where a PPO update's time goes: the world, the policy's rollout forward passes, the epochs.

    python -m bench.learner_profile [--config=small] [--repeats=5] [--key=value ...]

Each part is compiled on its own (compile time excluded) and timed over
``--repeats`` calls, reporting the median in ms per update:

* ``world``: the rollout's ticks with random legal actions (no policy);
* ``rollout``: the rollout as training runs it (policy forward + sampling + world + GAE);
* ``learn``: the PPO epochs and minibatches (forward + backward + Adam) on one rollout's batch;
* ``update``: one whole update (rollout + learn), as ``train.py`` runs it.

So ``rollout - world`` is the policy's share of collecting data and ``learn``
the learner's; the last line gives live agent-steps per second of whole
updates (the progress bar's number, without logging).
"""
from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import nmmo_jax
from agents import ppo
from nmmo_jax.config import ConfigError, parse_cli_overrides


def timed(fn, *args, repeats: int):
    """(median seconds, all seconds) of ``fn(*args)`` after one warm-up call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), times


def profile(cfg, repeats: int = 5) -> dict:
    trainer = ppo.make_train(cfg)
    t = cfg.train
    env, params_env = trainer.env, trainer.env_params
    runner = trainer.init(jax.random.PRNGKey(0))
    v_sample = jax.vmap(env.sample_actions)

    @jax.jit
    def world(runner, key):
        def tick(c, key):
            state, obs = c
            k_a, k_s = jax.random.split(key)
            actions = v_sample(jax.random.split(k_a, trainer.num_envs), obs)
            obs, state, *_ = trainer._v_step(jax.random.split(k_s, trainer.num_envs), state, actions, params_env)
            return (state, obs), None
        (state, obs), _ = jax.lax.scan(tick, (runner.env_state, runner.obs), jax.random.split(key, t.rollout_len))
        return state

    rollout = jax.jit(lambda r, k: trainer._rollout(r, k))
    learn = jax.jit(lambda r, b, c, k: trainer._learn(r, b, c, k))
    update = jax.jit(lambda r: trainer._update(r))

    key = jax.random.PRNGKey(1)
    out = {}
    for name, fn, args in (("world", world, (runner, key)), ("rollout", rollout, (runner, key))):
        t0 = time.perf_counter()
        compiled = fn.lower(*args).compile()
        out[f"{name}_compile_s"] = time.perf_counter() - t0
        out[name], _ = timed(compiled, *args, repeats=repeats)
    _, batch, carry0, stats = rollout(runner, key)
    t0 = time.perf_counter()
    compiled = learn.lower(runner, batch, carry0, key).compile()
    out["learn_compile_s"] = time.perf_counter() - t0
    out["learn"], _ = timed(compiled, runner, batch, carry0, key, repeats=repeats)
    t0 = time.perf_counter()
    compiled = update.lower(runner).compile()
    out["update_compile_s"] = time.perf_counter() - t0
    out["update"], _ = timed(compiled, runner, repeats=repeats)
    _, metrics = compiled(runner)
    out["live_per_update"] = int(metrics["agent_steps"])
    out["slots_per_update"] = t.num_envs * cfg.env.num_agents * t.rollout_len
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags, overrides = parse_cli_overrides(argv, known_flags=("config", "repeats"))
        cfg = nmmo_jax.load_config(flags.get("config", "small"), overrides)
    except ConfigError as err:
        sys.exit(f"bench.learner_profile: {err}")
    out = profile(cfg, repeats=int(flags.get("repeats", 5)))
    u = out["update"]
    print(f"config={cfg.source} batch={cfg.train.num_envs}x{cfg.env.num_agents}x{cfg.train.rollout_len} "
          f"epochs={cfg.train.update_epochs} minibatches={cfg.train.num_minibatches} hidden={cfg.train.hidden}")
    for name in ("world", "rollout", "learn", "update"):
        print(f"{name:8s} {out[name] * 1e3:9.1f} ms  ({100 * out[name] / u:5.1f}% of an update)  "
              f"compile {out[name + '_compile_s']:.1f} s")
    print(f"policy share of the rollout: {(out['rollout'] - out['world']) * 1e3:.1f} ms")
    print(f"live_agent_steps_per_s={out['live_per_update'] / u:.0f} slot_agent_steps_per_s={out['slots_per_update'] / u:.0f}")


if __name__ == "__main__":
    main()
