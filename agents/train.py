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
"""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import jax
import yaml

import nmmo_jax
from nmmo_jax.config import ConfigError, parse_cli_overrides

FLAGS = ("config", "run_dir", "resume", "devices", "distributed", "quiet")
LOG_KEYS = ("update", "agent_steps", "agent_steps_per_s", "mean_lifetime", "episodes", "reward",
            "loss", "pg_loss", "v_loss", "entropy", "approx_kl", "clip_frac", "npc_kills", "player_kills",
            "killed_by_npcs", "elapsed_s")


def parse(argv):
    flags, overrides = parse_cli_overrides(argv, known_flags=FLAGS)
    resume = str(flags.get("resume", "false")).lower() in ("1", "true", "yes")
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
        if run_dir is None:
            name = Path(str(flags.get("config", "small"))).stem
            run_dir = Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        elif (Path(run_dir) / "checkpoints").exists() and any((Path(run_dir) / "checkpoints").iterdir()):
            raise ConfigError(f"--run_dir={run_dir} already holds checkpoints; add --resume to continue it "
                              f"or choose another directory")
    return cfg, Path(run_dir), resume, flags


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
            "--quiet=true\n\nConfig keys (--key=value; env and params keys may omit their section), "
            "with the small preset's values:\n" + "\n".join(keys))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(usage())
        return
    try:
        cfg, run_dir, resume, flags = parse(argv)
        if str(flags.get("distributed", "false")).lower() in ("1", "true", "yes"):
            jax.distributed.initialize()
        from agents import checkpoint as ckpt
        from agents import ppo
        mesh = None
        n_dev = int(flags.get("devices", 0)) or len(jax.devices())
        if n_dev > 1:
            if n_dev > len(jax.devices()):
                raise ConfigError(f"--devices={n_dev}: only {len(jax.devices())} devices are visible")
            mesh = ppo.data_mesh(jax.devices()[:n_dev])
        trainer = ppo.make_train(cfg, mesh=mesh)
    except ConfigError as err:
        sys.exit(f"train.py: {err}")
    from tqdm import tqdm

    t = cfg.train
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    mngr = ckpt.manager(run_dir / "checkpoints", keep=t.keep_checkpoints)
    runner = trainer.init(jax.random.PRNGKey(t.seed))
    start = 0
    if resume:
        try:
            runner, start = ckpt.restore(run_dir, runner, cfg)
        except ckpt.CheckpointError as err:
            sys.exit(f"train.py: {err}")
    done = int(runner.update)
    per_update = t.num_envs * cfg.env.num_agents * t.rollout_len
    print(f"run_dir={run_dir} config={cfg.source} devices={len(jax.devices()) if mesh is None else mesh.devices.size} "
          f"model={t.model} slots={t.num_envs}x{cfg.env.num_agents} agent-steps/update={per_update}"
          + (f" resumed at update {done}" if resume else ""), flush=True)
    economy = tuple(k for k in ppo.world_metrics(trainer.env.cfg) if k not in LOG_KEYS)
    logger = Logger(run_dir, resume_from=done if resume else None, keys=LOG_KEYS[:-1] + economy + LOG_KEYS[-1:])
    bar = tqdm(total=t.total_updates, initial=done, unit="upd", disable=bool(flags.get("quiet")),
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
            metrics = jax.device_get(metrics)
            dt = time.perf_counter() - t0
            steps = int(metrics["agent_steps"].sum())
            steps_total += steps
            for i in range(n):
                row = {k: float(v[i]) for k, v in metrics.items()}
                row.update(update=done + i + 1, agent_steps=int(metrics["agent_steps"][i]),
                           agent_steps_per_s=n * per_update / dt, elapsed_s=time.perf_counter() - t_start)
                logger.log(row)
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
        # that was still running when the signal came is finished first, then saved).
        interrupted = True
        reached = int(runner.update)
        if reached > last_ckpt:
            ckpt.save(mngr, reached, runner, cfg)
        done = reached
    finally:
        mngr.wait_until_finished()
        bar.close()
        logger.close()
    elapsed = time.perf_counter() - t_start
    if interrupted:
        print(f"interrupted at update {done}; continue with: python train.py --resume --run_dir={run_dir}")
    print(f"trained {done} updates in {elapsed:.0f}s; last checkpoint at update {mngr.latest_step()} in "
          f"{run_dir / 'checkpoints'}")
    print(f"evaluate: python -m agents.evaluate --checkpoint={run_dir}")


if __name__ == "__main__":
    main()
