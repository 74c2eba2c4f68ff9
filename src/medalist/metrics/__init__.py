"""Scoring: the metric registry (:mod:`.registry`) and the built-in competition metrics (:mod:`.scores`).
Imports only :mod:`medalist.core`."""

from medalist.metrics import scores as _scores  # noqa: F401  (registers the built-in metrics)
from medalist.metrics.registry import (
    METRICS,
    Domain,
    Metric,
    get_metric,
    list_metrics,
    register_metric,
)
from medalist.metrics.scores import map_at_k

__all__ = ["Metric", "Domain", "METRICS", "get_metric", "list_metrics", "register_metric", "map_at_k"]
