"""Tile materials and the lookup tables that give each one its rules (SPEC section 2).

A tile is one uint8 material id. Depleted resources are materials of their own
(foliage -> scrub, ore -> slag, ...), so the map alone says what can be
harvested; the tables below turn a material into passability, what it depletes
to, what it grows back into, and which respawn probability it uses. Systems
index these tables instead of branching on materials.
"""
import numpy as np

VOID, LAVA, WATER, GRASS, SCRUB, FOLIAGE, STONE = 0, 1, 2, 3, 4, 5, 6
ORE, SLAG, TREE, STUMP, CRYSTAL, FRAGMENT, HERB, WEEDS, FISH, OCEAN = 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
NUM_MATERIALS = 17

NAMES = ("void", "lava", "water", "grass", "scrub", "foliage", "stone", "ore", "slag", "tree",
         "stump", "crystal", "fragment", "herb", "weeds", "fish", "ocean")

PASSABLE = np.zeros(NUM_MATERIALS, bool)
PASSABLE[[LAVA, GRASS, SCRUB, FOLIAGE, ORE, SLAG, TREE, STUMP, CRYSTAL, FRAGMENT, HERB, WEEDS]] = True

# material -> what harvesting leaves behind (identity for non-resources)
DEPLETES_TO = np.arange(NUM_MATERIALS, dtype=np.uint8)
# material -> what a depleted tile grows back into (identity for everything else)
RESTORES_TO = np.arange(NUM_MATERIALS, dtype=np.uint8)
for full, empty in ((FOLIAGE, SCRUB), (ORE, SLAG), (TREE, STUMP), (CRYSTAL, FRAGMENT),
                    (HERB, WEEDS), (FISH, OCEAN)):
    DEPLETES_TO[full] = empty
    RESTORES_TO[empty] = full

# Resources harvested by standing on the tile (foliage is eaten the same way).
STAND_HARVEST = np.zeros(NUM_MATERIALS, bool)
STAND_HARVEST[[FOLIAGE, ORE, TREE, CRYSTAL, HERB]] = True

# Observation channel "resource": 0 none, 1 harvestable now, 2 depleted (regrowing).
RESOURCE_STATE = np.zeros(NUM_MATERIALS, np.uint8)
RESOURCE_STATE[[FOLIAGE, ORE, TREE, CRYSTAL, HERB, FISH]] = 1
RESOURCE_STATE[[SCRUB, SLAG, STUMP, FRAGMENT, WEEDS, OCEAN]] = 2

# Depleted material -> name of its EnvParams respawn probability.
RESPAWN_PARAM = {SCRUB: "foliage_respawn", SLAG: "ore_respawn", STUMP: "tree_respawn",
                 FRAGMENT: "crystal_respawn", WEEDS: "herb_respawn", OCEAN: "fish_respawn"}

# Move actions: stay, north, south, east, west as (row, col) deltas.
MOVE_DELTAS = np.array([[0, 0], [-1, 0], [1, 0], [0, 1], [0, -1]], np.int32)
NUM_MOVES = 5
