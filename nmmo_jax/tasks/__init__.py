"""Tasks (SPEC section 13): event counters, the predicate table, curricula and the task reward, compiled.

``counters``: per-life event counts tallied from the systems' reports;
``predicates``: the one table of progress functions; ``curriculum``: YAML
curricula read into constant tables; ``system``: the once-a-tick update
(draw at spawn, measure, pay, end) and the observation's task descriptor.
A world has tasks when ``env.curriculum`` names a curriculum.
"""
from nmmo_jax.tasks.counters import COUNTERS
from nmmo_jax.tasks.curriculum import Curriculum, load_curriculum
from nmmo_jax.tasks.predicates import PREDICATES

__all__ = ["COUNTERS", "Curriculum", "PREDICATES", "load_curriculum"]
