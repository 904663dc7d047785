"""Adapter throughput: agent-steps/s through GymnasiumVectorEnv and PettingZooEnv, next to the world's own.

    python -m bench.adapters --config=small --envs=8 --steps=256 [--repeats=3] [--key=value ...]

All three run random legal actions drawn from the observation's action masks:

* ``world``: ``bench.throughput`` (a jitted scan of vmapped steps, actions sampled on device,
  nothing leaves the device), ``envs`` worlds; every slot counts.
* ``gymnasium``: ``GymnasiumVectorEnv`` with ``envs`` worlds, one ``step`` call per tick, actions
  drawn on the host with numpy from the int8 masks (the trainer's side of the loop); every slot
  counts (``envs x agents`` per call, dead slots included, as in ``world``), and auto-resets
  happen inside the timed loop. ``step_only`` excludes the host's action sampling.
* ``pettingzoo``: ``PettingZooEnv``, one world, a dict per live agent in and out; it counts the
  live agents stepped (dead agents leave the dicts) and resets when the episode ends (inside the
  timed loop); ``slot_steps_per_s`` counts every slot like the others.

The ratio to ``world`` is the cost of the host round trip: copying observations out
(``obs_bytes_per_agent``), actions in, and the Python around them. Compile time is excluded
(one untimed warm-up pass of each loop). The last lines are ``<name>_agent_steps_per_s=<number>``.
"""
from __future__ import annotations

import time

import numpy as np

import nmmo_jax
from bench import throughput


def legal(rng, action_mask):
    return {h: np.argmax(rng.random(m.shape) * m, axis=-1) for h, m in action_mask.items()}


def obs_bytes(obs) -> int:
    total = 0
    for v in obs.values():
        total += obs_bytes(v) if isinstance(v, dict) else np.asarray(v).nbytes
    return total


def bench_gymnasium(cfg, num_envs: int, steps: int, repeats: int):
    from nmmo_jax.wrappers import GymnasiumVectorEnv
    envs = GymnasiumVectorEnv(nmmo_jax.Env(cfg), num_envs=num_envs)
    rng = np.random.default_rng(0)
    best = best_step = float("inf")
    for r in range(repeats + 1):  # pass 0 compiles
        obs, _ = envs.reset(seed=r)
        in_step = 0.0
        t0 = time.perf_counter()
        for _ in range(steps):
            act = legal(rng, obs["action_mask"])
            t1 = time.perf_counter()
            obs, *_ = envs.step(act)
            in_step += time.perf_counter() - t1
        total = time.perf_counter() - t0
        if r:
            best, best_step = min(best, total), min(best_step, in_step)
    n = steps * envs.num_envs
    return dict(agent_steps_per_s=n / best, step_only=n / best_step, obs_bytes=obs_bytes(obs) // envs.num_envs)


def bench_pettingzoo(cfg, steps: int, repeats: int):
    from nmmo_jax.wrappers import PettingZooEnv
    env = PettingZooEnv(nmmo_jax.Env(cfg))
    rng = np.random.default_rng(0)
    best, live_steps, resets = float("inf"), 0, 0
    for r in range(repeats + 1):
        obs, _ = env.reset(seed=r)
        live, ends = 0, 0
        t0 = time.perf_counter()
        for _ in range(steps):
            if not env.agents:
                obs, _ = env.reset()
                ends += 1
            live += len(env.agents)
            obs, *_ = env.step({a: legal(rng, obs[a]["action_mask"]) for a in env.agents})
        total = time.perf_counter() - t0
        if r and total < best:
            best, live_steps, resets = total, live, ends
    one = next(iter(obs.values())) if obs else env.observation_space(env.possible_agents[0]).sample()
    return dict(agent_steps_per_s=live_steps / best, slot_steps_per_s=steps * cfg.env.num_agents / best,
                resets=resets, obs_bytes=obs_bytes(one))


def main(argv=None):
    cfg, num_envs, steps, repeats = throughput.parse_args(argv, "bench.adapters", default_config="small",
                                                           default_envs=8)
    e = cfg.env
    print(f"config={cfg.source} agents={e.num_agents} npc_slots={e.num_npcs} map={e.map_size} K={e.entity_rows} "
          f"horizon={e.horizon} envs={num_envs} steps={steps}")
    world = throughput.run(cfg, num_envs, steps, repeats)
    gym = bench_gymnasium(cfg, num_envs, steps, repeats)
    pz = bench_pettingzoo(cfg, steps, repeats)
    w = world["agent_steps_per_s"]
    print(f"obs_bytes_per_agent: world={world['obs_bytes']} gymnasium={gym['obs_bytes']} "
          f"pettingzoo={pz['obs_bytes']} (action masks int8 at the edge: same bytes as bool)")
    print(f"world       {w:>12,.0f} agent-steps/s  ({num_envs} worlds, scan on device)")
    print(f"gymnasium   {gym['agent_steps_per_s']:>12,.0f} agent-steps/s  ({num_envs} worlds; "
          f"{gym['step_only']:,.0f} in step() alone)  ratio {gym['agent_steps_per_s'] / w:.3f}")
    print(f"pettingzoo  {pz['agent_steps_per_s']:>12,.0f} live agent-steps/s  (1 world; "
          f"{pz['slot_steps_per_s']:,.0f} slot-steps/s, {pz['resets']} resets)  "
          f"ratio {pz['slot_steps_per_s'] / w:.3f}")
    print(f"world_agent_steps_per_s={w:.0f}")
    print(f"gymnasium_agent_steps_per_s={gym['agent_steps_per_s']:.0f}")
    print(f"pettingzoo_agent_steps_per_s={pz['agent_steps_per_s']:.0f}")


if __name__ == "__main__":
    main()
