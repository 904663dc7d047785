"""Config: presets (SPEC section 1), checked overrides, CLI parsing."""
import dataclasses

import jax.numpy as jnp
import pytest

import nmmo_jax
from nmmo_jax import ConfigError, load_config, parse_cli_overrides

# preset -> (agents, NPCs, map side with border, playable side, horizon)
SPEC_PRESETS = {
    "small": (64, 32, 64, 32, 128),
    "medium": (128, 128, 160, 128, 1024),
    "large": (1024, 1024, 1056, 1024, 8192),
    "classic": (128, 32, 80, 60, 1000),
}


@pytest.mark.parametrize("preset", sorted(SPEC_PRESETS))
def test_preset_numbers_match_spec(preset):
    env = load_config(preset).env
    agents, npcs, side, playable, horizon = SPEC_PRESETS[preset]
    assert (env.num_agents, env.num_npcs, env.map_size, env.playable_size, env.horizon) == \
        (agents, npcs, side, playable, horizon)


@pytest.mark.parametrize("preset", ["small", "medium", "large"])
def test_v2_presets_have_void_border_of_16_and_v2_rules(preset):
    env = load_config(preset).env
    assert env.border == 16
    assert env.items and env.comm_tokens == 16  # the economy and communication are part of the v2 world
    assert (env.persistent, env.lava_border, env.one_per_tile, env.classic_combat) == (False,) * 4


def test_classic_switches_and_lava_border_of_10():
    env = load_config("classic").env
    assert env.border == 10
    assert (env.persistent, env.lava_border, env.one_per_tile, env.classic_combat) == (True,) * 4


def test_default_preset_is_medium():
    assert load_config().env == load_config("medium").env


def test_default_params_are_spec_numbers_with_jax_dtypes():
    p = load_config("small").params.to_params()
    ints = dict(max_health=100, max_food=100, max_water=100, food_decay=5, water_decay=5,
                starvation_damage=10, regen=10, regen_threshold=50)
    for name, v in ints.items():
        x = getattr(p, name)
        assert x.dtype == jnp.int32 and int(x) == v, name
    floats = dict(foliage_respawn=0.025, ore_respawn=0.10, tree_respawn=0.105, crystal_respawn=0.10,
                  herb_respawn=0.02, fish_respawn=0.02, alive_reward=1.0, death_penalty=-1.0)
    for name, v in floats.items():
        x = getattr(p, name)
        assert x.dtype == jnp.float32 and float(x) == pytest.approx(v), name


def test_only_the_small_preset_charges_harm_to_players():
    assert load_config("small").params.player_damage_reward == -1.0  # its training recipe (README)
    for preset in ("medium", "large", "classic"):
        assert load_config(preset).params.player_damage_reward == 0.0  # SPEC's default reward


def test_medium_resource_counts_are_spec_numbers_and_scale_with_area():
    m = load_config("medium").env
    assert (m.ore_clusters, m.tree_clusters, m.crystal_clusters, m.herb_tiles, m.fish_tiles,
            m.extra_water, m.extra_foliage) == (64, 64, 64, 256, 256, 441, 441)
    s = load_config("small").env  # 32x32 playable: 1/16 of the area
    assert (s.ore_clusters, s.herb_tiles, s.fish_tiles, s.extra_water) == (4, 16, 16, 28)


def test_overrides_bare_and_sectioned_and_string_values():
    cfg = load_config("small", overrides={"num_agents": 16, "env.horizon": "40",
                                          "params.food_decay": "3", "persistent": "true"})
    assert cfg.env.num_agents == 16 and cfg.env.horizon == 40 and cfg.env.persistent is True
    assert cfg.params.food_decay == 3
    assert cfg.env.map_size == 64  # untouched fields keep the preset's value


def test_yaml_path_loads(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("env:\n  map_size: 40\n  border: 4\n  num_agents: 8\n  num_npcs: 0\n"
                 "  entity_rows: 6\nparams:\n  regen: 7\n")
    cfg = load_config(str(f))
    assert (cfg.env.map_size, cfg.env.playable_size, cfg.env.num_agents, cfg.params.regen) == (40, 32, 8, 7)


@pytest.mark.parametrize("key", ["num_agnets", "env.nope", "params.speed", "bogus.num_agents"])
def test_unknown_key_names_the_key(key):
    with pytest.raises(ConfigError) as err:
        load_config("small", overrides={key: 1})
    msg = str(err.value)
    assert key in msg, msg
    assert "allowed keys" in msg or "sections:" in msg, msg  # and it says what is allowed


def test_unknown_key_in_yaml_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("env:\n  num_agentz: 3\n")
    with pytest.raises(ConfigError, match="num_agentz"):
        load_config(str(f))


def test_missing_file_is_config_error():
    with pytest.raises(ConfigError, match="no_such_preset"):
        load_config("no_such_preset")


@pytest.mark.parametrize("key,value,allowed", [
    ("num_agents", 0, ">= 1"),
    ("num_agents", -3, ">= 1"),
    ("map_size", 4, ">= 8"),
    ("params.max_health", 0, "from 1 to 30000"),
    ("params.max_health", 40000, "from 1 to 30000"),
    ("params.foliage_respawn", 1.5, "from 0.0 to 1.0"),
    ("params.ore_respawn", -0.1, "from 0.0 to 1.0"),
    ("noise_octaves", 9, "from 1 to 8"),
])
def test_out_of_range_names_key_and_range(key, value, allowed):
    with pytest.raises(ConfigError) as err:
        load_config("small", overrides={key: value})
    msg = str(err.value)
    assert key.split(".")[-1] in msg and str(value) in msg and allowed in msg, msg


@pytest.mark.parametrize("key,value,expected", [
    ("persistent", "maybe", "true or false"),
    ("persistent", 1, "true or false"),
    ("num_agents", 3.5, "integer"),
    ("num_agents", "3.0", "integer"),
    ("num_agents", True, "integer"),
    ("horizon", "ten", "integer"),
    ("params.regen", 2.5, "integer"),
    ("params.alive_reward", "lots", "number"),
])
def test_wrong_type_names_key_and_what_is_allowed(key, value, expected):
    with pytest.raises(ConfigError) as err:
        load_config("small", overrides={key: value})
    msg = str(err.value)
    assert key.split(".")[-1] in msg and expected in msg, msg


def test_cross_field_checks():
    with pytest.raises(ConfigError, match="playable"):
        load_config("small", overrides={"map_size": 40, "border": 18})
    with pytest.raises(ConfigError, match="entity_rows"):
        load_config("small", overrides={"num_agents": 4, "num_npcs": 0, "entity_rows": 5})
    # 4 * (32 - 1) = 124 spawn-ring tiles on the small map
    with pytest.raises(ConfigError, match="num_agents.*124"):
        load_config("small", overrides={"num_agents": 125})
    assert load_config("small", overrides={"num_agents": 124}).env.num_agents == 124


def test_float_field_accepts_int_and_stores_float():
    cfg = load_config("small", overrides={"foliage_respawn": 1})
    assert cfg.params.foliage_respawn == 1.0 and isinstance(cfg.params.foliage_respawn, float)
    assert cfg.params.to_params().foliage_respawn.dtype == jnp.float32


def test_config_is_hashable_and_replace_checks():
    cfg = load_config("small")
    assert hash(cfg) == hash(load_config("small"))
    cfg2 = cfg.replace(num_agents=8)
    assert cfg2.env.num_agents == 8 and cfg.env.num_agents == 64
    with pytest.raises(ConfigError, match="num_agents"):
        cfg.replace(num_agents=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.env.num_agents = 3


def test_parse_cli_overrides():
    flags, overrides = parse_cli_overrides(
        ["--envs=32", "--num-agents=16", "--env.horizon=50", "--persistent", "--params.regen=7"],
        known_flags=("envs",))
    assert flags == {"envs": "32"}
    assert overrides == {"num_agents": "16", "env.horizon": "50", "persistent": "true",
                         "params.regen": "7"}
    cfg = load_config("small", overrides=overrides)
    assert (cfg.env.num_agents, cfg.env.horizon, cfg.env.persistent, cfg.params.regen) == (16, 50, True, 7)


def test_parse_cli_rejects_positional_and_typos_fail_at_load():
    with pytest.raises(ConfigError, match="num_agents=3"):
        parse_cli_overrides(["num_agents=3"])
    _, overrides = parse_cli_overrides(["--num-agentz=3"])
    with pytest.raises(ConfigError, match="num_agentz"):
        load_config("small", overrides=overrides)


def test_env_accepts_static_config_and_default_params():
    env = nmmo_jax.Env(load_config("small").env)
    assert int(env.default_params.max_food) == 100
    assert env.noop_actions()["move"].shape == (64,)
    assert env.noop_actions()["move"].dtype == jnp.int32


def test_combat_cross_field_checks():
    # the target head (entity_rows choices) must not be mistaken for a fixed head by its size
    for rows in (4, 5):
        with pytest.raises(ConfigError, match="entity_rows.*attack_style"):
            load_config("small", overrides={"entity_rows": rows})
        assert load_config("small", overrides={"entity_rows": rows, "combat": False}).env.entity_rows == rows
    with pytest.raises(ConfigError, match="num_teams"):
        load_config("small", overrides={"num_teams": 65})
    with pytest.raises(ConfigError, match="npc_level_min"):
        load_config("small", overrides={"npc_level_min": 6, "npc_level_max": 5})
    with pytest.raises(ConfigError, match="npc_neutral_danger"):
        load_config("small", overrides={"npc_neutral_danger": 0.9})
    with pytest.raises(ConfigError, match="npc_vision"):
        load_config("small", overrides={"npc_vision": 40})


def test_presets_switch_systems_as_spec_says():
    for preset, npcs in (("small", 32), ("medium", 128), ("large", 1024), ("classic", 32)):
        cfg = load_config(preset)
        assert cfg.env.combat and cfg.env.num_npcs == npcs
        assert not cfg.env.fog and cfg.env.num_teams == 0
        assert cfg.env.classic_combat == (preset == "classic")
        reach = (cfg.params.melee_reach, cfg.params.range_reach, cfg.params.mage_reach)
        assert reach == ((1, 3, 4) if preset == "classic" else (3, 3, 3))
