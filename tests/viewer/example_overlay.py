"""The README's custom overlay example, imported by the CLI test with ``--import=viewer.example_overlay``."""
import jax.numpy as jnp

from nmmo_jax.render import register_overlay


def health(state, outputs):                 # traced inside the recorder, every tick
    e = state.entities
    h, w = state.tiles.shape
    a = outputs["obs"]["entity_mask"].shape[0]          # outputs: obs, actions, value, attention
    flat = jnp.where(e.alive[:a], e.pos[:a, 0] * w + e.pos[:a, 1], h * w)
    grid = jnp.full(h * w, jnp.nan).at[flat].set(e.health[:a].astype(jnp.float32), mode="drop")
    return grid.reshape(h, w)                           # f32[H, W]; NaN = nothing to show


register_overlay("health", health, "players' health where they stand")
