"""Skills and progression (SPEC section 6): eight skills, levels 1..10 from cumulative XP.

Skill columns of ``Entities.levels`` / ``Entities.xp``: the three combat
styles first (melee, range, mage: column = attack style - 1), then the five
professions. A level is the number of thresholds of ``XP_TABLE`` the XP has
reached, so levels are a pure function of XP and are recomputed whenever XP
changes. Players gain XP from attacks (combat.py) and harvests (harvest.py);
NPCs are given the XP of their level at spawn (npc.py) and never gain more.
"""
import jax.numpy as jnp
import numpy as np

from nmmo_jax import tiles as T

MELEE, RANGE, MAGE, FISHING, HERBALISM, PROSPECTING, CARVING, ALCHEMY = range(8)
COMBAT_SKILLS = (MELEE, RANGE, MAGE)

# Cumulative XP needed for levels 1..10 (SPEC section 6).
XP_TABLE = np.array([0, 90, 217, 373, 553, 754, 974, 1212, 1467, 1737], np.int32)
MAX_LEVEL = len(XP_TABLE)

# Stand-on harvests that train a skill: material -> (skill, EnvParams field with the XP).
# Foliage (eating) and water (drinking) train nothing. Fish is harvested from
# a neighbouring tile and handled separately (FISHING, xp_food_harvest).
STAND_HARVEST_XP = {
    T.ORE: (PROSPECTING, "xp_ammo_harvest"),
    T.TREE: (CARVING, "xp_ammo_harvest"),
    T.CRYSTAL: (ALCHEMY, "xp_ammo_harvest"),
    T.HERB: (HERBALISM, "xp_food_harvest"),
}


def level_from_xp(xp):
    """Level 1..10 for cumulative XP (any shape): 1 + the number of thresholds above 0 reached."""
    thresholds = jnp.asarray(XP_TABLE[1:])
    return 1 + jnp.sum(xp[..., None] >= thresholds, axis=-1, dtype=jnp.int32)


def xp_for_level(level):
    """The cumulative XP at which ``level`` (1..10) starts."""
    return jnp.asarray(XP_TABLE)[jnp.clip(level, 1, MAX_LEVEL) - 1]


def add_xp(entities, gain):
    """Entities with ``gain`` (i32[N, 8]) added to their XP and levels brought up to date."""
    xp = entities.xp + gain
    return entities.replace(xp=xp, levels=level_from_xp(xp))


def stand_harvest_gain(material, params):
    """(skill column i32, XP i32) earned by harvesting the stand-on ``material``; skill -1 for none."""
    skill = jnp.full(material.shape, -1, jnp.int32)
    amount = jnp.zeros(material.shape, jnp.int32)
    for mat, (s, field) in STAND_HARVEST_XP.items():
        hit = material == mat
        skill = jnp.where(hit, s, skill)
        amount = jnp.where(hit, getattr(params, field), amount)
    return skill, amount
