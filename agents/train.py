"""Train agents with PPO: ``python train.py`` or ``nmmo-train`` ``[--config=configs/small.yaml] [--run_dir=DIR] [--resume] [--key=value ...]``.

A Python loop drives compiled chunks of ``train.updates_per_chunk`` updates
(agents/ppo.py); between chunks it updates the progress bar, appends to
``metrics.csv`` and TensorBoard event files, and every
``train.checkpoint_every`` updates saves an orbax checkpoint of the whole run
(parameters, optimiser, RNG, worlds, config), keeping the last
``train.keep_checkpoints``. ``--resume`` continues a run from its last
checkpoint, with the config saved in its run directory; a killed run loses at
most one checkpoint interval.

The run directory (default ``runs/<config>-<time>``) holds ``config.yaml``,
``metrics.csv``, ``events.*`` (TensorBoard) and ``checkpoints/``.

Several processes (hosts, or processes on one machine): start the same command
in each with ``--coordinator=HOST:PORT --num_processes=N --process_id=I``
(process 0 listens on PORT of HOST), or ``--distributed`` alone where
``jax.distributed.initialize()`` finds them itself (SLURM, Open MPI,
Kubernetes, Cloud TPU). The world batch is split over every device of every
process (CPU processes exchange gradients with gloo); process 0 writes
``config.yaml``, the metrics and the progress bar, and every process writes its
part of each checkpoint, so the run directory must be one directory that all
of them see (a shared filesystem across hosts). Every process needs the same
config, overrides and ``--run_dir``; they check this before training.
"""
from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

import jax
import yaml

import nmmo_jax
from nmmo_jax.config import ConfigError, parse_cli_overrides

FLAGS = ("config", "run_dir", "resume", "devices", "distributed", "coordinator", "num_processes", "process_id",
         "quiet")
DISTRIBUTED_FLAGS = ("coordinator", "num_processes", "process_id")
LOG_KEYS = ("update", "agent_steps", "agent_steps_per_s", "mean_lifetime", "episodes", "reward",
            "loss", "pg_loss", "v_loss", "entropy", "approx_kl", "clip_frac", "npc_kills", "player_kills",
            "killed_by_npcs", "elapsed_s")


def switch(flags: dict, name: str) -> bool:
    """A true/false flag (a bare ``--name`` is true)."""
    value = str(flags.get(name, "false")).lower()
    if value not in ("1", "true", "yes", "0", "false", "no"):
        raise ConfigError(f"--{name}={flags[name]}: allowed: true or false")
    return value in ("1", "true", "yes")


def parse(argv):
    """(config, run directory or None for the default name, resume, flags); the flags' values are checked."""
    flags, overrides = parse_cli_overrides(argv, known_flags=FLAGS)
    resume = switch(flags, "resume")
    switch(flags, "quiet")
    distributed_settings(flags)
    devices = flags.get("devices", "0")
    if not str(devices).isdigit():
        raise ConfigError(f"--devices={devices}: allowed: a whole number >= 1 (or 0: all visible devices)")
    run_dir = flags.get("run_dir")
    if resume:
        if run_dir is None:
            raise ConfigError("--resume needs --run_dir=DIR (the run to continue)")
        saved = Path(run_dir) / "config.yaml"
        if not saved.exists():
            raise ConfigError(f"--resume: {saved} not found; is {run_dir} a run directory?")
        if "config" in flags:
            raise ConfigError("--resume uses the config saved in the run directory; drop --config")
        cfg = nmmo_jax.load_config(saved, overrides)
    else:
        cfg = nmmo_jax.load_config(flags.get("config", "small"), overrides)
        if run_dir is not None and (Path(run_dir) / "checkpoints").exists() and \
                any((Path(run_dir) / "checkpoints").iterdir()):
            raise ConfigError(f"--run_dir={run_dir} already holds checkpoints; add --resume to continue it "
                              f"or choose another directory")
    return cfg, None if run_dir is None else Path(run_dir), resume, flags


def default_run_dir(flags: dict, when: float) -> Path:
    name = Path(str(flags.get("config", "small"))).stem
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(when))}"


def distributed_settings(flags: dict) -> dict | None:
    """The keyword arguments of ``jax.distributed.initialize`` the flags ask for, or None for one process.

    ``--coordinator``, ``--num_processes`` and ``--process_id`` come together (the coordinator may
    instead be in JAX_COORDINATOR_ADDRESS); ``--distributed`` alone lets jax detect a cluster.
    """
    given = [k for k in DISTRIBUTED_FLAGS if k in flags]
    if "distributed" in flags and not switch(flags, "distributed"):
        if given:
            raise ConfigError(f"--distributed={flags['distributed']} contradicts --{given[0]}={flags[given[0]]}; "
                              f"drop one of them")
        return None
    if not given:
        return {} if switch(flags, "distributed") else None
    coordinator = flags.get("coordinator") or os.environ.get("JAX_COORDINATOR_ADDRESS")
    missing = [f"--{k}" for k in DISTRIBUTED_FLAGS if k not in flags and not (k == "coordinator" and coordinator)]
    if missing:
        raise ConfigError(f"--{given[0]}={flags[given[0]]} needs {' and '.join(missing)} as well: "
                          f"--coordinator=HOST:PORT (process 0's host and a free port) --num_processes=N "
                          f"--process_id=I, or --distributed alone to let jax detect a cluster (SLURM, Open MPI, "
                          f"Kubernetes, Cloud TPU)")
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        name = "--coordinator" if "coordinator" in flags else "JAX_COORDINATOR_ADDRESS"
        raise ConfigError(f"{name}={coordinator}: allowed: HOST:PORT with a port from 1 to 65535, e.g. "
                          f"127.0.0.1:12355 (process 0 listens there)")
    n, i = str(flags["num_processes"]), str(flags["process_id"])
    if not n.isdigit() or int(n) < 1:
        raise ConfigError(f"--num_processes={n}: allowed: a whole number >= 1 (how many processes take part)")
    if not i.isdigit() or int(i) >= int(n):
        raise ConfigError(f"--process_id={i}: allowed: 0 to {int(n) - 1} (--num_processes={n}); each process "
                          f"its own, 0 on the coordinator's host")
    return dict(coordinator_address=coordinator, num_processes=int(n), process_id=int(i))


def start_distributed(settings: dict) -> None:
    """``jax.distributed.initialize`` with CPU collectives on (before jax creates its backends)."""
    if not os.environ.get("JAX_CPU_COLLECTIVES_IMPLEMENTATION"):  # the user's choice (gloo or mpi) stands
        try:
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        except AttributeError:  # an older jax: the switch had another name
            jax.config.update("jax_cpu_enable_gloo_collectives", True)
    try:
        jax.distributed.initialize(**settings)
    except (RuntimeError, ValueError) as err:
        if not settings:
            raise ConfigError(f"--distributed: jax found no cluster to join ({err}); --distributed alone works "
                              f"on SLURM, Open MPI, Kubernetes and Cloud TPU; elsewhere give every process "
                              f"--coordinator=HOST:PORT --num_processes=N --process_id=I") from None
        raise ConfigError(f"--coordinator={settings['coordinator_address']}: cannot join the other processes "
                          f"there ({err})") from None


def agree(run_dir: Path | None, cfg, resume: bool, flags: dict) -> Path:
    """With several processes: process 0's default run directory for all, and a check that every process
    runs the same config into the same directory (the checkpoints are written together)."""
    import hashlib
    import json

    import numpy as np
    from jax.experimental import multihost_utils
    if run_dir is None:
        when = multihost_utils.broadcast_one_to_all(np.asarray(int(time.time()), np.uint32))
        run_dir = default_run_dir(flags, float(when))
    if jax.process_count() > 1:
        digest = hashlib.sha256(json.dumps([str(run_dir), cfg.to_dict(), resume], sort_keys=True,
                                           default=str).encode()).digest()
        try:
            multihost_utils.assert_equal(np.frombuffer(digest, np.uint8))
        except AssertionError:
            raise ConfigError(f"process {jax.process_index()} of {jax.process_count()}: the processes differ in "
                              f"their config, overrides, --resume or --run_dir (here --run_dir={run_dir}); "
                              f"start every process with the same ones") from None
    return run_dir


class Logger:
    """CSV and TensorBoard side by side; one row per update."""

    def __init__(self, run_dir: Path, resume_from: int | None = None, keys: tuple = LOG_KEYS):
        from tensorboardX import SummaryWriter
        self.keys = keys
        self.path = run_dir / "metrics.csv"
        if resume_from is not None and self.path.exists():
            self._drop_rows_after(resume_from)
        new = not self.path.exists()
        self.file = open(self.path, "a", newline="")
        self.csv = csv.DictWriter(self.file, fieldnames=self.keys, extrasaction="ignore")
        if new:
            self.csv.writeheader()
        self.tb = SummaryWriter(str(run_dir))

    def _drop_rows_after(self, update: int):
        """A resumed run redoes the updates after its checkpoint; their old rows go, so none repeats."""
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.keys, extrasaction="ignore")
            w.writeheader()
            w.writerows(r for r in rows if int(float(r["update"])) <= update)

    def log(self, row: dict):
        self.csv.writerow(row)
        for key, value in row.items():
            if key != "update":
                self.tb.add_scalar(f"train/{key}", value, row["update"])

    def flush(self):
        self.file.flush()
        self.tb.flush()

    def close(self):
        self.file.close()
        self.tb.close()


def usage() -> str:
    """``--help``: this module's docstring, the flags and the config keys (with the small preset's values)."""
    cfg = nmmo_jax.load_config("small").to_dict()
    keys = [f"  --{section}.{k}={v}" for section, values in cfg.items() if isinstance(values, dict)
            for k, v in values.items()]
    return (__doc__ + "\nFlags: --config=PRESET_OR_YAML  --run_dir=DIR  --resume  --devices=N  --distributed=true  "
            "--coordinator=HOST:PORT  --num_processes=N  --process_id=I  --quiet=true\n\n"
            "Config keys (--key=value; env and params keys may omit their section), "
            "with the small preset's values:\n" + "\n".join(keys))


def fetch(tree):
    """Host copies of the leaves; an array spread over several processes is gathered first."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable and not x.is_fully_replicated:
            return multihost_utils.process_allgather(x, tiled=True)
        return jax.device_get(x)
    return jax.tree_util.tree_map(one, tree)


def main(argv=None):
    """The command line (``python train.py ARGS``, ``nmmo-train ARGS``)."""
    run(argv)


def run(argv=None):
    """Train as the command line ``argv`` says; return the final runner (None for ``--help``)."""
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(usage())
        return None
    try:
        cfg, run_dir, resume, flags = parse(argv)
        settings = distributed_settings(flags)
        if settings is not None:
            start_distributed(settings)
        from agents import checkpoint as ckpt
        from agents import ppo
        devices = jax.devices()  # with several processes: every process's devices
        n_dev = int(flags.get("devices", 0)) or len(devices)
        if n_dev > len(devices):
            raise ConfigError(f"--devices={n_dev}: only {len(devices)} devices are visible")
        if jax.process_count() > 1 and n_dev != len(devices):
            raise ConfigError(f"--devices={n_dev}: with {jax.process_count()} processes every device of every "
                              f"process takes part; allowed: {len(devices)} or 0 (all)")
        mesh = ppo.data_mesh(devices[:n_dev]) if n_dev > 1 else None
        trainer = ppo.make_train(cfg, mesh=mesh)
        run_dir = agree(run_dir, cfg, resume, flags) if settings is not None else \
            run_dir or default_run_dir(flags, time.time())
    except ConfigError as err:
        sys.exit(f"train.py: {err}")
    from tqdm import tqdm

    t = cfg.train
    processes, lead = jax.process_count(), jax.process_index() == 0  # process 0 logs; all save checkpoints
    run_dir.mkdir(parents=True, exist_ok=True)
    if lead:
        (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    mngr = ckpt.manager(run_dir / "checkpoints", keep=t.keep_checkpoints)
    runner = trainer.init(jax.random.PRNGKey(t.seed))  # the same seed in every process: the same runner
    start = 0
    if resume:
        try:
            runner, start = ckpt.restore(run_dir, runner, cfg)
        except ckpt.CheckpointError as err:
            sys.exit(f"train.py: {err}")
    done = int(runner.update)
    per_update = t.num_envs * cfg.env.num_agents * t.rollout_len
    print(f"run_dir={run_dir} config={cfg.source} devices={n_dev}"
          + (f" processes={processes} process_id={jax.process_index()}" if processes > 1 else "")
          + f" model={t.model} slots={t.num_envs}x{cfg.env.num_agents} agent-steps/update={per_update}"
          + (f" resumed at update {done}" if resume else ""), flush=True)
    economy = tuple(k for k in ppo.world_metrics(trainer.env.cfg) + ppo.diagnostic_keys(trainer.env.action_space())
                    if k not in LOG_KEYS)
    logger = Logger(run_dir, resume_from=done if resume else None, keys=LOG_KEYS[:-1] + economy + LOG_KEYS[-1:]) \
        if lead else None
    bar = tqdm(total=t.total_updates, initial=done, unit="upd", disable=switch(flags, "quiet") or not lead,
               dynamic_ncols=True, file=sys.stdout)
    t_start = time.perf_counter()
    steps_total = 0
    last_ckpt = done
    interrupted = False
    try:
        while done < t.total_updates:
            n = min(t.updates_per_chunk, t.total_updates - done)
            t0 = time.perf_counter()
            runner, metrics = trainer.update_chunk(runner, n)
            metrics = fetch(metrics)
            dt = time.perf_counter() - t0
            steps = int(metrics["agent_steps"].sum())
            steps_total += steps
            for i in range(n):
                row = {k: float(v[i]) for k, v in metrics.items()}
                row.update(update=done + i + 1, agent_steps=int(metrics["agent_steps"][i]),
                           agent_steps_per_s=n * per_update / dt, elapsed_s=time.perf_counter() - t_start)
                if logger is not None:
                    logger.log(row)
            if logger is not None:
                logger.flush()
            done += n
            ended = metrics["episodes"].sum()
            life = metrics["lifetime_sum"].sum() / max(ended, 1)
            bar.set_postfix(sps=f"{n * per_update / dt:,.0f}", life=f"{life:.1f}",
                            rew=f"{metrics['reward'].mean():.4f}", loss=f"{metrics['loss'].mean():.3f}",
                            ent=f"{metrics['entropy'].mean():.2f}",
                            **({"tasks": f"{metrics['tasks_completed'].sum() / max(metrics['tasks_ended'].sum(), 1):.2f}"}
                               if "tasks_completed" in metrics else {}))
            bar.update(n)
            if done - last_ckpt >= t.checkpoint_every or done >= t.total_updates:
                ckpt.save(mngr, done, runner, cfg)
                last_ckpt = done
    except KeyboardInterrupt:
        # Ctrl-C: keep what was trained. The runner knows how many updates it holds (a chunk
        # that was still running when the signal came is finished first, then saved). With several
        # processes a save needs all of them at the same update, which an interrupt does not promise:
        # the last regular checkpoint is kept instead.
        interrupted = True
        reached = int(runner.update)
        if reached > last_ckpt and processes == 1:
            ckpt.save(mngr, reached, runner, cfg)
        done = reached if processes == 1 else last_ckpt
    finally:
        mngr.wait_until_finished()
        bar.close()
        if logger is not None:
            logger.close()
    elapsed = time.perf_counter() - t_start
    if not lead:
        print(f"process {jax.process_index()}: trained {done} updates in {elapsed:.0f}s", flush=True)
        return runner
    if interrupted:
        print(f"interrupted at update {done}; continue with: python train.py --resume --run_dir={run_dir}")
    print(f"trained {done} updates in {elapsed:.0f}s; last checkpoint at update {mngr.latest_step()} in "
          f"{run_dir / 'checkpoints'}")
    print(f"evaluate: python -m agents.evaluate --checkpoint={run_dir}")
    return runner


if __name__ == "__main__":
    main()
