"""Offline inference packages for code competitions (no internet in the inference notebook).

``medalist package RUN… OUT/`` writes a Kaggle-dataset folder::

    OUT/dataset-metadata.json   Kaggle dataset id/title (``--push`` creates or versions it)
    OUT/inference.py            installs the wheels with pip --no-index, predicts, writes submission.csv
    OUT/requirements.txt        the pinned runtime dependencies (what inference really imports)
    OUT/wheels/*.whl            the medalist wheel and one wheel per runtime dependency
    OUT/package.json            the runs, their graph (upstream first), the workspace settings inference rebuilds
    OUT/workspace/              folds.parquet and joined tables, as in the workspace
    OUT/runs/<id>/              config.yaml, run.json, metrics.json, oof.parquet and the fitted models/ of every
                                run of the graph (oof_feature runs, blend and stack members, transitively)

The dependency set is measured, not guessed: the package's prediction is run once at build time in
a child process, the distributions it imported become the requirements, and its predictions of every
run of the graph must equal that run's ``test.parquet`` (else the build fails). On Kaggle:
``!python /kaggle/input/<dataset>/inference.py`` (``--input DIR`` when the data is elsewhere).
"""

from medalist.kaggle.package.build import build_package, collect_graph
from medalist.kaggle.package.runtime import PackageError, predict_package


def verify_package(ws, pkg, **kw):
    """See :func:`medalist.kaggle.package.verify.verify_package` (imported on use)."""
    from medalist.kaggle.package.verify import verify_package as _verify

    return _verify(ws, pkg, **kw)


__all__ = ["build_package", "collect_graph", "predict_package", "verify_package", "PackageError"]
