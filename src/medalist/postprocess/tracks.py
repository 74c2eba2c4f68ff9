"""Labels of externally tracked objects onto detected boxes, frame by frame, smoothed over time (NFL helmets).

Every frame, the boxes of a detector are matched one-to-one to the tracked objects of that frame
(a tracking system's positions, already projected into the image) by the Hungarian algorithm on the
distance between box centre and tracked point (:func:`~medalist.postprocess.assign.assign`, with
``max_dist`` leaving far boxes unlabelled). One frame alone is noisy — two players close together
swap. Temporal smoothing fixes that: when the boxes carry a detection track (``smooth_by``, the id
an IoU/deepsort tracker gives the same helmet across frames), each box takes the label its track
was assigned most often within ``window`` frames around it, and the frame is matched once more on
those votes so a label is still used once per frame.

>>> boxes = pl.DataFrame({"frame": [0, 0], "x": [0.0, 50.0], "y": [0.0, 0.0], "w": [10.0, 10.0], "h": [10.0, 10.0]})
>>> tracks = pl.DataFrame({"frame": [0, 0], "label": ["H1", "V2"], "x": [54.0, 6.0], "y": [4.0, 6.0]})
>>> assign_tracks(boxes, tracks)["label"].to_list()
['V2', 'H1']
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl

from medalist.core.errors import DataError
from medalist.postprocess.assign import assign

__all__ = ["assign_tracks"]


def _check(frame: pl.DataFrame, cols: list[str], source: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(source, expected="columns " + ", ".join(cols), found=f"no {', '.join(missing)} (columns: {', '.join(frame.columns)})")


def _validate(boxes: pl.DataFrame, tracks: pl.DataFrame, keys: list[str], smooth_by: str | None, sources: tuple[str, str]) -> None:
    _check(boxes, [*keys, "x", "y", "w", "h", *([smooth_by] if smooth_by else [])], sources[0])
    _check(tracks, [*keys, "label", "x", "y"], sources[1])
    bad = boxes.with_row_index("_row").filter((pl.col("w") <= 0) | (pl.col("h") <= 0) | pl.col("w").is_null() | pl.col("h").is_null())
    if bad.height:
        r = bad.row(0, named=True)
        raise DataError(f"{sources[0]}: row {r['_row'] + 1}", expected="a positive width and height (x, y, w, h boxes)",
                        found=f"w={r['w']}, h={r['h']} ({bad.height} such rows)")
    dup = tracks.group_by([*keys, "label"]).len().filter(pl.col("len") > 1)
    if dup.height:
        r = dup.row(0, named=True)
        raise DataError(sources[1], expected="one position per tracked label and frame",
                        found=f"label {r['label']} {r['len']} times in frame " + ", ".join(str(r[k]) for k in keys))


def _match(b: pl.DataFrame, t: pl.DataFrame | None, max_dist: float | None) -> list:
    if t is None or t.height == 0:
        return [None] * b.height
    cx = b["x"].to_numpy() + b["w"].to_numpy() / 2
    cy = b["y"].to_numpy() + b["h"].to_numpy() / 2
    d = np.hypot(cx[:, None] - t["x"].to_numpy()[None], cy[:, None] - t["y"].to_numpy()[None])
    a = assign(d, max_cost=max_dist)
    out: list = [None] * b.height
    labels = t["label"].to_list()
    for r, c in zip(a.rows, a.cols, strict=True):
        out[int(r)] = labels[int(c)]
    return out


def _votes(frame: pl.DataFrame, keys: list[str], order: str, smooth_by: str, window: int) -> list[Counter]:
    """Per box: the raw labels of its detection track within ``window`` frames around it."""
    half = window // 2
    group = [k for k in keys if k != order] + [smooth_by]
    votes: list[Counter] = [Counter() for _ in range(frame.height)]
    for _, g in frame.group_by(group):
        f, lab, row = g[order].to_numpy(), g["label_raw"].to_list(), g["_row"].to_list()
        for i in range(g.height):
            near = np.flatnonzero(np.abs(f - f[i]) <= half)
            votes[row[i]] = Counter(lab[j] for j in near if lab[j] is not None)
    return votes


def assign_tracks(boxes: pl.DataFrame, tracks: pl.DataFrame, *, frame: str = "frame", video: str | None = None,
                  smooth_by: str | None = None, window: int = 9, max_dist: float | None = None,
                  sources: tuple[str, str] = ("boxes", "tracks")) -> pl.DataFrame:
    """``boxes`` (``[video], frame, x, y, w, h``) with ``label_raw`` (the per-frame Hungarian label of
    the nearest tracked object in ``tracks``: ``[video], frame, label, x, y``) and ``label`` (smoothed
    over ``window`` frames of the ``smooth_by`` detection track when given, else ``label_raw``).
    Boxes left unmatched (more boxes than objects, or farther than ``max_dist`` pixels) get null."""
    keys = ([video] if video else []) + [frame]
    _validate(boxes, tracks, keys, smooth_by, sources)
    b = boxes.with_row_index("_row")
    tgroups = {k: g for k, g in tracks.group_by(keys)}
    raw: list = [None] * b.height
    for k, g in b.group_by(keys):
        for r, lab in zip(g["_row"].to_list(), _match(g, tgroups.get(k), max_dist), strict=True):
            raw[r] = lab
    dtype = tracks.schema["label"]
    b = b.with_columns(pl.Series("label_raw", raw, dtype=dtype))
    if not smooth_by:
        return b.drop("_row").with_columns(pl.col("label_raw").alias("label"))
    votes = _votes(b, keys, frame, smooth_by, window)
    final: list = [None] * b.height
    for k, g in b.group_by(keys):
        t = tgroups.get(k)
        if t is None:
            continue
        labels, rows = t["label"].to_list(), g["_row"].to_list()
        score = np.array([[votes[r].get(lab, 0) for lab in labels] for r in rows], float)
        a = assign(score, maximize=True, max_cost=0.5)  # a label no vote supports is never forced
        for r, c in zip(a.rows, a.cols, strict=True):
            final[rows[int(r)]] = labels[int(c)]
    return b.drop("_row").with_columns(pl.Series("label", final, dtype=dtype))
