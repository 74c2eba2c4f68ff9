"""Scoring: the metric registry and the competition metrics. Imports only :mod:`medalist.core`."""

from medalist.metrics.library import (
    METRICS,
    Metric,
    get_metric,
    list_metrics,
    map_at_k,
    register_metric,
)

__all__ = ["Metric", "METRICS", "get_metric", "list_metrics", "register_metric", "map_at_k"]
