"""Mirroring runs to an experiment tracker (MLflow by default, Weights & Biases), never failing the run.

:mod:`medalist.tracking.base` holds the :class:`~medalist.tracking.base.Tracker` interface, the
registry of backends and the never-fail :func:`~medalist.tracking.base.mirror_run`; the backends
(:mod:`.mlflow`, :mod:`.wandb`) import their libraries only when a run is logged.
"""

from medalist.tracking.base import (
    Tracker,
    get_tracker,
    list_trackers,
    mirror_run,
    register_tracker,
    tracker_for,
)

__all__ = ["Tracker", "get_tracker", "list_trackers", "mirror_run", "register_tracker", "tracker_for"]
