"""Offline inference packages for code competitions (no internet in the inference notebook).

``medalist package RUN… OUT/`` writes a Kaggle-dataset folder::

    OUT/dataset-metadata.json   Kaggle dataset id/title (``--push`` creates or versions it)
    OUT/inference.py            installs the wheels with pip --no-index, predicts, writes submission.csv
    OUT/requirements.txt        the pinned runtime dependencies (what inference really imports)
    OUT/wheels/*.whl            the medalist wheel and one wheel per runtime dependency
    OUT/competition.json        the competition (id, target, task, metric, file names)
    OUT/runs/<id>/              config.yaml, run.json, metrics.json and the fitted models/

The dependency set is measured, not guessed: the package's prediction is run once at build time in
a child process, the distributions it imported become the requirements, and its predictions must
equal the run's ``test.parquet`` (else the build fails). On Kaggle:
``!python /kaggle/input/<dataset>/inference.py`` (``--input DIR`` when the data is elsewhere).
"""

from medalist.kaggle.package.build import build_package
from medalist.kaggle.package.runtime import (
    PackageError,
    check_packable,
    predict_package,
    run_test_predictions,
)

__all__ = ["build_package", "predict_package", "run_test_predictions", "check_packable", "PackageError"]
