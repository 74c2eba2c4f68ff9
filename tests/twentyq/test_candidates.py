"""Candidate list: WordNet parsing, prior, cut-off, recall (held-out, env guess rules), TSV round trip."""

from __future__ import annotations

import numpy as np
import pytest

from medalist.core.errors import DataError
from medalist.twentyq.candidates import (
    WORDNET_NOUNS,
    CandidateList,
    build_candidates,
    recall,
    wordnet_nouns,
)

SAMPLE = """\
  1 This software and database is being provided ...
00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived
03000001 06 n 02 air_compressor 0 compressor 0 000 | a machine
03000002 06 n 01 coffee_maker 0 000 | a kitchen appliance
07000003 13 n 01 apple_pie 0 000 | pie
10000004 18 n 01 plumber 0 000 | a person
10000005 18 n 01 3D 0 000 | a number-like lemma, skipped
"""


@pytest.fixture
def fake_wordnet(tmp_path):
    p = tmp_path / "data.noun"
    p.write_text(SAMPLE)
    return p


def test_wordnet_parse_with_collocations_and_categories(fake_wordnet):
    wn = wordnet_nouns(fake_wordnet)
    assert wn == {"entity": "Tops", "air compressor": "artifact", "compressor": "artifact",
                  "coffee maker": "artifact", "apple pie": "food", "plumber": "person"}


def test_missing_wordnet_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="wordnet-base"):
        wordnet_nouns(tmp_path / "nope" / "data.noun")


def test_build_prior_cutoff_and_recall(fake_wordnet, tmp_path):
    word_frequency = pytest.importorskip("wordfreq", reason="wordfreq (medalist[twentyq]) is not installed").word_frequency

    wn = wordnet_nouns(fake_wordnet)
    full = build_candidates(["Air compressor", "Coffee Makers"], max_candidates=100, wordnet=wn)
    # keywords first; 'coffee maker' is the same keyword for the env (plural), so it is not added twice
    assert full.words[:2] == ["Air compressor", "Coffee Makers"] and "coffee maker" not in full.words
    assert sorted(full.words[2:]) == ["apple pie", "compressor", "entity", "plumber"]
    assert full.prior.sum() == pytest.approx(1.0) and (np.diff(full.prior[2:]) <= 0).all()
    # category weight = (keywords among its lemmas + 1) / (lemmas + 1): artifact 3/4, person 1/2
    pr = dict(zip(full.words, full.prior))
    ratio = (pr["compressor"] / word_frequency("compressor", "en") ** 0.5) / (pr["plumber"] / word_frequency("plumber", "en") ** 0.5)
    assert ratio == pytest.approx((3 / 4) / (1 / 2), rel=1e-3)
    cut = build_candidates(["Air compressor", "Coffee Makers"], max_candidates=4, wordnet=wn)
    assert cut.words == full.words[:4]
    assert recall(full.words, ["air compressors", "The Apple Pie", "Plumber", "Wrench"]) == 0.75
    assert recall(["apple pie"], ["Apple pies", "pie"], [(), ("apple pie",)]) == 1.0
    back = CandidateList.load(full.save(tmp_path / "c.tsv.gz"))
    assert back.words == full.words and np.allclose(back.prior, full.prior, rtol=1e-5)


@pytest.mark.skipif(not WORDNET_NOUNS.exists(), reason=f"WordNet nouns not at {WORDNET_NOUNS} (apt-get install wordnet-base)")
def test_held_out_recall_on_the_public_list():
    pytest.importorskip("wordfreq")
    pytest.importorskip("kaggle_environments", reason="kaggle-environments==1.18.0 is not installed")
    from medalist.twentyq.keywords import env_keywords, split_keywords

    train, held = split_keywords(env_keywords())
    cl = build_candidates([k.keyword for k in train], max_candidates=50_000)
    assert len(cl) == 50_000
    assert not ({k.keyword for k in held} & {w for w, s in zip(cl.words, cl.source) if s == "keyword"})
    r = recall(cl.words, [k.keyword for k in held], [k.alts for k in held])
    assert r >= 0.60, r
