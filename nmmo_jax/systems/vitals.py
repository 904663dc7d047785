"""Survival (SPEC section 3): time alive, regeneration or starvation, food and water decay.

The order inside one tick: starvation and regeneration look at the bars as
they were at the start of the tick, then the bars decay, then harvest
(harvest.py) may refill them. With the defaults an agent that never eats or
drinks has empty bars after 20 ticks, loses 20 health a tick from tick 21 and
dies on tick 25.
"""
import jax.numpy as jnp

from nmmo_jax.config import EnvParams
from nmmo_jax.state import WorldState


def update_vitals(state: WorldState, params: EnvParams) -> WorldState:
    e = state.entities
    live = e.alive
    starving = (e.food <= 0).astype(jnp.int32) + (e.water <= 0).astype(jnp.int32)
    regen = (e.food > params.regen_threshold) & (e.water > params.regen_threshold)
    health = e.health - starving * params.starvation_damage + jnp.where(regen, params.regen, 0)
    health = jnp.clip(health, 0, params.max_health)
    food = jnp.maximum(e.food - params.food_decay, 0)
    water = jnp.maximum(e.water - params.water_decay, 0)
    e = e.replace(
        time_alive=jnp.where(live, e.time_alive + 1, e.time_alive),
        health=jnp.where(live, health, e.health),
        food=jnp.where(live, food, e.food),
        water=jnp.where(live, water, e.water),
        freeze=jnp.where(live, jnp.maximum(e.freeze - 1, 0), e.freeze),
        combat_timer=jnp.where(live, jnp.maximum(e.combat_timer - 1, 0), e.combat_timer),
    )
    return state.replace(entities=e)
