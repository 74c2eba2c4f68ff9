"""The cross-validation runner: a config -> per fold fit -> predict valid and test -> a run folder.

One job per module: :mod:`.loop` (the fold × seed loop, ``run_cv``, ``CVResult``), :mod:`.train`
(``train``: config -> run folder through :class:`~medalist.runs.writer.RunWriter`),
:mod:`.selection` (``model_selection_by``), :mod:`.refit` (the full-data fit), :mod:`.outputs`
(the run's files) and :mod:`.fitting` (model factory and fit context).
"""

from __future__ import annotations

from medalist.cv.runner.loop import CVResult, Event, run_cv
from medalist.cv.runner.train import train

__all__ = ["train", "run_cv", "CVResult", "Event"]
