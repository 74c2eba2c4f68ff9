"""Red-team cases for configs: each is a config (plus files it relies on) that tries to run code on the
machine of whoever trains it. Every case must exit 2 with a clear error, write nothing under the
workspace, and leave its canary untouched (no file created, no module imported).

A case is a dict:
- ``id``, ``attack`` (one line), ``refused_by`` (one line): the row in docs/security.md;
- ``config``: the text of ``configs/evil.yaml`` (``argv`` defaults to ``train configs/evil.yaml``);
- ``files``: more files, relative to the workspace (``../`` reaches outside it); ``links``: symlinks;
- ``workspace``: keys merged into medalist.yaml;
- ``payloads``: file names under the workspace holding a pickle that creates the canary when loaded;
- ``expect``: text the error must contain; ``modules``: module names that must not get imported.
Texts may use ``{canary}`` (the canary file) and ``{outside}`` (a folder next to the workspace).
"""

from __future__ import annotations

FAST = "model: {name: lightgbm, params: {verbosity: -1}, num_boost_round: 5}\nthreads: 1\n"
# A workspace module that leaves a mark when imported (and would make a fine estimator or feature).
EVIL_MOD = (
    "open(r'{canary}', 'w').write('imported')\n"
    "class Model:\n    def fit(self, X, y):\n        return self\n    def predict(self, X):\n        return X[:, 0]\n"
    "def feat(frame, params):\n    return frame\n"
)
EVIL = {"evil_mod.py": EVIL_MOD}
NOT_TRUSTED = ("not trusted", "trust: [evil_mod]", "medalist.yaml")
LOADS = ("can run commands, read files or load code", "nothing was imported")
NOT_MODELLING = ("is not modelling code", "nothing was imported")


def case(**fields) -> dict:
    """One row of the table (keyword arguments read better than a dict literal of 8 keys)."""
    return fields


def model(name: str, params: str = "{}") -> str:
    return f"model: {{name: '{name}', params: {params}}}\nthreads: 1\n"


def custom(function: str) -> str:
    return FAST + f"features:\n  - {{block: custom, function: '{function}'}}\n"


CASES: list[dict] = [
    # ------------------------------------------------------------- loaders of pickles and files
    case(id="cfg-numpy-load-pickle", attack="`sklearn:numpy.load` with `allow_pickle: true` on a planted .npy pickle",
         refused_by="allow-list: numpy is not modelling code, refused before import", payloads=["payload.npy"],
         config=model("sklearn:numpy.load", "{file: payload.npy, allow_pickle: true}"), expect=("numpy.load", *LOADS)),
    case(id="cfg-pandas-read-pickle", attack="`sklearn:pandas.read_pickle` on a planted pickle",
         refused_by="allow-list: pandas is not modelling code", payloads=["payload.pkl"],
         config=model("sklearn:pandas.read_pickle", "{filepath_or_buffer: payload.pkl}"), expect=("pandas.read_pickle", *LOADS)),
    case(id="cfg-torch-load", attack="`sklearn:torch.load` with `weights_only: false` on a planted pickle",
         refused_by="allow-list: torch is not modelling code", payloads=["payload.pt"],
         config=model("sklearn:torch.load", "{f: payload.pt, weights_only: false}"), expect=("torch.load", *LOADS), modules=["torch"]),
    case(id="cfg-joblib-load", attack="`sklearn:joblib.load` on a planted joblib pickle",
         refused_by="allow-list: joblib is not modelling code", payloads=["payload.joblib"],
         config=model("sklearn:joblib.load", "{filename: payload.joblib}"), expect=("joblib.load", *LOADS)),
    case(id="cfg-scipy-loadmat", attack="`sklearn:scipy.io:loadmat` reading a file named in the config",
         refused_by="allow-list: scipy is not modelling code", config=model("sklearn:scipy.io:loadmat", "{file_name: x.mat}"),
         expect=("scipy.io:loadmat", *LOADS)),
    case(id="cfg-pickle-loads", attack="`sklearn:pickle:loads` of the standard library",
         refused_by="standard-library modules are never allowed", config=model("sklearn:pickle:loads", "{data: x}"),
         expect=("pickle:loads", *LOADS)),
    case(id="cfg-sklearn-memory-cache", attack="an allowed estimator with `memory:` pointing at a joblib cache of planted pickles",
         refused_by="estimator parameters that load pickles (`memory`) are refused",
         config=model("sklearn:sklearn.cluster.FeatureAgglomeration", "{memory: cache}"), expect=("params.memory", "pickles")),
    # ------------------------------------------------------------- aliases and re-exports
    case(id="cfg-sklearn-np-alias", attack="`sklearn:sklearn.linear_model:np.load`: numpy reached through an allowed module",
         refused_by="attribute parts naming other modules (np, os, …) are refused before import", payloads=["payload.npy"],
         config=model("sklearn:sklearn.linear_model:np.load", "{file: payload.npy, allow_pickle: true}"), expect=("'np'", *NOT_MODELLING)),
    case(id="cfg-sklearn-externals", attack="`sklearn.externals` (vendored array-API numpy) to reach numpy.load",
         refused_by="`externals` is refused inside allowed libraries", payloads=["payload.npy"],
         config=model("sklearn:sklearn.externals.array_api_compat:numpy.load", "{file: payload.npy, allow_pickle: true}"),
         expect=("'externals'", *NOT_MODELLING)),
    case(id="cfg-sklearn-utils", attack="`sklearn.utils` re-exports (helpers, not estimators)",
         refused_by="`utils` is refused inside allowed libraries", config=model("sklearn:sklearn.utils:resample"),
         expect=("'utils'", *NOT_MODELLING)),
    case(id="cfg-sklearn-datasets-fetch", attack="`sklearn.datasets.fetch_openml`: a network download at model creation",
         refused_by="`datasets` (loaders, fetchers) is refused inside allowed libraries", config=model("sklearn:sklearn.datasets.fetch_openml", "{name: x}"),
         expect=("'datasets'", *NOT_MODELLING)),
    case(id="cfg-sklearn-datasets-attr-chain", attack="`sklearn:datasets.load_svmlight_file`: a loader reached as an attribute chain",
         refused_by="denied parts are checked in the attribute path too", config=model("sklearn:sklearn:datasets.load_svmlight_file", "{f: x}"),
         expect=("'datasets'", *NOT_MODELLING)),
    case(id="cfg-medalist-io-os", attack="`sklearn:medalist.core.io:os.system`: a medalist module that imports os",
         refused_by="medalist is allowed for its models and metrics only; `io` is refused",
         config=model("sklearn:medalist.core.io:os.system", "{command: 'touch {canary}'}"), expect=("'io'", *NOT_MODELLING)),
    case(id="cfg-medalist-core-module", attack="`sklearn:medalist.core.safety:trusted`: medalist code that is not a model",
         refused_by="medalist is allowed for medalist.models and medalist.metrics only", config=model("sklearn:medalist.core.safety:trusted"),
         expect=("not one of the modelling modules", "nothing was imported")),
    case(id="cfg-pydoc-reexport", attack="`sklearn:pydoc:os.system`: os re-exported by a harmless-looking standard module",
         refused_by="standard-library modules are never allowed", config=model("sklearn:pydoc:os.system", "{command: 'touch {canary}'}"),
         expect=("pydoc", *LOADS)),
    case(id="cfg-dunder-globals", attack="`Ridge.__init__.__globals__`: reaching a module's globals through dunders",
         refused_by="private and dunder names are refused", config=model("sklearn:sklearn.linear_model:Ridge.__init__.__globals__"),
         expect=("private or dunder name",)),
    case(id="cfg-xgboost-tracker", attack="`xgboost.tracker`: a socket server inside an allowed library",
         refused_by="`tracker` (and dask/spark/collective back-ends) refused inside allowed libraries",
         config=model("sklearn:xgboost.tracker:RabitTracker", "{n_workers: 1}"), expect=("'tracker'", *NOT_MODELLING)),
    case(id="cfg-timm-load-checkpoint", attack="`timm.models:load_checkpoint` (torch.load of a checkpoint) as a model",
         refused_by="kind check after import: an estimator must be a class with fit and predict/transform",
         config=model("sklearn:timm.models:load_checkpoint", "{checkpoint_path: payload.pt}"), payloads=["payload.pt"],
         expect=("an estimator class", "not an estimator class")),
    case(id="cfg-metric-not-a-metric", attack="`sklearn.metrics.get_scorer` named as a metric (a function, not y_true/y_pred)",
         refused_by="kind check after import: a metric is fn(y_true, y_pred, ...)", workspace={"competition": {"metric": "sklearn.metrics.get_scorer"}},
         config=FAST, expect=("a metric function", "y_true")),
    # ------------------------------------------------------------- commands and code loading
    case(id="cfg-os-system", attack="`sklearn:os:system` with `command: touch canary`",
         refused_by="standard-library modules are never allowed", config=model("sklearn:os:system", "{command: 'touch {canary}'}"),
         expect=("'os'", *LOADS)),
    case(id="cfg-builtins-exec", attack="`sklearn:builtins:exec` with source code as a parameter",
         refused_by="standard-library modules are never allowed",
         config=model("sklearn:builtins:exec", "{source: \"open(r'{canary}', 'w')\"}"), expect=("builtins", *LOADS)),
    case(id="cfg-importlib-import", attack="`sklearn:importlib:import_module` importing a workspace module with side effects",
         refused_by="standard-library modules are never allowed", files=EVIL, config=model("sklearn:importlib:import_module", "{name: evil_mod}"),
         expect=("importlib", *LOADS), modules=["evil_mod"]),
    case(id="cfg-runpy-run-path", attack="`sklearn:runpy:run_path` running a workspace script",
         refused_by="standard-library modules are never allowed", files={"evil.py": EVIL_MOD},
         config=model("sklearn:runpy:run_path", "{path_name: evil.py}"), expect=("runpy", *LOADS)),
    case(id="cfg-custom-subprocess", attack="custom feature block `subprocess:getoutput`",
         refused_by="standard-library modules are never allowed", config=custom("subprocess:getoutput"),
         expect=("features[0].function", *LOADS)),
    case(id="cfg-custom-library-function", attack="custom feature block naming a library function (`sklearn.datasets:fetch_openml`)",
         refused_by="custom feature functions come from trusted modules only", config=custom("sklearn.datasets:fetch_openml"),
         expect=("features[0].function", "'datasets'")),
    case(id="cfg-custom-metric-function", attack="custom feature block naming an allowed metric (`sklearn.metrics:roc_auc_score`)",
         refused_by="custom feature functions come from trusted modules only", config=custom("sklearn.metrics:roc_auc_score"),
         expect=("features[0].function", "must come from a module medalist.yaml trusts", "nothing was imported")),
    # ------------------------------------------------------------- untrusted modules with import side effects
    case(id="cfg-untrusted-module-model", attack="`sklearn:evil_mod:Model`: a workspace module that writes a file when imported",
         refused_by="allow-list: a module not listed under `trust:` in medalist.yaml is never imported", files=EVIL,
         config=model("sklearn:evil_mod:Model"), expect=NOT_TRUSTED, modules=["evil_mod"]),
    case(id="cfg-untrusted-module-custom", attack="custom feature block `evil_mod:feat` from an untrusted workspace module",
         refused_by="allow-list: a module not listed under `trust:` is never imported", files=EVIL,
         config=custom("evil_mod:feat"), expect=("features[0].function", *NOT_TRUSTED), modules=["evil_mod"]),
    case(id="cfg-untrusted-module-metric", attack="metric `evil_mod:feat` from an untrusted workspace module",
         refused_by="allow-list: a module not listed under `trust:` is never imported", files=EVIL,
         workspace={"competition": {"metric": "evil_mod:feat"}}, config=FAST, expect=NOT_TRUSTED, modules=["evil_mod"]),
    case(id="cfg-trust-in-experiment", attack="`trust: [evil_mod]` written into the experiment config itself",
         refused_by="`trust:` is read from medalist.yaml only; anywhere else it is an error", files=EVIL,
         config="trust: [evil_mod]\n" + model("sklearn:evil_mod:Model"), expect=("trust", "medalist.yaml"), modules=["evil_mod"]),
    case(id="cfg-trust-in-base", attack="`trust:` smuggled in through a `base:` file",
         refused_by="`trust:` is read from medalist.yaml only", files={**EVIL, "configs/common.yaml": "trust: [evil_mod]\n"},
         config="base: common.yaml\n" + model("sklearn:evil_mod:Model"), expect=("trust", "medalist.yaml"), modules=["evil_mod"]),
    case(id="cfg-trust-override", attack="`trust=[evil_mod]` as a command-line override",
         refused_by="`trust:` is read from medalist.yaml only", files=EVIL, config=model("sklearn:evil_mod:Model"),
         argv=["train", "configs/evil.yaml", "trust=[evil_mod]"], expect=("override 'trust=[evil_mod]'", "medalist.yaml"), modules=["evil_mod"]),
    case(id="cfg-trust-a-loader", attack="medalist.yaml trusting a loader library (`trust: [numpy]`) to reach numpy.load",
         refused_by="trust entries must be your own modules: standard library and loader libraries are refused",
         workspace={"trust": ["numpy"]}, payloads=["payload.npy"],
         config=model("sklearn:numpy.load", "{file: payload.npy, allow_pickle: true}"), expect=("key 'trust'", "numpy")),
    # ------------------------------------------------------------- YAML tags
    case(id="cfg-yaml-python-object-apply", attack="`!!python/object/apply:os.system` in the config",
         refused_by="YAML is loaded with safe_load (no Python tags)", config="model: !!python/object/apply:os.system ['touch {canary}']\n",
         expect=("valid YAML",)),
    case(id="cfg-yaml-python-name", attack="`!!python/name:os.system` as the model name",
         refused_by="YAML is loaded with safe_load (no Python tags)", config="model: {name: !!python/name:os.system ''}\n",
         expect=("valid YAML",)),
    case(id="cfg-yaml-tag-in-base", attack="a `!!python/object/new:` tag in a `base:` file",
         refused_by="bases are loaded with safe_load too",
         files={"configs/common.yaml": "x: !!python/object/new:subprocess.Popen [['touch', '{canary}']]\n"},
         config="base: common.yaml\n" + FAST, expect=("valid YAML", "common.yaml")),
    # ------------------------------------------------------------- base: chains out of the workspace
    case(id="cfg-base-parent-escape", attack="`base: ../../outside/x.yaml` reading a file outside the workspace",
         refused_by="bases must resolve inside the workspace", files={"../outside/x.yaml": FAST},
         config="base: ../../outside/x.yaml\n", expect=("base", "outside it")),
    case(id="cfg-base-absolute", attack="`base: /abs/path.yaml` (e.g. ~/.kaggle/kaggle.json, which is valid YAML)",
         refused_by="bases must be relative and resolve inside the workspace", files={"../outside/kaggle.json": '{"username": "u", "key": "secret"}'},
         config="base: {outside}/kaggle.json\n" + FAST, expect=("base", "outside it")),
    case(id="cfg-base-symlink", attack="`base: link.yaml` where link.yaml is a symlink to a file outside the workspace",
         refused_by="bases are resolved through links before the check", files={"../outside/x.yaml": FAST},
         links={"configs/link.yaml": "{outside}/x.yaml"}, config="base: link.yaml\n", expect=("base", "outside it")),
]
