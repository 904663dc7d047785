"""``python -m agents.pretrained export|list``: see ``agents.pretrained``."""
from agents.pretrained import main

if __name__ == "__main__":
    main()
