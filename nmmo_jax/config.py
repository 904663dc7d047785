"""Configuration: what fixes array shapes (static) versus what can be traced (params).

Two kinds of settings live here, split the way jit needs them:

* ``StaticConfig`` is a frozen, hashable dataclass. Every field either fixes an
  array shape (map side, agent count, entity rows) or switches a rule on or off,
  so changing one means compiling again. It is passed to ``Env`` and closed
  over by ``step``.
* ``EnvParams`` is a pytree of scalars (rates, amounts, rewards). It is an
  argument of ``reset`` and ``step``, so it can be changed, or vmapped over a
  batch of environments, without compiling again.

A YAML file has one mapping per section: ``env:``, ``params:`` and ``train:``
(PPO settings for train.py; ``register_section`` adds more). ``load_config(path, overrides)``
reads a preset and applies overrides; an override key is either a bare field
name (``num_agents``), when only one section has it, or ``section.field``.
Every value is checked: an unknown key or a bad value raises ``ConfigError``
naming the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import jax.numpy as jnp
import yaml
from flax import struct

PRESETS = ("small", "medium", "large", "classic")
DEFAULT_PRESET = "medium"


class ConfigError(ValueError):
    """A config key or value that is not allowed; the message names both."""


def _preset_dir() -> Path:
    """Where the presets are: ``nmmo_jax/configs`` in an installed package, ``configs/`` in a checkout.

    ``pyproject.toml`` installs the top-level ``configs/`` folder as the package
    data ``nmmo_jax/configs``, so a non-editable install (a notebook's ``pip
    install git+...``) loads presets by name from any working directory.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "configs", here.parent / "configs"):
        if (candidate / f"{DEFAULT_PRESET}.yaml").is_file():
            return candidate
    return here / "configs"


PRESET_DIR = _preset_dir()


def resolve_config_path(path: str | Path) -> Path:
    """A YAML path as given, else a preset name or a ``configs/...`` path found among the shipped presets."""
    p = Path(path)
    if p.exists():
        return p
    if str(path) in PRESETS:
        return PRESET_DIR / f"{path}.yaml"
    parts = p.parts
    if not p.is_absolute() and len(parts) > 1 and parts[0] == "configs" and (PRESET_DIR.joinpath(*parts[1:])).exists():
        return PRESET_DIR.joinpath(*parts[1:])
    raise ConfigError(f"config file {str(path)!r} not found; give a YAML path or a preset: {list(PRESETS)}")


def _f(default, doc, lo=None, hi=None, choices=None):
    """A config field with its allowed range and a one-line description."""
    return field(default=default, metadata=dict(doc=doc, lo=lo, hi=hi, choices=choices))


@dataclass(frozen=True)
class StaticConfig:
    """Shapes and rule switches. Defaults are the ``medium`` preset (SPEC section 1).

    Choices the SPEC leaves open, and what we picked:
    * Several agents may share a tile (unless ``one_per_tile``); all agents on a
      harvestable tile at harvest time get the resource and the tile depletes
      once, so the result does not depend on slot order.
    * The entity set is built from an occupancy grid that remembers at most two
      entities per tile (the lowest and highest slot); a third entity on the
      same tile is only seen through the tile window's entity count.
    * Resource respawn is drawn once, when a tile depletes, as a geometric delay
      with the per-tick probability: the same distribution as a coin flip every
      tick, without drawing a random number for every tile every tick.
    * In persistent mode the world never ends: every ``horizon`` ticks the live
      agents are truncated (an episode boundary for the learner) and play on.
    """

    map_size: int = _f(160, "map side in tiles, border included", lo=8)
    border: int = _f(16, "width of the impassable (or lava) border", lo=1)
    num_agents: int = _f(128, "player slots", lo=1)
    num_npcs: int = _f(128, "NPC slots; 0 turns the NPC system off (SPEC section 8)", lo=0)
    window_radius: int = _f(7, "tile window radius; the window is (2r+1) x (2r+1)", lo=1)
    entity_rows: int = _f(32, "K: rows of the observed entity set, self included", lo=1)
    horizon: int = _f(1024, "ticks per episode (persistent: per truncation)", lo=1)
    persistent: bool = _f(False, "dead slots respawn after respawn_delay; the world never resets")
    lava_border: bool = _f(False, "classic: border is lava (passable, kills on entry) instead of void")
    one_per_tile: bool = _f(False, "classic: at most one entity per tile; conflicts by random priority")
    combat: bool = _f(True, "attack heads and combat (SPEC section 5); false: no attack heads and "
                            "NPCs only walk")
    classic_combat: bool = _f(False, "classic: d20 hit roll, per-style damage by level, mage freeze "
                                     "(SPEC section 5; the classic preset also sets melee_reach 1, mage_reach "
                                     "4). SPEC's 'defense' in the hit DC is read as the target's highest skill "
                                     "level (there is no v1 defense skill)")
    npc_spawn_attempts: int = _f(25, "random tiles tried per tick to refill free NPC slots (SPEC section 4 "
                                     "step 6); reset tries max(this, 4 x num_npcs)", lo=0)
    fog: bool = _f(False, "death fog (SPEC section 9): from params.fog_onset it closes in from the border")
    num_teams: int = _f(0, "teams of players (SPEC section 9): 0 none (every team id 0); otherwise "
                           "contiguous blocks of player slots get team ids 1..num_teams; NPCs are team 0", lo=0)
    exclude_teammates: bool = _f(True, "with num_teams > 0: team-mates are never attack targets (masked "
                                       "and ignored)")
    items: bool = _f(True, "the economy (SPEC section 7): inventories of 12 slots, harvest drops, equipment in "
                           "combat, loot, the use/destroy/sell/buy/give heads, the market and gifts")
    comm_tokens: int = _f(16, "communication (SPEC section 14): the comm head says one of 1..comm_tokens (0 "
                              "silent) and entity rows show what each entity said last tick; 0 turns it off "
                              "(SPEC leaves the vocabulary size open; 16 is our choice)", lo=0, hi=255)
    curriculum: str = _f("", "tasks (SPEC section 13): a curriculum YAML path or a shipped name (configs/curricula: "
                             "survival, rich); each agent draws a task at spawn and is paid for its progress, and "
                             "obs['task'] describes it. '' (default): no tasks, the survival reward alone")
    task: str = _f("", "with a curriculum: every agent draws this one task of it (evaluation per task); '' "
                       "draws by the curriculum's weights")
    task_reward: str = _f("add", "with a curriculum: 'add' pays the task reward on top of the survival reward "
                                 "(alive_reward, death_penalty); 'replace' pays the task reward instead of them "
                                 "(player_damage_reward is paid either way)", choices=("add", "replace"))
    # Resource placement counts; -1 scales the medium preset's count by playable area.
    ore_clusters: int = _f(-1, "plus-shaped ore clusters (-1: 64 scaled by area)", lo=-1)
    tree_clusters: int = _f(-1, "plus-shaped tree clusters (-1: 64 scaled by area)", lo=-1)
    crystal_clusters: int = _f(-1, "plus-shaped crystal clusters (-1: 64 scaled by area)", lo=-1)
    herb_tiles: int = _f(-1, "herb tiles (-1: 256 scaled by area)", lo=-1)
    fish_tiles: int = _f(-1, "fish tiles (-1: 256 scaled by area)", lo=-1)
    extra_water: int = _f(-1, "extra water tiles (-1: 441 scaled by area)", lo=-1)
    extra_foliage: int = _f(-1, "extra foliage tiles (-1: 441 scaled by area)", lo=-1)
    noise_octaves: int = _f(3, "octaves of gradient noise in terrain generation", lo=1, hi=8)
    noise_scale: float = _f(24.0, "tiles per period of the lowest noise octave", lo=1.0)

    def __post_init__(self):
        _validate_fields(self, "env")
        if self.playable_size < 4:
            raise ConfigError(
                f"env.map_size={self.map_size} with env.border={self.border} leaves a playable side "
                f"of {self.playable_size}; allowed: map_size >= 2*border + 4")
        if self.entity_rows > self.num_entities:
            raise ConfigError(
                f"env.entity_rows={self.entity_rows} exceeds the entity slots "
                f"num_agents + num_npcs = {self.num_entities}; allowed: 1..{self.num_entities}")
        if self.num_teams > self.num_agents:
            raise ConfigError(f"env.num_teams={self.num_teams} exceeds env.num_agents={self.num_agents}; "
                              f"allowed: 0..{self.num_agents}")
        if self.combat and self.entity_rows in (4, 5):
            raise ConfigError(
                f"env.entity_rows={self.entity_rows} with combat on: the attack_target head has "
                f"entity_rows choices and must differ in size from the fixed heads attack_style (4) and "
                f"move (5), so a policy can tell the target head by its size; allowed: any other value")
        ring = 4 * (self.playable_size - 1)
        if self.num_agents > ring:
            raise ConfigError(
                f"env.num_agents={self.num_agents} exceeds the {ring} spawn-ring tiles of a "
                f"playable side of {self.playable_size}; allowed: 1..{ring}")
        if self.task and not self.curriculum:
            raise ConfigError(f"env.task={self.task!r} needs env.curriculum (the curriculum the task is from)")
        if self.curriculum:
            self.load_curriculum()  # raises ConfigError naming the file, the task and the field
        area_scale = (self.playable_size / 128) ** 2
        for name, base in (("ore_clusters", 64), ("tree_clusters", 64), ("crystal_clusters", 64),
                           ("herb_tiles", 256), ("fish_tiles", 256), ("extra_water", 441),
                           ("extra_foliage", 441)):
            if getattr(self, name) < 0:
                object.__setattr__(self, name, max(1, round(base * area_scale)))

    def load_curriculum(self):
        """The curriculum's tables (``nmmo_jax.tasks.Curriculum``), restricted to ``task`` if set; None without."""
        if not self.curriculum:
            return None
        from nmmo_jax.tasks.curriculum import load_curriculum
        cur = load_curriculum(self.curriculum, self.horizon)
        return cur.only(self.task) if self.task else cur

    @property
    def playable_size(self) -> int:
        return self.map_size - 2 * self.border

    @property
    def num_entities(self) -> int:
        return self.num_agents + self.num_npcs

    @property
    def window_size(self) -> int:
        return 2 * self.window_radius + 1


@dataclass(frozen=True)
class ParamsConfig:
    """The YAML/CLI side of ``EnvParams``: plain Python numbers, checked and hashable."""

    max_health: int = _f(100, "health cap and starting health", lo=1, hi=30000)
    max_food: int = _f(100, "food cap and starting food", lo=1, hi=30000)
    max_water: int = _f(100, "water cap and starting water", lo=1, hi=30000)
    food_decay: int = _f(5, "food lost per tick", lo=0)
    water_decay: int = _f(5, "water lost per tick", lo=0)
    starvation_damage: int = _f(10, "health lost per tick for each empty bar", lo=0)
    regen: int = _f(10, "health gained per tick while food and water exceed regen_threshold", lo=0)
    regen_threshold: int = _f(50, "food and water must both exceed this to regenerate", lo=0)
    respawn_delay: int = _f(10, "persistent mode: ticks a dead slot waits before respawning", lo=1)
    foliage_respawn: float = _f(0.025, "per-tick respawn probability of scrub -> foliage", lo=0.0, hi=1.0)
    ore_respawn: float = _f(0.10, "per-tick respawn probability of slag -> ore", lo=0.0, hi=1.0)
    tree_respawn: float = _f(0.105, "per-tick respawn probability of stump -> tree", lo=0.0, hi=1.0)
    crystal_respawn: float = _f(0.10, "per-tick respawn probability of fragment -> crystal", lo=0.0, hi=1.0)
    herb_respawn: float = _f(0.02, "per-tick respawn probability of weeds -> herb", lo=0.0, hi=1.0)
    fish_respawn: float = _f(0.02, "per-tick respawn probability of ocean -> fish", lo=0.0, hi=1.0)
    alive_reward: float = _f(1.0, "reward per episode for staying alive, paid as alive_reward/horizon a tick")
    death_penalty: float = _f(-1.0, "reward on the tick of death")
    player_damage_reward: float = _f(
        0.0, "reward per max_health of damage an agent's attacks deal to other players, paid on the tick "
             "of the hit (NPCs excluded). 0 (SPEC's default reward): pure survival. Negative charges an "
             "agent for the harm it does: -1 makes killing a healthy player cost as much as dying")
    npc_damage_reward: float = _f(
        0.0, "reward per max_health of damage an agent's attacks deal to NPCs, paid on the tick of the hit: a "
             "shaping for hunting (NPC kills loot an armour piece and a tool, SPEC 7). 0 (SPEC's default "
             "reward): none. 0.5 pays half a death's worth for killing a 100-health NPC")
    vitals_reward: float = _f(
        0.0, "potential-based shaping on the vitals: each tick an agent is paid vitals_reward x the change in "
             "the mean of its health, food and water bars (each as a fraction of its cap), so eating, drinking "
             "and regenerating pay at once and every loss of health or of a bar costs at once. Over a life it "
             "sums to vitals_reward x (bars at its end - bars at its start). 0 (SPEC's default reward): none")
    # -- combat (SPEC section 5) --
    melee_reach: int = _f(3, "melee reach in tiles, L-infinity (classic preset: 1)", lo=0, hi=255)
    range_reach: int = _f(3, "range reach in tiles, L-infinity (classic preset: 3)", lo=0, hi=255)
    mage_reach: int = _f(3, "mage reach in tiles, L-infinity (classic preset: 4)", lo=0, hi=255)
    spawn_immunity: int = _f(
        20, "players cannot attack a player that has lived fewer than this many whole ticks (its "
            "observed time_alive); NPCs may attack it, as in Neural MMO", lo=0)
    combat_status_ticks: int = _f(
        3, "ticks of combat status after attacking or being attacked (any attack that resolves, even "
           "for 0 damage or a classic miss)", lo=0, hi=1000)
    base_offense: int = _f(10, "player offense = base_offense + offense_per_level * style level "
                               "(+ equipment attack once items exist)", lo=0, hi=10000)
    offense_per_level: int = _f(5, "player offense per level of the style used", lo=0, hi=10000)
    defense_per_level: int = _f(5, "player defense = defense_per_level * highest skill level of the 8 "
                                   "(+ equipment defense once items exist)", lo=0, hi=10000)
    weakness_multiplier: float = _f(
        1.5, "offense multiplier when the attack style beats the target's main style (mage > melee > "
             "range > mage); main style = the combat skill with the most XP, none while all three are "
             "equal (Neural MMO 2's rule; NPCs get their style's XP, so a level-1 NPC has none)", lo=0.0)
    min_damage_fraction: float = _f(0.25, "damage is at least floor(this * offense)", lo=0.0, hi=1.0)
    freeze_ticks: int = _f(3, "classic: a mage hit freezes the target this many ticks, counting the "
                              "tick of the hit (its move that tick is already lost)", lo=0, hi=1000)
    # -- skills (SPEC section 6) --
    xp_per_hit: int = _f(6, "XP to the style used per attack that lands (classic: per hit, not per "
                            "miss); players only, NPC levels are fixed at spawn", lo=0, hi=10000)
    xp_ammo_harvest: int = _f(15, "XP per ore / tree / crystal harvest (prospecting / carving / alchemy)",
                              lo=0, hi=10000)
    xp_food_harvest: int = _f(30, "XP per fish / herb harvest (fishing / herbalism)", lo=0, hi=10000)
    # -- NPCs (SPEC section 8) --
    max_npcs: int = _f(-1, "cap on live NPCs, traced (e.g. a curriculum); -1: every NPC slot", lo=-1)
    npc_health: int = _f(100, "NPC health at spawn and its cap", lo=1, hi=30000)
    npc_regen: int = _f(1, "NPC health regained per tick (NPCs neither eat nor drink)", lo=0)
    npc_level_min: int = _f(1, "NPC level = floor(danger * (max - min) + min), clipped to 1..10", lo=1, hi=10)
    npc_level_max: int = _f(10, "see npc_level_min", lo=1, hi=10)
    npc_power_per_level: int = _f(8, "NPC offense = defense = floor(this * (level - u)), u ~ U[0,1) drawn "
                                     "once per NPC at spawn", lo=0, hi=1000)
    npc_neutral_danger: float = _f(0.5, "spawn danger (2 * distance to border / playable side) from which "
                                        "NPCs are neutral", lo=0.0)
    npc_aggressive_danger: float = _f(0.8, "spawn danger from which NPCs are aggressive", lo=0.0)
    npc_vision: int = _f(
        7, "NPC sight in tiles (L-infinity): an aggressive NPC attacks the closest player within it, and "
           "any NPC forgets an attacker that leaves it or dies. An NPC sees exactly the players whose "
           "entity set holds that NPC (perception is symmetric), so it should not exceed "
           "env.window_radius", lo=0, hi=31)
    # -- death fog (SPEC section 9) --
    fog_onset: int = _f(32, "tick at which the fog starts (Neural MMO 2.1's team-game setting; SPEC is "
                            "silent)", lo=0)
    fog_speed: float = _f(1.0, "tiles per tick the fog front advances inward; a tile's fog strength is how "
                               "far the front has passed it, and standing in it costs round(strength) "
                               "health a tick", lo=0.0)
    fog_safe_radius: int = _f(8, "the square of this radius (L-infinity) around the centre tile (the "
                                 "central 2x2 block for an even side) never fogs", lo=0)

    # -- items (SPEC section 7) --
    weapon_drop_prob: float = _f(0.025, "probability that an ore, tree or crystal harvest also drops a wand, "
                                        "spear or bow of the harvest's level", lo=0.0, hi=1.0)

    def __post_init__(self):
        _validate_fields(self, "params")
        if self.npc_level_min > self.npc_level_max:
            raise ConfigError(f"params.npc_level_min={self.npc_level_min} exceeds params.npc_level_max="
                              f"{self.npc_level_max}; allowed: npc_level_min <= npc_level_max")
        if self.npc_neutral_danger > self.npc_aggressive_danger:
            raise ConfigError(f"params.npc_neutral_danger={self.npc_neutral_danger} exceeds "
                              f"params.npc_aggressive_danger={self.npc_aggressive_danger}; allowed: "
                              f"neutral <= aggressive")

    def to_params(self) -> EnvParams:
        """Scalars as arrays: ints stay int32, floats float32."""
        values = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            values[f.name] = jnp.asarray(v, jnp.float32 if isinstance(v, float) else jnp.int32)
        return EnvParams(**values)


def _traced_twin(cls):
    """``EnvParams``: a flax pytree with one field per ``ParamsConfig`` field, same names and defaults.

    Each rate or reward is declared once, in ``ParamsConfig`` (with its doc and
    allowed range); this builds its traced twin from those fields, so adding a
    parameter is one line.
    """
    fields = dataclasses.fields(cls)
    namespace = {"__annotations__": {f.name: Any for f in fields}, "__module__": __name__,
                 "__qualname__": "EnvParams",
                 "__doc__": "Rates and rewards, traced through ``step`` so they can be changed or vmapped "
                            "(fields: ``ParamsConfig``; build one with ``ParamsConfig(...).to_params()``)."}
    namespace.update({f.name: f.default for f in fields})
    return struct.dataclass(type("EnvParams", (), namespace))


EnvParams = _traced_twin(ParamsConfig)


@dataclass(frozen=True)
class TrainConfig:
    """PPO and run settings for ``train.py`` (the ``train:`` section).

    It lives beside the world's sections so that one YAML file and one
    ``--key=value`` syntax describe a whole run; the world itself never reads it.
    One update collects ``num_envs * num_agents * rollout_len`` agent-steps.
    """

    num_envs: int = _f(8, "environments stepped in parallel (the batch is num_envs x num_agents)", lo=1)
    rollout_len: int = _f(32, "ticks collected per update", lo=1)
    total_updates: int = _f(300, "PPO updates in the run", lo=1)
    update_epochs: int = _f(2, "passes over each rollout", lo=1)
    num_minibatches: int = _f(4, "minibatches per epoch; must divide num_envs * num_agents", lo=1)
    lr: float = _f(3e-4, "Adam learning rate", lo=0.0)
    anneal_lr: bool = _f(True, "decay the learning rate linearly to 0 over the run")
    gamma: float = _f(0.99, "discount", lo=0.0, hi=1.0)
    gae_lambda: float = _f(0.95, "GAE lambda", lo=0.0, hi=1.0)
    clip_eps: float = _f(0.2, "PPO ratio clip", lo=0.0)
    ent_coef: float = _f(0.01, "entropy bonus coefficient", lo=0.0)
    vf_coef: float = _f(0.5, "value loss coefficient", lo=0.0)
    max_grad_norm: float = _f(0.5, "global gradient-norm clip", lo=0.0)
    persistent_worlds: bool = _f(True, "train in a persistent copy of the world (dead slots respawn after "
                          "params.respawn_delay) so no slot idles dead; evaluation uses env as written")
    restart_at_horizon: bool = _f(True, "with persistent_worlds: each training world restarts (new map, "
                                  "fresh agents) every horizon ticks, so training sees world starts as "
                                  "evaluation does")
    model: str = _f("feedforward", "policy network", choices=("feedforward", "recurrent"))
    hidden: int = _f(64, "width of the model", lo=4)
    seed: int = _f(0, "run seed (params, envs, sampling)")
    updates_per_chunk: int = _f(10, "updates per compiled chunk; progress and logs between chunks", lo=1)
    checkpoint_every: int = _f(50, "updates between checkpoints", lo=1)
    keep_checkpoints: int = _f(3, "checkpoints kept on disk", lo=1)

    def __post_init__(self):
        _validate_fields(self, "train")


# Sections of a config file: name -> frozen dataclass. One YAML and one override
# syntax cover the whole run; register_section adds more.
SECTIONS: dict[str, type] = {"env": StaticConfig, "params": ParamsConfig, "train": TrainConfig}


def register_section(name: str, cls: type) -> None:
    SECTIONS[name] = cls


@dataclass(frozen=True)
class Config:
    """A whole config: one frozen dataclass per section, e.g. ``cfg.env.num_agents``."""

    sections: tuple  # ((name, dataclass instance), ...), hashable
    source: str = "defaults"

    def __getattr__(self, name):
        for key, value in object.__getattribute__(self, "sections"):
            if key == name:
                return value
        raise AttributeError(f"config has no section {name!r}; sections: {[k for k, _ in self.sections]}")

    def to_dict(self) -> dict:
        return {name: dataclasses.asdict(value) for name, value in self.sections}

    def replace(self, **overrides) -> "Config":
        """A copy with ``field=value`` or ``section.field=value`` overrides applied and checked."""
        return _build(self.to_dict(), overrides, self.source)


def _validate_fields(obj, section: str) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        meta = f.metadata
        key = f"{section}.{f.name}"
        kind = type(f.default)
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{key}={value!r}: expected true or false")
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{key}={value!r}: expected an integer")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{key}={value!r}: expected a number")
            value = float(value)
            if value != value or value in (float("inf"), float("-inf")):
                raise ConfigError(f"{key}={value!r}: expected a finite number")
            object.__setattr__(obj, f.name, value)
        elif kind is str:
            if not isinstance(value, str):
                raise ConfigError(f"{key}={value!r}: expected a string")
        lo, hi, choices = meta.get("lo"), meta.get("hi"), meta.get("choices")
        if choices is not None and value not in choices:
            raise ConfigError(f"{key}={value!r}: allowed values are {list(choices)}")
        if lo is not None and value < lo or hi is not None and value > hi:
            allowed = (f">= {lo}" if hi is None else f"<= {hi}" if lo is None else f"from {lo} to {hi}")
            raise ConfigError(f"{key}={value!r}: allowed values are {allowed}")


def _parse_scalar(text: str):
    """CLI values arrive as strings; YAML's scalar rules turn them into bool/int/float/str.

    YAML 1.1 reads ``5e-4`` (no dot) as a string; a researcher means a number, so
    anything Python's ``float`` accepts is taken as one.
    """
    if not text.strip():
        return text  # --curriculum= (nothing): the empty string, not YAML's null
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _resolve_key(key: str) -> tuple[str, str]:
    if "." in key:
        section, name = key.split(".", 1)
        if section not in SECTIONS:
            raise ConfigError(f"unknown config section {section!r} in {key!r}; sections: {sorted(SECTIONS)}")
        names = [f.name for f in dataclasses.fields(SECTIONS[section])]
        if name not in names:
            raise ConfigError(f"unknown config key {key!r}; allowed keys in {section!r}: {names}")
        return section, name
    owners = [s for s, cls in SECTIONS.items() if key in {f.name for f in dataclasses.fields(cls)}]
    if not owners:
        allowed = sorted(f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls))
        raise ConfigError(f"unknown config key {key!r}; allowed keys: {allowed}")
    if len(owners) > 1:
        raise ConfigError(f"config key {key!r} is in sections {owners}; write it as section.key")
    return owners[0], key


def _build(raw: Mapping, overrides: Mapping | None, source: str) -> Config:
    merged: dict[str, dict] = {name: {} for name in SECTIONS}
    for section, values in (raw or {}).items():
        if section not in SECTIONS:
            raise ConfigError(f"unknown config section {section!r} in {source}; sections: {sorted(SECTIONS)}")
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ConfigError(f"config section {section!r} in {source} must be a mapping of key: value")
        for name, value in values.items():
            _resolve_key(f"{section}.{name}")
            merged[section][name] = value
    for key, value in (overrides or {}).items():
        section, name = _resolve_key(key)
        merged[section][name] = _parse_scalar(value) if isinstance(value, str) else value
    sections = tuple((name, SECTIONS[name](**merged[name])) for name in SECTIONS)
    return Config(sections=sections, source=source)


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read a preset or YAML file and apply overrides.

    ``path`` is a YAML file, or a preset name (``small``, ``medium``, ``large``,
    ``classic``); ``None`` is the default preset (medium). ``overrides`` maps a
    key (``num_agents`` or ``env.num_agents``) to a value; string values are
    parsed as YAML scalars, as they arrive from the command line.
    """
    if path is None:
        path = DEFAULT_PRESET
    p = resolve_config_path(path)
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {err}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config file {str(p)!r} must hold a mapping of sections ({sorted(SECTIONS)})")
    return _build(raw, overrides, str(p))


def parse_cli_overrides(argv: list[str], known_flags: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Split ``--key=value`` arguments into (flags the program knows, config overrides).

    Anything not in ``known_flags`` must be a config key; it is checked when the
    config is built, so a typo fails with the list of allowed keys.
    """
    flags, overrides = {}, {}
    for arg in argv:
        if not arg.startswith("--"):
            raise ConfigError(f"argument {arg!r}: expected --key=value")
        body = arg[2:]
        key, sep, value = body.partition("=")
        if not sep:
            value = "true"  # a bare --flag means true
        key = key.replace("-", "_")
        if key in known_flags:
            flags[key] = value
        else:
            overrides[key] = value
    return flags, overrides
