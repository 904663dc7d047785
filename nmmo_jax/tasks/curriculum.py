"""Curricula (SPEC section 13): a YAML list of tasks with sampling weights, read into small constant tables.

A curriculum file::

    tasks:
      - name: fish                 # letters, digits and _ (it names the task's metrics)
        weight: 2                  # sampling weight at spawn (default 1)
        reward: 1.0                # reward weight: completing pays this once in total (default 1)
        end_on_completion: false   # true: completing ends the agent's episode (it leaves the world)
        all:                       # every part (progress: the minimum); or ``any:`` (the maximum)
          - {predicate: count, counter: harvest_fish, n: 5}

Each part names a predicate of ``tasks.predicates.PREDICATES`` and its
arguments: its subject (``counter``, ``skill`` or ``item``, for predicates
that have one) and its target (``n``, ``level``, ``ticks``, ``gold``,
``distance``). ``time_alive``'s ``ticks`` may be ``horizon``. A task has 1 to
``MAX_PARTS`` parts. Shipped curricula live in ``configs/curricula`` and load by
name (``survival``, ``rich``). Every mistake raises ``ConfigError`` naming the
file, the task and the field, with what is allowed.

The tables are numpy arrays the compiled step closes over: a curriculum is
part of the static config (``env.curriculum``), so changing it compiles again,
while which agent holds which task is state.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from nmmo_jax.config import PRESET_DIR, ConfigError
from nmmo_jax.tasks import predicates as P

MAX_PARTS = 3
ALL, ANY = 0, 1
_TASK_KEYS = ("name", "weight", "reward", "end_on_completion", "all", "any")
CURRICULUM_DIR = PRESET_DIR / "curricula"


@dataclass(frozen=True, eq=False)
class Curriculum:
    """T tasks as arrays: parts [T, MAX_PARTS] (predicate id 0 = no part), per-task combine/ends/reward/weight."""
    names: tuple
    predicate: np.ndarray   # i32[T, P] 1-based predicate id, 0 empty
    subject: np.ndarray     # i32[T, P]
    target: np.ndarray      # i32[T, P]
    combine: np.ndarray     # i32[T] ALL or ANY
    ends: np.ndarray        # bool[T]
    reward: np.ndarray      # f32[T]
    weight: np.ndarray      # f32[T] sampling probabilities (sum 1)
    source: str

    @property
    def num_tasks(self) -> int:
        return len(self.names)

    @property
    def used_predicates(self) -> tuple:
        return tuple(sorted({int(p) for p in self.predicate.reshape(-1) if p > 0}))

    def part_predicates(self, part: int) -> tuple:
        """The predicate ids some task uses as its part ``part`` (only those are evaluated there)."""
        return tuple(sorted({int(p) for p in self.predicate[:, part] if p > 0}))

    def only(self, name: str) -> "Curriculum":
        """The same tasks, every agent drawing ``name`` (``env.task``); the rows stay, so ids do not move."""
        if name not in self.names:
            raise ConfigError(f"env.task={name!r} is not a task of {self.source}; allowed: {list(self.names)}")
        weight = (np.asarray(self.names) == name).astype(np.float32)
        return Curriculum(self.names, self.predicate, self.subject, self.target, self.combine, self.ends,
                          self.reward, weight, self.source)

    def describe(self) -> list[str]:
        """One line per task, for logs and ``--help``-like listings."""
        lines = []
        for t, name in enumerate(self.names):
            parts = []
            for p in range(MAX_PARTS):
                pid = int(self.predicate[t, p])
                if pid:
                    pred = P.PREDICATES[pid - 1]
                    subj = ""
                    if pred.subject:
                        subj = (P.I.NAMES[self.subject[t, p]] if pred.name == "equipped"
                                else pred.subjects[self.subject[t, p]]) + " "
                    parts.append(f"{pred.name} {subj}>= {int(self.target[t, p])}")
            joiner = " and " if self.combine[t] == ALL else " or "
            lines.append(f"{name}: {joiner.join(parts)} (p={self.weight[t]:.3f}, reward {self.reward[t]:g}"
                         f"{', ends' if self.ends[t] else ''})")
        return lines


def resolve_curriculum_path(name: str) -> Path:
    """A YAML path as given, or a shipped curriculum by name (``rich``) or as ``configs/curricula/<name>.yaml``."""
    p = Path(name)
    if p.is_file():
        return p
    shipped = sorted(q.stem for q in CURRICULUM_DIR.glob("*.yaml"))
    for candidate in (CURRICULUM_DIR / f"{name}.yaml", CURRICULUM_DIR / p.name):
        if candidate.is_file() and (p.stem in shipped) and (len(p.parts) == 1 or "curricula" in p.parts):
            return candidate
    raise ConfigError(f"env.curriculum={name!r}: file not found; give a YAML path or a shipped curriculum: "
                      f"{shipped}")


def load_curriculum(name: str, horizon: int) -> Curriculum:
    """Read and check a curriculum file; ``horizon`` resolves ``ticks: horizon``."""
    path = resolve_curriculum_path(name)
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"curriculum {where!r} is not valid YAML: {err}") from None
    if not isinstance(raw, dict) or set(raw) != {"tasks"}:
        raise ConfigError(f"curriculum {where!r} must be a mapping with one key, 'tasks': a list of tasks")
    tasks = raw["tasks"]
    if not isinstance(tasks, list) or not tasks:
        raise ConfigError(f"curriculum {where!r}: 'tasks' must be a non-empty list of tasks")
    return parse_tasks(tasks, horizon, where)


def parse_tasks(tasks: list, horizon: int, where: str = "curriculum") -> Curriculum:
    """Check and tabulate a list of task mappings (what a curriculum file's ``tasks:`` holds)."""
    if not isinstance(tasks, list) or not tasks:
        raise ConfigError(f"{where}: 'tasks' must be a non-empty list of tasks")
    t_count = len(tasks)
    pred = np.zeros((t_count, MAX_PARTS), np.int32)
    subj = np.zeros((t_count, MAX_PARTS), np.int32)
    targ = np.zeros((t_count, MAX_PARTS), np.int32)
    combine = np.zeros(t_count, np.int32)
    ends = np.zeros(t_count, bool)
    reward = np.zeros(t_count, np.float32)
    weight = np.zeros(t_count, np.float64)
    names = []
    for t, task in enumerate(tasks):
        label = f"{where}: task {t + 1}"
        if not isinstance(task, dict):
            raise ConfigError(f"{label} must be a mapping with keys {list(_TASK_KEYS)}")
        unknown = sorted(set(task) - set(_TASK_KEYS))
        if unknown:
            raise ConfigError(f"{label}: unknown key(s) {unknown}; allowed: {list(_TASK_KEYS)}")
        name = task.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ConfigError(f"{label}: name={name!r}: expected lower-case letters, digits and _ "
                              f"(it names the task's metrics), starting with a letter")
        if name in names:
            raise ConfigError(f"{label}: name {name!r} is used twice")
        label = f"{where}: task {name!r}"
        names.append(name)
        weight[t] = _number(task.get("weight", 1), f"{label}: weight", lo=0.0)
        reward[t] = _number(task.get("reward", 1.0), f"{label}: reward")
        end = task.get("end_on_completion", False)
        if not isinstance(end, bool):
            raise ConfigError(f"{label}: end_on_completion={end!r}: expected true or false")
        ends[t] = end
        kinds = [k for k in ("all", "any") if k in task]
        if len(kinds) != 1:
            raise ConfigError(f"{label}: give exactly one of 'all' (every part) or 'any' (one part) with a "
                              f"list of 1..{MAX_PARTS} parts")
        combine[t] = ALL if kinds[0] == "all" else ANY
        parts = task[kinds[0]]
        if not isinstance(parts, list) or not 1 <= len(parts) <= MAX_PARTS:
            raise ConfigError(f"{label}: '{kinds[0]}' must be a list of 1..{MAX_PARTS} parts")
        for p, part in enumerate(parts):
            pred[t, p], subj[t, p], targ[t, p] = _part(part, horizon, f"{label} part {p + 1}")
    if weight.sum() <= 0:
        raise ConfigError(f"{where}: the tasks' weights sum to 0; at least one task needs weight > 0")
    return Curriculum(tuple(names), pred, subj, targ, combine, ends, reward,
                      (weight / weight.sum()).astype(np.float32), where)


def _number(value, label, lo=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigError(f"{label}={value!r}: expected a number")
    if lo is not None and value < lo:
        raise ConfigError(f"{label}={value!r}: allowed values are >= {lo}")
    return float(value)


def _part(part, horizon: int, label: str):
    allowed = [p.name for p in P.PREDICATES]
    if not isinstance(part, dict) or "predicate" not in part:
        raise ConfigError(f"{label}: expected a mapping with 'predicate' (one of {allowed}) and its arguments")
    name = part["predicate"]
    if name not in P.BY_NAME:
        raise ConfigError(f"{label}: unknown predicate {name!r}; allowed: {allowed}")
    pred = P.BY_NAME[name]
    args = [a for a in (pred.subject, pred.target) if a]
    extra = sorted(set(part) - {"predicate", *args})
    missing = [a for a in args if a not in part]
    if extra or missing:
        raise ConfigError(f"{label}: predicate {name!r} takes {args}"
                          + (f"; unknown {extra}" if extra else "") + (f"; missing {missing}" if missing else ""))
    subject = 0
    if pred.subject:
        value = part[pred.subject]
        if value not in pred.subjects:
            raise ConfigError(f"{label}: {name} {pred.subject}={value!r}; allowed: {list(pred.subjects)}")
        subject = P.subject_value(pred, value)
    target = part[pred.target]
    if name == "time_alive" and target == "horizon":
        target = horizon
    lo, hi = pred.target_range
    if isinstance(target, bool) or not isinstance(target, int) or not lo <= target <= hi:
        extra_note = " or 'horizon'" if name == "time_alive" else ""
        raise ConfigError(f"{label}: {name} {pred.target}={target!r}; allowed: an integer from {lo} to {hi}"
                          f"{extra_note}")
    return P.PREDICATE_ID[name], subject, target
