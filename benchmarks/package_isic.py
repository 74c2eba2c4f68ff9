"""A code-competition package end to end on the ISIC-shaped local competition: size, build and verify times.

The script

1. builds the ISIC-shaped local competition (:func:`medalist.datasets.isic.make_isic_workspace`:
   Fashion-MNIST lesion images + a metadata table grouped by patient, binary target, pAUC);
2. trains the gold-medal shape of pipeline: a timm image run -> LightGBM with ``oof_feature`` (rank),
   ``target_encode``, ``group_agg``-style patient features and ``model_selection_by`` -> XGBoost ->
   a hill-climb blend of the three;
3. packages the blend with its whole graph (``build_package``, wheels for this machine's Python so it
   can be verified here; Kaggle's image has torch, so torch is not shipped) and times it;
4. verifies it (``verify_package``): a fresh venv without medalist and without an index, install from
   the package alone, inference on the workspace's test rows (must equal every run's test.parquet and
   score like ``submit --local``) and on unseen rows (a shuffled subsample).

Prints one table (or ``--json``: one JSON object). Run: ``python benchmarks/package_isic.py``.
Needs the vision extra and Debian's dataset-fashion-mnist.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import log  # noqa: E402


@contextlib.contextmanager
def _inside(root: Path):
    cwd = os.getcwd()
    os.chdir(root)
    try:
        yield
    finally:
        os.chdir(cwd)


def run(test_rows: int, seed: int) -> dict[str, Any]:
    import torch

    from medalist.cv.runner import train
    from medalist.datasets.isic import isic_configs, make_isic_workspace
    from medalist.ensemble import blend
    from medalist.kaggle.package import build_package, verify_package
    from medalist.kaggle.package.wheels import Target

    torch.set_num_threads(1)
    out: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                           "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "isic"
        ws = make_isic_workspace(root, seed=seed)
        cfg = root / "configs"
        t0 = time.perf_counter()
        with _inside(root):
            log("training image -> lgbm -> xgb -> blend")
            image = train(ws, cfg / "image.yaml", tracking=False)
            for name, text in isic_configs(image.id).items():
                (cfg / name).write_text(text)
            lgbm = train(ws, cfg / "lgbm.yaml", tracking=False)
            xgb = train(ws, cfg / "xgb.yaml", tracking=False)
            bl = blend(ws, [lgbm.id, xgb.id, image.id], "hill-climb", tracking=False)
            out["train_seconds"] = round(time.perf_counter() - t0, 1)
            out["cv"] = {r.id: round(r.cv, 5) for r in (image, lgbm, xgb, bl)}
            log("packaging")
            t1 = time.perf_counter()
            target = Target.parse(python=f"{sys.version_info[0]}.{sys.version_info[1]}")
            pkg = build_package(ws, [bl.id], Path(tmp) / "pkg", target=target, test_rows=test_rows)
            out["build_seconds"] = round(time.perf_counter() - t1, 1)
            log("verifying")
            t2 = time.perf_counter()
            ver = verify_package(ws, Path(tmp) / "pkg", work=Path(tmp) / "verify", seed=seed)
            out["verify_seconds"] = round(time.perf_counter() - t2, 1)
    out["package"] = {k: pkg[k] for k in ("order", "bytes", "contents", "preinstalled", "target", "budget")}
    out["package"]["wheels"] = len(pkg["wheels"])
    out["package"]["max_abs_diff"] = pkg["probe"]["max_abs_diff"]
    out["verify"] = {k: ver[k] for k in ("timings", "rows", "scores", "checks")}
    out["verify"]["unseen_max_abs_diff"] = ver["unseen"].get("max_abs_diff_vs_workspace")
    return out


def table(r: dict[str, Any]) -> str:
    p, v = r["package"], r["verify"]
    b, t = p["budget"], v["timings"]
    rows = [
        ("graph (upstream first)", " -> ".join(p["order"])),
        ("CV (pAUC, 0.2 perfect)", ", ".join(f"{k} {s:.4f}" for k, s in r["cv"].items())),
        ("package size", f"{p['bytes'] / 1e6:.1f} MB (" + ", ".join(f"{k} {n / 1e6:.1f}" for k, n in p["contents"].items() if n > 1e5) + ")"),
        ("wheels", f"{p['wheels']} for {p['target']['abi']}; from the image: {', '.join(p['preinstalled']) or 'none'}"),
        ("build (probe x2 + wheels)", f"{r['build_seconds']:.1f} s"),
        ("max |package - train| per run", ", ".join(f"{k} {d:.1g}" for k, d in p["max_abs_diff"].items())),
        ("inference per 1,000 rows", f"{b['seconds_per_1000_rows']:.3f} s + {b['fixed_seconds']:.1f} s fixed ({b['method']}, {b['device']})"),
        (f"predicted for {b['test_rows']:,} rows", f"{b['predicted_seconds'] / 60:.1f} min (limit {b['limit_hours']:g} h)"),
        ("verify total", f"{r['verify_seconds']:.1f} s: venv {t['venv_s']:.1f}, install {t['install_s']:.1f}, "
                         f"inference seen {t['inference_s']['seen']:.1f} / unseen {t['inference_s']['unseen']:.1f}"),
        ("rows seen / unseen", f"{v['rows']['seen']} / {v['rows']['unseen']}"),
        ("scores", json.dumps(v["scores"])),
    ]
    w = max(len(k) for k, _ in rows)
    return "\n".join([f"ISIC-shaped package, {r['date']}, {r['machine']}"] + [f"{k:<{w}}  {val}" for k, val in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test-rows", type=int, default=500_000, help="hidden test rows for the run-time estimate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    res = run(a.test_rows, a.seed)
    print(json.dumps(res) if a.json else table(res))


if __name__ == "__main__":
    main()
