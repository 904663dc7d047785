"""The item table (SPEC section 7): one row per item type, read by every system that touches items.

Item type ids are 1..16 (0 is an empty inventory slot). Each column below is
a numpy array indexed by type id, so a system looks up ``DEFENSE_BASE[type]``
instead of branching on item kinds; adding an item is one row here.

Level requirement (``SKILL``): the skill column whose level must reach the
item's level to equip or consume it, or ``HIGHEST_COMBAT`` (armour: the
highest of melee, range and mage).

Effects, with L the item's level:

* armour (hat, top, bottom): defense ``3 L`` against every style;
* weapons (spear, bow, wand): attack ``5 + 5 L`` for its style, while held;
* tools (rod, gloves, pickaxe, axe, chisel): defense 15 while held, and the
  matching profession's harvests drop items at level ``min(1 + L, 10)``;
* ammunition (whetstone, arrow, runes): attack ``5 + 10 L`` for its style
  while equipped; one is used per landed attack of that style; stacks of one
  (type, level) share a slot with no limit;
* consumables: ration restores food and water ``50 + 5 L``, potion health
  ``50 + 5 L`` (capped at the maximum).

Harvest drops (SPEC section 7): ore -> whetstone, tree -> arrow, crystal ->
runes, herb -> potion, fish -> ration; ore, tree and crystal also drop a wand,
spear or bow respectively (as in Neural MMO 2.1: ore the wand, tree the spear,
crystal the bow) with probability ``params.weapon_drop_prob``. Every drop is a
quantity of 1 (Neural MMO 2.1 creates every item with quantity 1).
"""
import numpy as np

from nmmo_jax import tiles as T
from nmmo_jax.systems import skills as S

(EMPTY, HAT, TOP, BOTTOM, SPEAR, BOW, WAND, ROD, GLOVES, PICKAXE, AXE, CHISEL, WHETSTONE, ARROW, RUNES,
 RATION, POTION) = range(17)
NUM_TYPES = 17  # ids 0..16, 0 = empty
NAMES = ("empty", "hat", "top", "bottom", "spear", "bow", "wand", "rod", "gloves", "pickaxe", "axe", "chisel",
         "whetstone", "arrow", "runes", "ration", "potion")
MAX_LEVEL = 10
INVENTORY_SLOTS = 12

# Equipment slots (SPEC section 7): where an equipped item sits; -1 for consumables.
HAT_SLOT, TOP_SLOT, BOTTOM_SLOT, HELD_SLOT, AMMO_SLOT = range(5)
NUM_EQUIP_SLOTS = 5
EQUIP_SLOT_NAMES = ("hat", "top", "bottom", "held", "ammunition")

# Classes, for metrics and the viewer.
ARMOUR, WEAPON, TOOL, AMMUNITION, CONSUMABLE = range(1, 6)
CLASS_NAMES = ("none", "armour", "weapon", "tool", "ammunition", "consumable")

HIGHEST_COMBAT = -2  # level requirement: the highest combat skill level
NONE = -1

_ROWS = {
    # type:      class,      equip slot,  skill needed,     style, tool skill
    HAT:       (ARMOUR,     HAT_SLOT,    HIGHEST_COMBAT,   0, NONE),
    TOP:       (ARMOUR,     TOP_SLOT,    HIGHEST_COMBAT,   0, NONE),
    BOTTOM:    (ARMOUR,     BOTTOM_SLOT, HIGHEST_COMBAT,   0, NONE),
    SPEAR:     (WEAPON,     HELD_SLOT,   S.MELEE,          1, NONE),
    BOW:       (WEAPON,     HELD_SLOT,   S.RANGE,          2, NONE),
    WAND:      (WEAPON,     HELD_SLOT,   S.MAGE,           3, NONE),
    ROD:       (TOOL,       HELD_SLOT,   S.FISHING,        0, S.FISHING),
    GLOVES:    (TOOL,       HELD_SLOT,   S.HERBALISM,      0, S.HERBALISM),
    PICKAXE:   (TOOL,       HELD_SLOT,   S.PROSPECTING,    0, S.PROSPECTING),
    AXE:       (TOOL,       HELD_SLOT,   S.CARVING,        0, S.CARVING),
    CHISEL:    (TOOL,       HELD_SLOT,   S.ALCHEMY,        0, S.ALCHEMY),
    WHETSTONE: (AMMUNITION, AMMO_SLOT,   S.MELEE,          1, NONE),
    ARROW:     (AMMUNITION, AMMO_SLOT,   S.RANGE,          2, NONE),
    RUNES:     (AMMUNITION, AMMO_SLOT,   S.MAGE,           3, NONE),
    RATION:    (CONSUMABLE, NONE,        S.FISHING,        0, NONE),
    POTION:    (CONSUMABLE, NONE,        S.HERBALISM,      0, NONE),
}


def _column(index, default):
    col = np.full(NUM_TYPES, default, np.int32)
    for t, row in _ROWS.items():
        col[t] = row[index]
    return col


CLASS = _column(0, 0)
EQUIP_SLOT = _column(1, NONE)
SKILL = _column(2, NONE)
STYLE = _column(3, 0)          # attack style (1 melee, 2 range, 3 mage) a weapon or ammunition serves
TOOL_SKILL = _column(4, NONE)  # profession a tool improves
EQUIPABLE = EQUIP_SLOT >= 0
STACKS = CLASS == AMMUNITION

# Effects as (base, per level): value = base + per_level * L (0 where they do not apply).
DEFENSE = np.zeros((NUM_TYPES, 2), np.int32)
DEFENSE[[HAT, TOP, BOTTOM]] = (0, 3)
DEFENSE[[ROD, GLOVES, PICKAXE, AXE, CHISEL]] = (15, 0)
ATTACK = np.zeros((NUM_TYPES, 2), np.int32)
ATTACK[[SPEAR, BOW, WAND]] = (5, 5)
ATTACK[[WHETSTONE, ARROW, RUNES]] = (5, 10)
FOOD_WATER_RESTORE = np.zeros((NUM_TYPES, 2), np.int32)
FOOD_WATER_RESTORE[RATION] = (50, 5)
HEALTH_RESTORE = np.zeros((NUM_TYPES, 2), np.int32)
HEALTH_RESTORE[POTION] = (50, 5)

# Harvest drops: material -> (item, profession skill). Weapons drop on top of ammunition.
HARVEST_DROP = np.zeros(T.NUM_MATERIALS, np.int32)
HARVEST_DROP[[T.ORE, T.TREE, T.CRYSTAL, T.HERB, T.FISH]] = (WHETSTONE, ARROW, RUNES, POTION, RATION)
WEAPON_DROP = np.zeros(T.NUM_MATERIALS, np.int32)
WEAPON_DROP[[T.ORE, T.TREE, T.CRYSTAL]] = (WAND, SPEAR, BOW)
HARVEST_SKILL = np.full(T.NUM_MATERIALS, NONE, np.int32)
HARVEST_SKILL[[T.ORE, T.TREE, T.CRYSTAL, T.HERB, T.FISH]] = (S.PROSPECTING, S.CARVING, S.ALCHEMY, S.HERBALISM,
                                                            S.FISHING)
# The tool whose holder harvests a material at a higher level.
HARVEST_TOOL = np.zeros(T.NUM_MATERIALS, np.int32)
HARVEST_TOOL[[T.ORE, T.TREE, T.CRYSTAL, T.HERB, T.FISH]] = (PICKAXE, AXE, CHISEL, GLOVES, ROD)

ARMOUR_TYPES = np.array([HAT, TOP, BOTTOM], np.int32)
TOOL_TYPES = np.array([ROD, GLOVES, PICKAXE, AXE, CHISEL], np.int32)

# The market sees one offer per (type, level): offer index = (type - 1) * 10 + (level - 1).
NUM_OFFERS = (NUM_TYPES - 1) * MAX_LEVEL
MAX_PRICE = 99


def offer_index(item_type, level):
    return (item_type - 1) * MAX_LEVEL + (level - 1)


def effect(table, item_type, level):
    """base + per_level * level of an effect table, for arrays of types and levels."""
    return table[item_type, 0] + table[item_type, 1] * level
