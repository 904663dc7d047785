"""Train agents with PPO: ``python train.py [--config=configs/small.yaml] [--key=value ...]``.

The design card's entry point in a checkout; the same program is ``nmmo-train``
(and ``python -m agents.train``) once the package is installed. See
``agents/train.py``.
"""
from agents.train import main

if __name__ == "__main__":
    main()
