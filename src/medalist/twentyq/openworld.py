"""Open-world candidates: keywords never seen, every surface form grouped, a prior fitted on a split.

The closed-world bench plays the public keywords with those keywords as the candidate list. Here the
list is built *without* the keywords being played (the held-out split ``sha1 % 5 == 0`` or a user's
keyword file) from:

* WordNet noun lemmas, collocations included ("air compressor");
* noun bigrams of WordNet's own glosses and examples (a small offline corpus of real compounds:
  "exit sign", "car seat");
* compounds formed from frequent head nouns: the last words of the training keywords' multi-word
  entries ("holder", "sign", "machine") after the most frequent single nouns ("cup holder").

Each candidate is a *group* of the surface forms the keyword could be written as (space / hyphen /
joined, singular / plural of the last word): alphabetical questions are answered on the keyword's own
string, so "Tool Box" must be reachable though the lemma is "toolbox". The guesser keeps one entry per
form (prior = group prior × a form share fitted on the training keywords) and guesses the group of
highest posterior mass.

Prior: a logistic model on features of each group (wordfreq of the phrase, its head and first word;
word count; source; the rate at which the training keywords use the group's WordNet category and its
head noun), fitted with the rates taken from one part of the training keywords and the labels from the
other — never a boost of the public keywords themselves.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .rules import normalize_guess
from .surface import _WORD, FORMS, _form_of, plural, read_keyword_file, surface_forms

__all__ = [
    "FORMS",
    "OpenWorldList",
    "build_open_world",
    "gloss_bigrams",
    "head_compounds",
    "open_recall",
    "plural",
    "read_keyword_file",
    "surface_forms",
]

# ---------------------------------------------------------------------------------- candidate sources
def _wordnet_dir(path: Path | str | None) -> Path:
    from .candidates import WORDNET_NOUNS

    return (Path(path) if path else WORDNET_NOUNS).parent


def gloss_bigrams(wordnet_dir: Path | str, nouns: set[str], modifiers: set[str]) -> dict[str, int]:
    """Counts of "modifier noun" bigrams in WordNet's glosses and examples (all parts of speech)."""
    counts: dict[str, int] = {}
    for name in ("data.noun", "data.verb", "data.adj", "data.adv"):
        p = Path(wordnet_dir) / name
        if not p.exists():
            continue
        with open(p, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(" "):
                    continue
                _, _, gloss = line.partition("|")
                toks = _WORD.findall(gloss.lower())
                for a, b in itertools.pairwise(toks):
                    if b in nouns and a in modifiers and a != b:
                        key = a + " " + b
                        counts[key] = counts.get(key, 0) + 1
    return counts


def head_compounds(heads: list[str], modifiers: list[str]) -> list[str]:
    """Every "modifier head" for the given head nouns and modifier nouns.

    >>> head_compounds(["holder"], ["cup", "holder"])
    ['cup holder']
    """
    return [f"{m} {h}" for h in heads for m in modifiers if m != h]


# ---------------------------------------------------------------------------------- the list
@dataclass
class OpenWorldList:
    """Candidate groups (display word, prior, source) and their surface-form entries."""

    words: list[str]
    prior: np.ndarray
    source: list[str]
    form_share: dict[str, float] = field(default_factory=dict)
    splits: list[str | None] | None = None  # parts of one-word compounds ("tool box" for "toolbox")

    def __len__(self) -> int:
        return len(self.words)

    def head(self, n: int) -> OpenWorldList:
        return OpenWorldList(self.words[:n], self.prior[:n] / self.prior[:n].sum(), self.source[:n], self.form_share,
                             None if self.splits is None else self.splits[:n])

    def split(self, g: int) -> str | None:
        return None if self.splits is None else self.splits[g]

    def entries(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(surface strings, their prior, group index of each): every form once per group."""
        share = self.form_share or {"base": 1.0}
        words, pri, grp = [], [], []
        for g, (w, p) in enumerate(zip(self.words, self.prior)):
            forms = surface_forms(w, self.split(g))
            kinds = list(forms.values())
            weight = {k: share.get(k, 0.0) / kinds.count(k) for k in set(kinds)}  # a kind's share split among its strings
            z = sum(weight[k] for k in kinds) or 1.0
            for s, k in forms.items():
                if weight[k] > 0:
                    words.append(s)
                    pri.append(p * weight[k] / z)
                    grp.append(g)
        pr = np.asarray(pri)
        return words, pr / pr.sum(), np.asarray(grp, dtype=np.int64)


def _wf(words: list[str]) -> np.ndarray:
    from wordfreq import word_frequency

    return np.array([word_frequency(w, "en") for w in words])


def _split_part(keyword: str) -> int:
    return int(hashlib.sha1(keyword.lower().encode("utf-8")).hexdigest(), 16) % 2


def _variant_index(words: list[str], splits=None) -> dict[str, int]:
    """Normalised string (and its plural variants) → first group that the environment would accept."""
    from .candidates import _variants

    idx: dict[str, int] = {}
    for g, w in enumerate(words):
        for s in surface_forms(w, None if splits is None else splits[g]):
            for v in _variants(normalize_guess(s)):
                idx.setdefault(v, g)
    return idx


def match_groups(words: list[str], keywords: list[str], alts=None, splits=None) -> np.ndarray:
    """Group index matching each keyword (or one of its alternatives), −1 when none does."""
    idx = _variant_index(words, splits)
    alts = alts or [()] * len(keywords)
    out = []
    for k, a in zip(keywords, alts):
        g = -1
        for x in (k, *a):
            n = normalize_guess(x)
            if n in idx:
                g = idx[n]
                break
        out.append(g)
    return np.asarray(out, dtype=np.int64)


def open_recall(words: list[str], keywords: list[str], alts=None) -> float:
    """Share of ``keywords`` some group of ``words`` answers (any surface form, env's guess check).

    >>> open_recall(["tool box", "mask"], ["Toolbox", "Masks", "Spoon"])
    0.6666666666666666
    """
    if not keywords:
        return math.nan
    return float((match_groups(words, keywords, alts) >= 0).mean())


def _pool(train: list[str], wordnet_path, n_modifiers: int, n_heads: int, n_split: int = 10_000,
          n_noun_heads: int = 0, n_adjectives: int = 0) -> tuple[list[str], list[str], dict]:
    """Candidate phrases (lowercase, deduplicated by the env's normalisation) and their source."""
    from .candidates import wordnet_nouns

    wn = wordnet_nouns(wordnet_path)
    lex = {}
    for w, c in wn.items():
        lex.setdefault(w.lower(), c)
    singles = [w for w in lex if " " not in w and "-" not in w and w.isalpha() and len(w) > 2]
    f = _wf(singles)
    order = np.argsort(-f, kind="stable")
    modifiers = [singles[i] for i in order[:n_modifiers]]
    noun_set = set(singles)
    bigrams = gloss_bigrams(_wordnet_dir(wordnet_path), noun_set, set(modifiers))
    heads: dict[str, int] = {}
    for k in train:
        parts = k.lower().split()
        if len(parts) > 1:
            heads[parts[-1]] = heads.get(parts[-1], 0) + 1
    top_heads = sorted(heads, key=lambda h: (-heads[h], h))[:n_heads]
    if n_noun_heads:  # the most frequent artifact/food nouns as heads too ("table", "camera")
        art = [w for w in (singles[i] for i in order) if lex.get(w) in ("artifact", "food")]
        top_heads += [h for h in art[:n_noun_heads] if h not in set(top_heads)]
    mods = modifiers[: n_modifiers // 2]
    if n_adjectives:  # frequent adjectives as modifiers ("portable speaker", "electric scooter")
        adj = sorted(w for w in other_pos_adjectives(_wordnet_dir(wordnet_path)) if w.isalpha() and len(w) > 3)
        fa = _wf(adj)
        mods = mods + [adj[i] for i in np.argsort(-fa, kind="stable")[:n_adjectives] if adj[i] not in noun_set]
    phrases: list[str] = []
    source: list[str] = []
    seen: set[str] = set()

    def add(p: str, s: str) -> None:
        n = normalize_guess(p)
        if n and n not in seen and len(p) <= 60 and not any(ch.isdigit() for ch in p):
            seen.add(n)
            phrases.append(p)
            source.append(s)

    for w, c in lex.items():
        add(w, c)
    for b in bigrams:
        add(b, "gloss")
    for c in head_compounds(top_heads, mods):
        add(c, "compound")
    from .wordnet import WordNet

    wnet = WordNet(str(_wordnet_dir(wordnet_path)))
    common = {singles[i]: float(f[i]) for i in order[:n_split]}
    splits = [split_compound(p, common) if " " not in p and "-" not in p else None for p in phrases]
    anc = []
    for p in phrases:  # the hypernym closure of the first sense (a compound's head when it is unknown)
        ss, _ = wnet.senses(p)
        anc.append(wnet.closure(ss[0]) if ss else frozenset())
    return phrases, source, {"lex": lex, "bigrams": bigrams, "heads": heads, "splits": splits, "anc": anc}


def other_pos_adjectives(wordnet_dir) -> list[str]:
    """Single-word adjectives of WordNet's index.adj."""
    p = Path(wordnet_dir) / "index.adj"
    if not p.exists():
        return []
    with open(p, encoding="utf-8", errors="replace") as fh:
        return [line.split(" ", 1)[0] for line in fh if not line.startswith(" ") and "_" not in line.split(" ", 1)[0]]


def split_compound(word: str, common: dict[str, float]) -> str | None:
    """"tool box" for "toolbox": the split into two common nouns (≥ 3 letters each) of highest
    lower frequency, or None.

    >>> split_compound("toolbox", {"tool": 1e-4, "box": 1e-4, "too": 1e-3, "lbox": 1e-9})
    'tool box'
    """
    best, score = None, 0.0
    for i in range(3, len(word) - 2):
        a, b = word[:i], word[i:]
        if a in common and b in common and min(common[a], common[b]) > score:
            best, score = f"{a} {b}", min(common[a], common[b])
    return best


def _features(phrases: list[str], source: list[str], info: dict, rate_keywords: list[str]) -> np.ndarray:
    """Per-phrase features; the category/head rates come from ``rate_keywords`` only."""
    lex, bigrams = info["lex"], info["bigrams"]
    heads = [p.split()[-1] for p in phrases]
    firsts = [p.split()[0] for p in phrases]
    uniq = sorted(set(heads) | set(firsts))
    uf = dict(zip(uniq, _wf(uniq)))
    wf_phrase = _wf(phrases)
    kw_norm = {normalize_guess(k) for k in rate_keywords}
    kw_heads: dict[str, int] = {}
    for k in rate_keywords:
        h = k.lower().split()[-1]
        kw_heads[h] = kw_heads.get(h, 0) + 1
    cats = [lex.get(p, s if s in ("gloss", "compound") else "other") for p, s in zip(phrases, source)]
    cat_names = sorted(set(cats))
    ci = np.array([cat_names.index(c) for c in cats])
    hit = np.array([normalize_guess(p) in kw_norm for p in phrases], dtype=float)
    cat_rate = (np.bincount(ci, weights=hit, minlength=len(cat_names)) + 1.0) / (np.bincount(ci, minlength=len(cat_names)) + 50.0)
    n_head: dict[str, int] = {}
    for h in heads:
        n_head[h] = n_head.get(h, 0) + 1
    head_rate = np.array([(kw_heads.get(h, 0) + 0.1) / (n_head[h] + 10.0) for h in heads])
    nw = np.array([len(p.split()) for p in phrases])
    # the most enriched WordNet ancestor: max over the hypernyms a of log((keywords under a + 0.1)/(phrases under a + 10))
    anc = info["anc"]
    size: dict[int, int] = {}
    for a in anc:
        for x in a:
            size[x] = size.get(x, 0) + 1
    kw_anc: dict[int, int] = {}
    for i in np.flatnonzero(hit):
        for x in anc[i]:
            kw_anc[x] = kw_anc.get(x, 0) + 1
    enr = np.array([max((math.log((kw_anc.get(x, 0) + 0.1) / (size[x] + 10.0)) for x in a), default=math.log(0.01))
                    for a in anc])
    X = np.column_stack([
        np.log10(wf_phrase + 1e-9),
        np.log10(np.array([uf[h] for h in heads]) + 1e-9),
        np.log10(np.array([uf[f] for f in firsts]) + 1e-9),
        (nw == 1), (nw == 2), (nw >= 3),
        np.array([s == "gloss" for s in source]), np.array([s == "compound" for s in source]),
        np.log1p(np.array([bigrams.get(p, 0) for p in phrases])),
        np.log(cat_rate[ci]),
        np.log(head_rate),
        np.array([p in lex for p in phrases]),
        enr,
    ]).astype(float)
    return X


def build_open_world(train: list[str], *, wordnet_path: Path | str | None = None, n_modifiers: int = 2000,
                     n_heads: int = 150, n_noun_heads: int = 0, n_adjectives: int = 0,
                     max_candidates: int | None = None, progress=None) -> tuple[OpenWorldList, dict]:
    """Groups from WordNet + gloss bigrams + head compounds, prior fitted on a split of ``train``.

    ``train`` are the keywords the builder may use (never the ones to be played). Returns the list,
    highest prior first (all groups unless ``max_candidates``), and a fit report.
    """
    from sklearn.linear_model import LogisticRegression

    log = progress or (lambda s: None)
    phrases, source, info = _pool(train, wordnet_path, n_modifiers, n_heads, n_noun_heads=n_noun_heads,
                                  n_adjectives=n_adjectives)
    log(f"pool: {len(phrases):,} phrases ({sum(s == 'gloss' for s in source):,} gloss bigrams, "
        f"{sum(s == 'compound' for s in source):,} head compounds)")
    part_a = [k for k in train if _split_part(k) == 0]
    part_b = [k for k in train if _split_part(k) == 1]
    # fit: rates from part A, labels = part B's keywords (and the reverse), pooled
    Xs, ys = [], []
    for rate, lab in ((part_a, part_b), (part_b, part_a)):
        X = _features(phrases, source, info, rate)
        y = np.zeros(len(phrases))
        g = match_groups(phrases, lab)
        y[g[g >= 0]] = 1.0
        Xs.append(X)
        ys.append(y)
    X, y = np.vstack(Xs), np.concatenate(ys)
    mu, sd = X.mean(0), X.std(0) + 1e-9
    clf = LogisticRegression(C=1.0, max_iter=2000, class_weight=None)
    clf.fit((X - mu) / sd, y)
    Xf = _features(phrases, source, info, train)
    score = clf.decision_function((Xf - mu) / sd)
    prior = np.exp(score - score.max())
    order = np.argsort(-prior, kind="stable")
    if max_candidates:
        order = order[:max_candidates]
    words = [phrases[i] for i in order]
    pr = prior[order]
    splits_all = info["splits"]
    share = _form_shares(train, phrases, splits_all)
    report = {"pool": len(phrases), "fit_positives": int(y.sum()), "coef": dict(zip(
        ["log_wf", "log_wf_head", "log_wf_first", "one_word", "two_words", "three_plus", "gloss", "compound",
         "gloss_count", "cat_rate", "head_rate", "in_wordnet", "ancestor_rate"], np.round(clf.coef_[0], 3).tolist())),
        "form_share": share}
    return OpenWorldList(words, pr / pr.sum(), [source[i] for i in order], share, [splits_all[i] for i in order]), report


def _form_shares(train: list[str], phrases: list[str], splits) -> dict[str, float]:
    """How often the training keywords are written in each form of the group they match (+0.5 smoothing)."""
    g = match_groups(phrases, train, splits=splits)
    counts = dict.fromkeys(FORMS, 0.5)
    for k, gi in zip(train, g):
        if gi >= 0:
            counts[_form_of(k, phrases[gi], splits[gi])] += 1
    tot = sum(counts.values())
    return {k: v / tot for k, v in counts.items()}


def cached_open_world(train: list[str], *, wordnet_path: Path | str | None = None, progress=None) -> OpenWorldList:
    """:func:`build_open_world` over every group, cached on disk (keyed by the training keywords)."""
    import gzip
    import json

    from .assemble import cache_dir

    key = hashlib.sha1(json.dumps(sorted(k.lower() for k in train)).encode("utf-8")).hexdigest()[:16]
    path = cache_dir() / f"openworld-v1-{key}.json.gz"
    if path.exists():
        d = json.loads(gzip.decompress(path.read_bytes()))
        return OpenWorldList(d["words"], np.asarray(d["prior"]), d["source"], d["form_share"], d["splits"])
    ow, _ = build_open_world(train, wordnet_path=wordnet_path, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(gzip.compress(json.dumps({"words": ow.words, "prior": ow.prior.tolist(), "source": ow.source,
                                              "form_share": ow.form_share, "splits": ow.splits}).encode("utf-8")))
    tmp.replace(path)
    return ow


def open_world_guesser(train: list[str], n: int, *, eps: float = 0.0, handshake: bool = False,
                       ow: OpenWorldList | None = None, progress=None):
    """(Guesser over the surface forms of the ``n`` groups of highest prior, the list cut to ``n``)."""
    from .guesser import Guesser

    ow = (ow or cached_open_world(train, progress=progress)).head(n)
    words, prior, groups = ow.entries()
    return Guesser(words, prior, eps=eps, handshake=handshake, groups=groups), ow
