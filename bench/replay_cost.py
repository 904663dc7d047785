"""What recording a replay costs: the same policy rollout with and without recording, and the file size.

    python -m bench.replay_cost [--config=medium] [--ticks=1000] [--chunk=64] [--hidden=64] [--checkpoint=DIR]

Both sides play one world for ``--ticks`` ticks with the same policy (an
untrained feed-forward model of width ``--hidden``, or a checkpoint's), driven
the same way: compiled chunks of ``--chunk`` ticks, the host waiting for each
chunk. The baseline's chunk returns nothing per tick; the recorder's returns
every frame (state leaves, values, actions, attention, overlay maps), which
is copied to the host and diffed into the writer's encodings as it arrives.
Compile time is excluded (each side runs once before timing); globalValues
(once per world) and writing the file are timed on their own. The last line
is ``ratio=<recording / baseline> file_mb=<size>``.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
import time

import jax
import jax.numpy as jnp

import nmmo_jax
from agents import models as M
from agents.policy_fn import fresh_life, policy_function
from nmmo_jax.config import ConfigError, parse_cli_overrides
from nmmo_jax.render import Recorder
from nmmo_jax.render.record import tick_keys


def baseline_runner(env, model, chunk):
    """(start, chunk) of the same rollout as the recorder's, with no per-tick output."""
    a = env.num_agents
    params_env = env.default_params

    def start(key, params):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params_env)
        return obs, state, model.initial_carry(a), k_run, jnp.zeros((), jnp.int32)

    def tick(c, _, params):
        obs, state, carry, k_run, t = c
        k_act, k_step = tick_keys(k_run, t)
        logits, value, carry = model.apply(params, obs, carry, fresh_life(obs))   # as the recorder's policy
        actions = M.sample_actions(k_act, logits)
        obs, state, _, term, trunc, _ = env.step(k_step, state, actions, params_env)
        return (obs, state, carry, k_run, t + 1), None

    def run_chunk(c, params):
        c, _ = jax.lax.scan(lambda c, x: tick(c, x, params), c, None, length=chunk)
        return c

    return jax.jit(start), jax.jit(run_chunk)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags, overrides = parse_cli_overrides(argv, known_flags=("config", "ticks", "chunk", "hidden", "checkpoint",
                                                                  "seed"))
        ticks, chunk, hidden = (int(flags.get(k, d)) for k, d in (("ticks", 1000), ("chunk", 64), ("hidden", 64)))
        if min(ticks, chunk, hidden) < 1:
            raise ConfigError("--ticks, --chunk and --hidden must be positive integers")
        seed = int(flags.get("seed", 0))
        if "checkpoint" in flags:
            from agents.evaluate import load_policy
            model, params, saved, _ = load_policy(flags["checkpoint"])
            cfg = nmmo_jax.load_config(flags["config"], overrides) if "config" in flags else saved
        else:
            cfg = nmmo_jax.load_config(flags.get("config", "medium"), overrides)
            model = M.make_model("feedforward", env=nmmo_jax.Env(cfg), hidden=hidden)
            params = None
    except (ConfigError, ValueError) as err:
        sys.exit(f"bench.replay_cost: {err}")
    env = nmmo_jax.Env(cfg)
    a = env.num_agents
    if params is None:
        shapes = jax.eval_shape(env.reset, jax.random.PRNGKey(0), env.default_params)[0]
        obs = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        params = model.init(jax.random.PRNGKey(1), obs, model.initial_carry(a), jnp.ones(a, bool))
    n_chunks = math.ceil((ticks + 1) / chunk)
    key = jax.random.PRNGKey(seed)
    print(f"world={cfg.source} agents={a} map={cfg.env.map_size} ticks={ticks} chunk={chunk} "
          f"policy={'checkpoint' if 'checkpoint' in flags else f'untrained feedforward hidden={hidden}'} "
          f"backend={jax.default_backend()}", flush=True)

    start, run_chunk = baseline_runner(env, model, chunk)
    c = start(key, params)
    jax.block_until_ready(run_chunk(c, params))          # compile
    t0 = time.perf_counter()
    c = start(key, params)
    for _ in range(n_chunks):
        c = run_chunk(c, params)
        jax.block_until_ready(c)
    base = time.perf_counter() - t0

    rec = Recorder(env, policy_function(model, params), initial_carry=model.initial_carry(a), chunk=chunk)
    carry, static = rec.start(key)
    jax.block_until_ready(static)
    jax.block_until_ready(rec.chunk(carry))               # compile
    t0 = time.perf_counter()
    carry, static = rec.start(key)
    jax.block_until_ready(static)
    gv = time.perf_counter() - t0
    t0 = time.perf_counter()
    writer, _ = rec.record(key, ticks)
    recording = time.perf_counter() - t0 - gv             # record() includes one start: globalValues apart
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bench.replay")
        t0 = time.perf_counter()
        size = writer.write(path, rec.header(ticks=ticks, seed=seed))
        write = time.perf_counter() - t0
    agent_steps = a * n_chunks * chunk
    print(f"{'':<32}{'seconds':>9}{'agent-steps/s':>15}")
    print(f"{'rollout, no recording':<32}{base:>9.2f}{agent_steps / base:>15,.0f}")
    print(f"{'rollout, recording every tick':<32}{recording:>9.2f}{agent_steps / recording:>15,.0f}")
    print(f"{'globalValues (once per world)':<32}{gv:>9.2f}")
    print(f"{'write file':<32}{write:>9.2f}")
    print(f"frames={writer.frames} file={size / 1e6:.2f} MB  recording/baseline={recording / base:.2f}x  "
          f"(with globalValues and the write: {(recording + gv + write) / base:.2f}x)")
    print(f"ratio={recording / base:.2f} file_mb={size / 1e6:.2f}")


if __name__ == "__main__":
    main()
