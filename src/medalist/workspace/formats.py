"""The sample submission's format, recognised from its columns and values and the train target.

Kinds (``SubmissionFormat.kind``):

* ``probabilities`` — one column per class (any common prefix/suffix: ``Status_C``, ``score_0``,
  ``cut_Very_Good``), each mapped to a class label of the train target; binary: one column for the
  positive class (or one per class);
* ``label`` — one column holding the class label (``id,label``);
* ``ranked`` — one column of space-separated labels, best first (MAP@k), ``k`` from the sample;
* ``rle`` — run-length-encoded strings, written as a run precomputed them;
* ``regression`` — one numeric column per target.

``medalist init`` writes what it found to ``medalist.yaml`` (``submission: {format, columns, k}``);
that key overrides detection, e.g. ``submission: {format: probabilities, columns: {Status_C: C}}``.

>>> import polars as pl
>>> s = pl.DataFrame({"id": [1], "Status_C": [0.3], "Status_CL": [0.3], "Status_D": [0.4]})
>>> f = detect_format(s, "id", task="multiclass", targets=["Status"], classes=["C", "CL", "D"])
>>> f.kind, f.mapping
('probabilities', {'Status_C': 'C', 'Status_CL': 'CL', 'Status_D': 'D'})
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from medalist.core.errors import ConfigError, DataError

__all__ = ["KINDS", "SubmissionFormat", "detect_format", "format_metric", "check_metric", "class_labels", "map_columns", "workspace_format", "target_from_prefix"]

KINDS = ("probabilities", "label", "ranked", "rle", "regression")
_KEY = "medalist.yaml: submission"
_RLE = re.compile(r"^\s*(-1|(\d+\s+\d+)(\s+\d+\s+\d+)*)\s*$")  # -1: an empty mask (SIIM)


@dataclass(frozen=True)
class SubmissionFormat:
    """What the sample submission wants: ``kind``, its value ``columns`` (in order) and, per kind,
    ``mapping`` (probabilities: column -> class label; regression: column -> target), ``k`` (ranked)."""

    kind: str
    columns: list[str]
    mapping: dict[str, Any] | None = None
    k: int | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    def as_config(self) -> dict[str, Any]:
        """The ``submission:`` entry of medalist.yaml that pins this format."""
        out: dict[str, Any] = {"format": self.kind}
        if self.mapping is not None and self.kind == "probabilities":
            out["columns"] = dict(self.mapping)
        if self.k is not None:
            out["k"] = self.k
        return out

    def describe(self) -> str:
        """One line: the kind and how columns map, e.g. ``probabilities: Status_C->C, Status_D->D``."""
        if self.kind == "probabilities" and self.mapping:
            pairs = list(self.mapping.items())
            shown = ", ".join(f"{c}->{v}" for c, v in pairs[:8]) + (f", ... ({len(pairs)} columns)" if len(pairs) > 8 else "")
            return f"probabilities: {shown}"
        if self.kind == "ranked":
            return f"ranked: column {self.columns[0]}, top {self.k} labels space-separated"
        return f"{self.kind}: column{'s' if len(self.columns) > 1 else ''} {', '.join(self.columns)}"


def class_labels(train: pl.DataFrame, target: str) -> list:
    """The train target's class labels, sorted (the order runs use for their prediction columns)."""
    return sorted(train.get_column(target).drop_nulls().unique().to_list())


def _norm(x: Any) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(x).lower()).strip("_")


def _common_prefix(names: list[str]) -> str:
    return os.path.commonprefix(names)


def _common_suffix(names: list[str]) -> str:
    return os.path.commonprefix([n[::-1] for n in names])[::-1]


def map_columns(cols: list[str], classes: list) -> dict[str, Any] | None:
    """Each column -> the class label it names once a common prefix/suffix is stripped (exact, then
    ignoring case and punctuation), or None when no stripping pairs the columns one-to-one with classes.

    >>> map_columns(["score_0", "score_1"], [0, 1])
    {'score_0': 0, 'score_1': 1}
    >>> map_columns(["cut_very_good", "cut_fair"], ["Fair", "Very Good"])
    {'cut_very_good': 'Very Good', 'cut_fair': 'Fair'}
    """
    if not cols or len(cols) > len(classes):
        return None
    pre, suf = _common_prefix(cols), _common_suffix(cols)
    for key in (str, _norm):
        by = {}
        for c in classes:
            by.setdefault(key(c), []).append(c)
        if any(len(v) > 1 for v in by.values()):
            continue
        for i in range(len(pre), -1, -1):
            for j in range(len(suf), -1, -1):
                if any(len(c) < i + j for c in cols):
                    continue
                stripped = [key(c[i:len(c) - j]) for c in cols]
                if len(set(stripped)) == len(cols) and all(s in by for s in stripped):
                    return {c: by[s][0] for c, s in zip(cols, stripped)}
    return None


def target_from_prefix(cols: list[str], train_columns: list[str]) -> str | None:
    """The train column that several probability columns are named after (``Status_C, Status_D`` -> ``Status``), or None.

    >>> target_from_prefix(["Status_C", "Status_CL", "Status_D"], ["id", "Bilirubin", "Status"])
    'Status'
    """
    if len(cols) < 2:
        return None
    pre = _common_prefix(cols)
    for n in range(len(pre), 0, -1):
        name = pre[:n].rstrip("_-. ")
        if name in train_columns:
            return name
    return None


def _fix_mapping(cols: list[str], classes: list) -> str:
    pairs = ", ".join(f"{c!r}: {v!r}" for c, v in zip(cols, classes))
    return f"map each column to a class in {_KEY}: {{format: probabilities, columns: {{{pairs}}}}}"


def _probabilities(cols: list[str], classes: list, task: str, file: str) -> SubmissionFormat:
    mapping = map_columns(cols, classes)
    if mapping is None and task == "binary" and len(cols) == 1:
        return SubmissionFormat("probabilities", cols, {cols[0]: classes[-1]},
                                reason=f"one numeric column: the probability of class {classes[-1]!r}")
    if mapping is None or (task == "multiclass" and len(mapping) != len(classes)):
        raise ConfigError(f"{file}: columns {cols}", expected=f"one column per class of the train target ({classes[:12]})",
                          found="columns that do not name the classes once a common prefix/suffix is stripped",
                          fix=_fix_mapping(cols, classes))
    pre = _common_prefix(cols)
    how = f" (prefix {pre!r} stripped)" if pre and not any(str(v) == c for c, v in mapping.items()) else ""
    return SubmissionFormat("probabilities", cols, mapping, reason=f"{len(cols)} numeric columns, one per class{how}")


def _from_config(conf: dict[str, Any], cols: list[str], sample: pl.DataFrame, task: str, targets: list[str],
                 classes: list | None) -> SubmissionFormat:
    kind = conf.get("format")
    mapping = conf.get("columns")
    if kind == "probabilities":
        classes = classes or targets
        if mapping is None:
            f = _probabilities(cols, classes, task, _KEY)
            return SubmissionFormat(f.kind, f.columns, f.mapping, reason=f"{_KEY} (columns: {f.reason})")
        if sorted(mapping) != sorted(cols):
            raise ConfigError(f"{_KEY}.columns", expected=f"exactly the sample submission's columns {cols}", found=f"{sorted(mapping)}",
                              fix=_fix_mapping(cols, classes))
        known = {str(c): c for c in classes}
        bad = [v for v in mapping.values() if str(v) not in known]
        if bad:
            raise ConfigError(f"{_KEY}.columns", expected=f"class labels of the train target ({classes[:12]})", found=f"{bad[:5]}",
                              fix=_fix_mapping(cols, classes))
        return SubmissionFormat("probabilities", cols, {c: known[str(mapping[c])] for c in cols}, reason=f"{_KEY} (columns mapped there)")
    if kind in ("label", "ranked", "rle") and len(cols) != 1:
        raise ConfigError(_KEY, expected=f"format '{kind}' for a sample submission with one column besides the id", found=f"columns {cols}",
                          fix=f"set {_KEY}.format to probabilities or regression, or fix the sample submission")
    k = conf.get("k")
    if kind == "ranked" and k is None:
        k = _max_tokens(sample.get_column(cols[0]))
    if kind == "regression":
        mapping = _regression_mapping(cols, targets, mapping)
    return SubmissionFormat(kind, cols, mapping if kind == "regression" else None, k=k, reason=_KEY)


def _regression_mapping(cols: list[str], targets: list[str], mapping: dict | None) -> dict[str, str]:
    if mapping:
        return {c: str(mapping.get(c, c)) for c in cols}
    if len(cols) == 1:
        return {cols[0]: targets[0]}
    missing = [c for c in cols if c not in targets]
    if missing:
        raise ConfigError(f"sample submission: columns {missing}", expected=f"one column per target ({targets})",
                          found="columns that are not targets",
                          fix=f"init with --target {','.join(cols)}, or map them in {_KEY}: {{format: regression, columns: {{COLUMN: TARGET}}}}")
    return {c: c for c in cols}


def _max_tokens(s: pl.Series) -> int:
    n = s.cast(pl.String).str.split(" ").list.len().max()
    return int(n) if n else 1


def _one_string_column(s: pl.Series, classes: list | None) -> tuple[str, int | None, str]:
    vals = [v for v in s.drop_nulls().cast(pl.String).to_list()]
    toks = [t for v in vals for t in v.split()]
    known = {str(c) for c in classes or []}
    multi = any(len(v.split()) > 1 for v in vals)
    if multi and toks and all(t in known for t in toks):
        k = _max_tokens(s)
        return "ranked", k, f"space-separated class labels, up to {k} per row"
    if vals and all(v.strip() == "" or _RLE.match(v) for v in vals) and (multi or not set(toks) <= known):
        return "rle", None, "run-length-encoded strings (pairs of integers)"
    if vals and set(vals) <= known:
        return "label", None, "one column of class labels"
    raise ConfigError(f"sample submission: column '{s.name}'", expected="class labels, space-separated labels, or RLE strings",
                      found=f"values such as {vals[:3]}",
                      fix=f"name the format in {_KEY}: {{format: label | ranked | rle}}")


def detect_format(sample: pl.DataFrame, id_col: str, *, task: str, targets: list[str], classes: list | None = None,
                  metric_needs: str | None = None, config: dict[str, Any] | None = None,
                  file: str = "sample submission") -> SubmissionFormat:
    """The format ``sample`` asks for (see the module doc); ``config`` (medalist.yaml's ``submission:``) wins.

    ``classes`` are the train target's labels (classification); ``metric_needs`` ("proba"/"label") settles a
    binary column of 0/1 that could hold either. A case it cannot settle is a ConfigError naming the key.
    """
    cols = [c for c in sample.columns if c != id_col]
    if not cols:
        raise DataError(f"{file}", expected=f"a prediction column besides the id '{id_col}'", found=f"columns {sample.columns}")
    if config and config.get("format"):
        return _from_config(config, cols, sample, task, targets, classes)
    if task in ("multilabel", "distribution"):
        labels = targets
        f = _probabilities(cols, labels, "multiclass", file)
        return SubmissionFormat("probabilities", cols, f.mapping, reason=f"one column per {'label' if task == 'multilabel' else 'class'} column")
    first = sample.get_column(cols[0])
    if task == "regression":
        if any(not sample.get_column(c).dtype.is_numeric() for c in cols):
            kind, k, why = _one_string_column(first, None) if len(cols) == 1 else ("", None, "")
            if kind == "rle":
                return SubmissionFormat("rle", cols, reason=why)
            raise ConfigError(f"{file}: columns {cols}", expected="numeric columns for a regression task", found=f"dtypes {[str(sample.schema[c]) for c in cols]}",
                              fix=f"name the format in {_KEY}: {{format: rle}} for RLE strings, or set competition.task")
        return SubmissionFormat("regression", cols, _regression_mapping(cols, targets, None),
                                reason="numeric column" + ("s, one per target" if len(cols) > 1 else ""))
    classes = list(classes or [])
    if len(cols) > 1:
        return _probabilities(cols, classes, task, file)
    if not first.dtype.is_numeric() and first.dtype != pl.Boolean:
        kind, k, why = _one_string_column(first, classes)
        return SubmissionFormat(kind, cols, k=k, reason=why)
    if task == "multiclass":
        return SubmissionFormat("label", cols, reason="one column for several classes: it takes the class label")
    return _binary_numeric(first, classes, metric_needs, cols)


def _binary_numeric(s: pl.Series, classes: list, metric_needs: str | None, cols: list[str]) -> SubmissionFormat:
    vals = s.drop_nulls().cast(pl.Float64).unique().to_list()
    as_labels = set(vals) <= {float(c) for c in classes if isinstance(c, (int, float))} if classes else False
    prob = SubmissionFormat("probabilities", cols, {cols[0]: classes[-1]} if classes else None,
                            reason=f"one numeric column: the probability of class {classes[-1]!r}" if classes else "one numeric column")
    if not as_labels:
        return prob
    if metric_needs == "label":
        return SubmissionFormat("label", cols, reason=f"values {sorted(vals)} are class labels and the metric scores labels")
    note = (f"the sample's values {sorted(vals)} could be labels or probabilities; taken as probabilities "
            f"(labels: --metric accuracy, or {_KEY}: {{format: label}})")
    if metric_needs == "proba":
        return SubmissionFormat("probabilities", cols, prob.mapping, reason=prob.reason + " (the metric scores probabilities)")
    return SubmissionFormat("probabilities", cols, prob.mapping, reason=prob.reason, notes=[note])


def format_metric(fmt: SubmissionFormat, task: str) -> tuple[str | None, str]:
    """The metric that fits ``fmt`` for ``task`` and why; None when the task's default is as good as any."""
    if fmt.kind == "label":
        return "accuracy", "the submission holds class labels, so a label metric (accuracy)"
    if fmt.kind == "ranked":
        return f"map@{fmt.k or 1}", f"the submission ranks up to {fmt.k} labels per row, scored by MAP@{fmt.k}"
    if fmt.kind == "regression":
        return "rmse", "the submission holds numbers, scored by RMSE unless the competition says otherwise"
    if fmt.kind == "probabilities":
        if task == "multiclass":
            return "mlogloss", "the submission holds one probability per class, scored by multiclass log loss"
        if task == "distribution":
            return "kl", "the submission holds a distribution per row, scored by KL divergence"
        return "auc", "the submission holds probabilities, scored by AUC"
    return None, "RLE strings are scored by mean per-image dice (submit --local); the run's CV uses the task's default metric"


def check_metric(fmt: SubmissionFormat, metric, where: str = "competition.metric") -> None:
    """Refuse a metric that contradicts the format (a probability metric for a label submission)."""
    needs = getattr(metric, "needs", None)
    name = getattr(metric, "name", str(metric))
    if fmt.kind in ("label", "ranked") and needs == "proba":
        fix_metric = "accuracy" if fmt.kind == "label" else f"map@{fmt.k}"
        raise ConfigError(where, expected=f"a metric of {'labels' if fmt.kind == 'label' else 'rankings'} for a '{fmt.kind}' submission "
                          f"({fmt.describe()})", found=f"'{name}', which scores probabilities",
                          fix=f"use --metric {fix_metric} (or competition.metric: {fix_metric}); if the sample submission does take "
                              f"probabilities, set {_KEY}: {{format: probabilities}}")


def workspace_format(ws, *, classes: list | None = None, from_config: bool = True) -> SubmissionFormat:
    """The workspace's submission format: ``medalist.yaml``'s ``submission:`` or what the sample submission shows.

    ``classes`` (a run's class labels) saves reading train for them; ``from_config=False`` detects, ignoring the key.
    """
    from medalist.metrics.registry import get_metric
    from medalist.workspace.data import read_table

    comp = ws.competition
    sample = read_table(ws.sample_submission_path, what="sample submission")
    conf = ws.config.submission.model_dump(exclude_none=True) if ws.config.submission is not None and from_config else None
    ranked = bool(conf) and conf.get("format") == "ranked"  # a recommender's train holds events, not labels
    if comp.task in ("binary", "multiclass") and classes is None and not ranked:
        classes = class_labels(read_table(ws.train_path, what="train"), comp.targets[0])
    try:
        needs = get_metric(comp.metric).needs
    except ConfigError:
        needs = None
    return detect_format(sample, comp.id, task=comp.task, targets=comp.targets, classes=classes, metric_needs=needs,
                         config=conf, file=comp.data.sample_submission)
