"""Survival (SPEC section 3): time alive, regeneration or starvation, food and water decay.

The order inside one tick: freeze and combat countdowns, time alive, then
health: fog damage (fog.py, when on), starvation and regeneration, which look
at the bars as they were at the start of the tick, summed and clipped once to
0..max; then the bars decay, then harvest (harvest.py) may refill them. With
the defaults an agent that never eats or drinks has empty bars after 20 ticks,
loses 20 health a tick from tick 21 and dies on tick 25.

NPCs neither eat nor drink (their bars stay 0 and never starve them); they
regain ``npc_regen`` health a tick up to ``npc_health``.
"""
import jax.numpy as jnp

from nmmo_jax.config import EnvParams
from nmmo_jax.state import WorldState


def update_vitals(state: WorldState, params: EnvParams, num_agents: int, fog_damage=None) -> WorldState:
    """``fog_damage``: optional i32[N] health lost to the fog this tick (players only)."""
    e = state.entities
    live = e.alive
    is_player = jnp.arange(live.shape[0]) < num_agents
    starving = (e.food <= 0).astype(jnp.int32) + (e.water <= 0).astype(jnp.int32)
    regen = (e.food > params.regen_threshold) & (e.water > params.regen_threshold)
    player_health = e.health - starving * params.starvation_damage + jnp.where(regen, params.regen, 0)
    if fog_damage is not None:
        player_health = player_health - fog_damage
    player_health = jnp.clip(player_health, 0, params.max_health)
    npc_health = jnp.clip(e.health + params.npc_regen, 0, params.npc_health)
    health = jnp.where(is_player, player_health, npc_health)
    food = jnp.where(is_player, jnp.maximum(e.food - params.food_decay, 0), e.food)
    water = jnp.where(is_player, jnp.maximum(e.water - params.water_decay, 0), e.water)
    e = e.replace(
        time_alive=jnp.where(live, e.time_alive + 1, e.time_alive),
        health=jnp.where(live, health, e.health),
        food=jnp.where(live, food, e.food),
        water=jnp.where(live, water, e.water),
        freeze=jnp.where(live, jnp.maximum(e.freeze - 1, 0), e.freeze),
        combat_timer=jnp.where(live, jnp.maximum(e.combat_timer - 1, 0), e.combat_timer),
    )
    return state.replace(entities=e)
