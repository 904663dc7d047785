"""The whole world as one pytree: tiles, regrowth timers, entities, tick.

Entities are a struct of arrays over fixed slots, players first
(``0..num_agents-1``) and NPC slots after them; a slot is in play while its
``alive`` flag is set, and every system gates its writes with that flag, so
populations change without shapes changing. Vitals and counters are int32 in
the state (fast on the CPU) and narrowed to int16 only in observations.

``obs_slots`` keeps, for every player, which entity slot each row of its last
observed entity set showed. An ``attack_target`` action names a row of what the
agent saw, so the world resolves it through this table (O(agents x rows),
no search), and NPCs use the same table read backwards to see the players that
see them.
"""
import jax
import jax.numpy as jnp
from flax import struct

NUM_SKILLS = 8  # melee, range, mage, fishing, herbalism, prospecting, carving, alchemy
KIND_PLAYER, KIND_PASSIVE, KIND_NEUTRAL, KIND_AGGRESSIVE = 0, 1, 2, 3
NEVER = 2 ** 30  # a tick that never comes (no regrowth pending, no respawn pending)


@struct.dataclass
class Entities:
    pos: jnp.ndarray          # i32[N, 2] (row, col) in map coordinates
    alive: jnp.ndarray        # bool[N]
    kind: jnp.ndarray         # i32[N] KIND_*
    team: jnp.ndarray         # i32[N]
    health: jnp.ndarray       # i32[N]
    food: jnp.ndarray         # i32[N]
    water: jnp.ndarray        # i32[N]
    time_alive: jnp.ndarray   # i32[N] ticks lived in the current life
    respawn_tick: jnp.ndarray  # i32[N] tick at which a dead slot comes back (NEVER: not at all)
    freeze: jnp.ndarray       # i32[N] ticks left frozen (classic mage hits)
    combat_timer: jnp.ndarray  # i32[N] ticks left in combat status
    gold: jnp.ndarray         # i32[N]
    levels: jnp.ndarray       # i32[N, NUM_SKILLS]
    xp: jnp.ndarray           # i32[N, NUM_SKILLS]
    equipment_level: jnp.ndarray  # i32[N]
    npc_style: jnp.ndarray    # i32[N] NPC attack style 1 melee, 2 range, 3 mage (players: 0, they choose per tick)
    npc_offense: jnp.ndarray  # i32[N] NPC offense, drawn at spawn (players': from skill levels)
    npc_defense: jnp.ndarray  # i32[N] NPC defense, drawn at spawn (players': from skill levels)
    attacker: jnp.ndarray     # i32[N] slot of the entity that last attacked this one (-1: none or forgotten)
    said: jnp.ndarray         # i32[N] comm token said on the last tick (0: silent; NPCs always 0)


@struct.dataclass
class Inventory:
    """Players' 12 inventory slots (SPEC section 7), struct of arrays [A, 12]; item 0 is an empty slot.

    Equipment is not stored apart: an item is equipped where ``equipped`` is
    set, at most one per equipment slot (``items.EQUIP_SLOT``). A listing is
    an item with ``price`` > 0, locked in its seller's slot; ``listed_tick``
    is the tick it was listed on (buyable at ticks listed+1 .. listed+3).
    """
    item: jnp.ndarray         # i32[A, S] item type id (items.py), 0 empty
    level: jnp.ndarray        # i32[A, S] 1..10
    quantity: jnp.ndarray     # i32[A, S] 1, or a stack of ammunition
    equipped: jnp.ndarray     # bool[A, S]
    price: jnp.ndarray        # i32[A, S] listing price 1..99, 0 not listed
    listed_tick: jnp.ndarray  # i32[A, S]


@struct.dataclass
class TaskState:
    """Players' tasks (SPEC section 13, ``nmmo_jax.tasks``), struct of arrays over the player slots.

    ``counters`` are the event counts of the current life (``tasks.counters.COUNTERS``
    names the columns); ``explored`` is a bitmap of hashed tiles the life has
    stood on (``tasks.counters.EXPLORED_WORDS`` words of 32 bits). ``task`` is the
    row of the curriculum drawn at spawn and ``best`` the highest progress reached
    so far, in [0, 1]. They restart at every (re)spawn; with no curriculum they
    stay zero (nothing counts them).
    """
    counters: jnp.ndarray     # i32[A, C]
    explored: jnp.ndarray     # u32[A, W]
    task: jnp.ndarray         # i32[A] curriculum row
    best: jnp.ndarray         # f32[A] best progress of this life's task


def empty_tasks(num_agents: int, num_counters: int, explored_words: int) -> TaskState:
    return TaskState(counters=jnp.zeros((num_agents, num_counters), jnp.int32),
                     explored=jnp.zeros((num_agents, explored_words), jnp.uint32),
                     task=jnp.zeros(num_agents, jnp.int32), best=jnp.zeros(num_agents, jnp.float32))


def empty_inventory(num_agents: int, slots: int) -> Inventory:
    z = jnp.zeros((num_agents, slots), jnp.int32)
    return Inventory(item=z, level=z, quantity=z, equipped=jnp.zeros((num_agents, slots), bool), price=z,
                     listed_tick=z)


@struct.dataclass
class WorldState:
    tiles: jnp.ndarray        # u8[H, W] material ids (tiles.py)
    regrow_tick: jnp.ndarray  # i32[H, W] tick at which a depleted tile grows back (NEVER: none pending)
    entities: Entities
    tick: jnp.ndarray         # i32[] ticks since reset
    total_deaths: jnp.ndarray  # i32[] players died since reset
    obs_slots: jnp.ndarray    # i32[A, K] slot shown in each entity row of each player's last observation (-1: empty)
    inventory: Inventory      # players' items [A, 12]
    market_sales: jnp.ndarray  # i32[160] items sold per (type, level) offer on the last tick
    market_volume: jnp.ndarray  # i32[160] gold paid per offer on the last tick
    item_ledger: jnp.ndarray  # i32[2, 17] item units created / removed per type on the last tick (conservation)
    tasks: TaskState          # players' tasks, event counters and explored tiles


def fresh_entities(n: int, params, *, player: bool, team=0) -> Entities:
    """``n`` slots at the start of a life, the one place an entity's starting values are written.

    A player: full health, food and water, level 1 in every skill, 1 gold,
    nothing equipped. An NPC: ``npc_health``, no food or water, passive
    melee with no power; ``npc.spawn`` then sets its kind, level, style, power
    and gold from where it spawns. ``pos`` is 0; the caller places it.
    ``team``: a scalar or i32[n].
    """
    i32 = lambda v: jnp.full(n, v, jnp.int32)
    health = params.max_health if player else params.npc_health
    return Entities(
        pos=jnp.zeros((n, 2), jnp.int32),
        alive=jnp.ones(n, bool),
        kind=i32(KIND_PLAYER if player else KIND_PASSIVE),
        team=jnp.broadcast_to(jnp.asarray(team, jnp.int32), (n,)),
        health=i32(health),
        food=i32(params.max_food if player else 0),
        water=i32(params.max_water if player else 0),
        time_alive=i32(0),
        respawn_tick=i32(NEVER),
        freeze=i32(0),
        combat_timer=i32(0),
        gold=i32(1 if player else 0),
        levels=jnp.ones((n, NUM_SKILLS), jnp.int32),
        xp=jnp.zeros((n, NUM_SKILLS), jnp.int32),
        equipment_level=i32(0),
        npc_style=i32(0),
        npc_offense=i32(0),
        npc_defense=i32(0),
        attacker=i32(-1),
        said=i32(0),
    )


def write_rows(entities: Entities, start: int, take, new: Entities) -> Entities:
    """Slots ``start .. start + len(take) - 1`` take ``new``'s fields where ``take`` (bool), keep theirs elsewhere.

    The one masked write of whole entities (spawns, respawns): every field is
    written, so a field added later starts fresh without touching the systems.
    """
    take = jnp.asarray(take)
    n = take.shape[0]

    def put(old, value):
        value = jnp.broadcast_to(jnp.asarray(value, old.dtype), old[start:start + n].shape)
        cond = take.reshape(take.shape + (1,) * (value.ndim - 1))
        return old.at[start:start + n].set(jnp.where(cond, value, old[start:start + n]))

    return jax.tree_util.tree_map(put, entities, new)
