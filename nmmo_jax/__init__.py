"""nmmo_jax: Neural MMO as one pytree stepped by a pure, jittable, vmappable function."""
from nmmo_jax.config import (Config, ConfigError, EnvParams, ParamsConfig, StaticConfig, load_config,
                             parse_cli_overrides)
from nmmo_jax.env import Env, make
from nmmo_jax import spaces
from nmmo_jax.state import Entities, WorldState

__all__ = ["Config", "ConfigError", "EnvParams", "ParamsConfig", "StaticConfig", "load_config",
           "parse_cli_overrides", "Env", "make", "spaces", "Entities", "WorldState"]
