"""Adapters to other ecosystems: numpy at the edge, one jitted world step inside.

* ``PettingZooEnv``: a ``pettingzoo.ParallelEnv`` over one world (Neural MMO 2's interface).
* ``GymnasiumVectorEnv``: a ``gymnasium.vector.VectorEnv`` whose sub-environments are the agent
  slots of N worlds (PufferLib's layout, for single-policy trainers such as CleanRL's).
* ``to_gymnasium(space)``: an ``nmmo_jax.spaces`` description as a gymnasium space.

They need the ``adapters`` extra (``pip install "nmmo-jax[adapters]"``); importing this package
without it is fine, and using an adapter says what to install.
"""


def __getattr__(name):
    if name == "PettingZooEnv":
        from nmmo_jax.wrappers.pettingzoo import PettingZooEnv
        return PettingZooEnv
    if name == "GymnasiumVectorEnv":
        from nmmo_jax.wrappers.gymnasium import GymnasiumVectorEnv
        return GymnasiumVectorEnv
    if name == "to_gymnasium":
        from nmmo_jax.wrappers._common import to_gymnasium
        return to_gymnasium
    raise AttributeError(f"module 'nmmo_jax.wrappers' has no attribute {name!r}")


__all__ = ["PettingZooEnv", "GymnasiumVectorEnv", "to_gymnasium"]
