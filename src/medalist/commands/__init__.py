"""Command groups that live beside their feature areas.

Each module here exposes ``register(app)``, which adds its Typer commands to the main app. Modules
must import heavy libraries (torch, optuna, kaggle-environments, …) inside the command bodies only,
so ``medalist --help`` stays fast.
"""

MODULES = ("ensemble", "twentyq", "recsys", "vision", "kaggle", "signal")
