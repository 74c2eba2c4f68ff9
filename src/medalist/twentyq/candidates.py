"""Candidate keywords with a prior, built offline from the public list, WordNet nouns and wordfreq.

* WordNet (Debian ``wordnet-base``: ``/usr/share/wordnet/data.noun``) gives single nouns and multi-word
  collocations ("air_compressor") with their lexicographer category (artifact, food, plant…).
* The category weight is learned from the keywords given to the builder: the rate at which WordNet
  lemmas of that category are keywords (+1 smoothing), so "artifact" outweighs "person".
* ``wordfreq`` supplies how common a phrase is; prior = frequency^alpha × category weight, where
  the training keywords themselves get the largest prior.
* Recall is measured on held-out public keywords (sha1 % 5 == 0) with the environment's own
  guess check (plurals, "the", punctuation), building only from the rest.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .rules import normalize_guess

__all__ = ["WORDNET_NOUNS", "LEXNAMES", "wordnet_nouns", "other_pos_words", "CandidateList", "build_candidates", "recall"]

WORDNET_NOUNS = Path(os.environ.get("MEDALIST_WORDNET_NOUNS", "/usr/share/wordnet/data.noun"))
LEXNAMES = {
    3: "Tops", 4: "act", 5: "animal", 6: "artifact", 7: "attribute", 8: "body", 9: "cognition",
    10: "communication", 11: "event", 12: "feeling", 13: "food", 14: "group", 15: "location",
    16: "motive", 17: "object", 18: "person", 19: "phenomenon", 20: "plant", 21: "possession",
    22: "process", 23: "quantity", 24: "relation", 25: "shape", 26: "state", 27: "substance", 28: "time",
}


def other_pos_words(noun_path: Path | str | None = None) -> set[str]:
    """Lemmas that WordNet also lists as verb, adjective or adverb (their wordfreq count is not a noun's)."""
    base = (Path(noun_path) if noun_path else WORDNET_NOUNS).parent
    out: set[str] = set()
    for name in ("index.verb", "index.adj", "index.adv"):
        p = base / name
        if p.exists():
            with open(p, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if not line.startswith(" "):
                        out.add(line.split(" ", 1)[0].replace("_", " "))
    return out


def wordnet_nouns(path: Path | str | None = None) -> dict[str, str]:
    """lemma (spaces, original case of first sense) → lexicographer category of its first sense."""
    from medalist.core.errors import DataError, MissingDependencyError

    p = Path(path) if path else WORDNET_NOUNS
    if not p.exists():
        if path:
            raise DataError(str(p), expected="WordNet's data.noun file", found="no such file",
                            fix="apt-get install wordnet-base, or pass its data.noun path")
        raise MissingDependencyError("wordnet-base (apt)", "twentyq", purpose=f"WordNet nouns at {p}")
    out: dict[str, str] = {}
    with open(p, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith(" ") or not line.strip():
                continue
            parts = line.split(" ")
            try:
                lex = int(parts[1])
                cnt = int(parts[3], 16)
            except (IndexError, ValueError):
                continue
            for i in range(cnt):
                word = parts[4 + 2 * i].split("(")[0].replace("_", " ")
                if word and word not in out and not any(ch.isdigit() for ch in word):
                    out[word] = LEXNAMES.get(lex, "other")
    return out


@dataclass
class CandidateList:
    words: list[str]
    prior: np.ndarray
    source: list[str]    # "keyword" or the WordNet category

    def __len__(self) -> int:
        return len(self.words)

    def save(self, path: Path | str) -> Path:
        """Tab-separated ``word<TAB>prior<TAB>source``, highest prior first."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        import gzip

        tmp = path.with_name(path.name + ".tmp")
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(tmp, "wt", encoding="utf-8") as fh:
            for w, p, s in zip(self.words, self.prior, self.source):
                fh.write(f"{w}\t{p:.6g}\t{s}\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> "CandidateList":
        import gzip

        words, prior, source = [], [], []
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                w, p, s = line.rstrip("\n").split("\t")
                words.append(w)
                prior.append(float(p))
                source.append(s)
        return cls(words, np.asarray(prior), source)


def _freq(words: list[str]) -> np.ndarray:
    from wordfreq import word_frequency

    return np.array([word_frequency(w, "en") for w in words])


def build_candidates(keywords: list[str], *, max_candidates: int = 50_000, alpha: float = 0.5,
                     wordnet: dict[str, str] | None = None, other_pos: set[str] | None = None,
                     pos_penalty: float = 1.0, keyword_boost: float = 10.0) -> CandidateList:
    """Candidates = the given keywords + WordNet nouns, cut to the ``max_candidates`` highest priors.

    prior(w) = (wordfreq(w) + 1e-9)^alpha × weight(category(w)); weight(c) = (#keywords that are
    WordNet lemmas of category c + 1) / (#lemmas of c + 1); given keywords get ``keyword_boost`` × the
    largest WordNet prior. Lemmas that are also verbs/adjectives/adverbs ("can",
    "well") or of two letters at most can be down-weighted by ``pos_penalty`` (off by default: on the
    inner validation split it lowered recall from 0.667 to 0.649).
    """
    wn = wordnet_nouns() if wordnet is None else wordnet
    other = (other_pos_words() if pos_penalty != 1.0 else set()) if other_pos is None else other_pos
    norm_kw = {v for k in keywords for v in _variants(normalize_guess(k))}
    lemmas = list(wn)
    cats = [wn[w] for w in lemmas]
    is_kw = np.array([normalize_guess(w) in norm_kw for w in lemmas])
    cat_names = sorted(set(cats))
    cat_idx = np.array([cat_names.index(c) for c in cats])
    hits = np.bincount(cat_idx, weights=is_kw.astype(float), minlength=len(cat_names))
    sizes = np.bincount(cat_idx, minlength=len(cat_names))
    weight = (hits + 1.0) / (sizes + 1.0)
    penal = np.array([pos_penalty if (w.lower() in other or len(w) <= 2) else 1.0 for w in lemmas])
    prior = (_freq(lemmas) + 1e-9) ** alpha * weight[cat_idx] * penal
    seen: dict[str, int] = {}
    words, priors, sources = [], [], []
    top = float(prior.max()) if len(prior) else 1.0
    for k in keywords:  # public keywords first, with the largest prior
        n = normalize_guess(k)
        if n and n not in seen:
            seen.update(dict.fromkeys(_variants(n), len(words)))
            words.append(k)
            priors.append(keyword_boost * top)
            sources.append("keyword")
    for i in np.argsort(-prior, kind="stable"):
        if len(words) >= max_candidates:
            break
        n = normalize_guess(lemmas[i])
        if not n or n in seen or len(lemmas[i]) > 60:
            continue
        seen.update(dict.fromkeys(_variants(n), len(words)))
        words.append(lemmas[i])
        priors.append(float(prior[i]))
        sources.append(cats[i])
    p = np.asarray(priors)
    return CandidateList(words, p / p.sum(), sources)


def _variants(n: str) -> list[str]:
    """Normalised forms the environment accepts for the same keyword (plural tolerance)."""
    out = [n, n + "s", n + "es"]
    if len(n) > 3 and n.endswith("s"):
        out.append(n[:-1])
    if len(n) > 4 and n.endswith("es"):
        out.append(n[:-2])
    return out


def recall(candidates: list[str], targets, alts=None) -> float:
    """Share of ``targets`` the environment would accept some candidate for (plural-tolerant).

    >>> recall(["apron", "cat"], ["Aprons", "Dog"])
    0.5
    """
    keys = set()
    for c in candidates:
        keys.update(_variants(normalize_guess(c)))
    hit = 0
    alts = alts or [()] * len(targets)
    for t, a in zip(targets, alts):
        if any(normalize_guess(x) in keys for x in (t, *a)):
            hit += 1
    return hit / len(targets) if targets else math.nan
