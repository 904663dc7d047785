"""agents: policies for nmmo_jax (attentional IO in ``io``, models and distribution helpers in ``models``)."""
from agents.models import (MODELS, FeedForwardPolicy, Policy, RecurrentPolicy, distributions, entropy, greedy_actions, log_prob,
                           make_model, sample_actions)

__all__ = ["MODELS", "Policy", "FeedForwardPolicy", "RecurrentPolicy", "make_model", "distributions",
           "sample_actions", "greedy_actions", "log_prob", "entropy"]
