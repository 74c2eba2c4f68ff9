"""The semantic answerer: category and property questions answered from WordNet, calibrated.

A question is read into a kind (:func:`parse_question`):

* ``isa`` — "Is it an animal / a place / a kind of tool / man-made / edible / alive …": yes when the
  target synsets are in the hypernym closure of the keyword's senses (weighted by sense rank);
* ``made_of`` — "Is it made of metal?": a word of the material's hyponym closure (metal → iron, steel,
  silver…) in the glosses / lemmas of the keyword's senses and their hypernyms, or in the keyword;
* ``context`` — "Is it used in a kitchen / found in an office / used for cleaning?": the place or purpose
  word in the same texts;
* ``size`` and ``other`` — no WordNet relation: an optional fallback model (e.g. the offline MiniLM
  similarity) or, without one, the calibrated majority of that kind.

Each kind's raw score goes through a logistic calibration fitted on the calibration split of the labelled
triples (``data/semantic_labels.tsv``, see docs/twentyq.md); the answer is "yes" when the calibrated
probability is above 0.5. A keyword WordNet does not know gets the kind's calibrated majority, never a
blanket "no". Pure Python: copied verbatim into the Kaggle submission.
"""

from __future__ import annotations

import json
import math
import os
import re

from .wordnet import LEX, WordNet

__all__ = [
    "CONCEPTS",
    "DEFAULT_CALIBRATION",
    "KINDS",
    "SemanticAnswerer",
    "load_calibration",
    "parse_question",
    "semantic_choice",
]

KINDS = ("isa", "made_of", "context", "size", "other")
_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CALIBRATION = os.path.join(_HERE, "data", "semantic_calibration.json")

# word → (lemma, lexicographer file or None, senses kept); "not:" negates (natural = not man-made)
CONCEPTS: dict[str, list[tuple[str, str | None, int]]] = {
    "animal": [("animal", "Tops", 1)], "plant": [("plant", "Tops", 1)],
    "food": [("food", "Tops", 1), ("food", "food", 1), ("foodstuff", "food", 1)],
    "edible": [("food", "Tops", 1), ("food", "food", 1), ("foodstuff", "food", 1), ("edible fruit", "food", 1),
               ("vegetable", "food", 1)],
    "drink": [("beverage", "food", 1)], "beverage": [("beverage", "food", 1)],
    "fruit": [("edible fruit", "food", 1), ("fruit", "plant", 1)], "vegetable": [("vegetable", "food", 1)],
    "place": [("location", "Tops", 1), ("structure", "artifact", 1), ("place", "location", 3),
              ("thoroughfare", "artifact", 1), ("room", "artifact", 1)],
    "location": [("location", "Tops", 1)], "street": [("thoroughfare", "artifact", 1)], "building": [("building", "artifact", 1)],
    "person": [("person", "Tops", 1)], "human": [("person", "Tops", 1)],
    "living thing": [("living thing", "Tops", 1), ("organism", "Tops", 1)],
    "alive": [("organism", "Tops", 1)], "living": [("organism", "Tops", 1)],
    "man-made": [("artifact", "Tops", 1)], "manmade": [("artifact", "Tops", 1)], "artificial": [("artifact", "Tops", 1)],
    "made by humans": [("artifact", "Tops", 1)], "human-made": [("artifact", "Tops", 1)], "artifact": [("artifact", "Tops", 1)],
    "natural": [("not:artifact", "Tops", 1)],
    "tool": [("tool", "artifact", 1), ("implement", "artifact", 1)],
    "electronic device": [("electronic equipment", "artifact", 1), ("electronic device", "artifact", 1),
                          ("electrical device", "artifact", 1), ("electronic instrument", "artifact", 1),
                          ("electric appliance", "artifact", 1), ("computer", "artifact", 1)],
    "electronic": [("electronic equipment", "artifact", 1), ("electronic device", "artifact", 1),
                   ("electrical device", "artifact", 1)],
    "electrical": [("electrical device", "artifact", 1), ("electronic equipment", "artifact", 1)],
    "machine": [("machine", "artifact", 1)], "appliance": [("appliance", "artifact", 1)],
    "furniture": [("furniture", "artifact", 1)], "vehicle": [("vehicle", "artifact", 1), ("conveyance", "artifact", 1)],
    "clothing": [("clothing", "artifact", 1)], "garment": [("clothing", "artifact", 1)],
    "clothes": [("clothing", "artifact", 1)], "accessory": [("accessory", "artifact", 1), ("jewelry", "artifact", 1)],
    "container": [("container", "artifact", 1)], "toy": [("plaything", "artifact", 1)],
    "weapon": [("weapon", "artifact", 1)], "musical instrument": [("musical instrument", "artifact", 1)],
    "instrument": [("instrumentality", "artifact", 1)], "device": [("device", "artifact", 1)],
    "substance": [("substance", "Tops", 1), ("substance", "substance", 2)],
    "liquid": [("liquid", "substance", 1), ("fluid", "substance", 1)],
    "object": [("physical entity", "Tops", 1)], "physical object": [("physical entity", "Tops", 1)],
    "thing": [("entity", "Tops", 1)],
}
_ISA = re.compile(r"^(?:is|are|was|could)\s+(?:it|the\s+keyword|this|that|they|the\s+thing|the\s+object)"
                  r"(?:\s+be)?\s+(?:(?:a|an|some|the|any)\s+)?(?:(?:kind|type|sort|form|piece|item|example|part)\s+of\s+)?"
                  r"(?:(?:a|an|some|the)\s+)?(.+)$")
_MADE = re.compile(r"\bmade\s+(?:mostly\s+|mainly\s+|primarily\s+|out\s+|entirely\s+)?(?:of|from)\s+(.+)$")
_CONTEXT = re.compile(r"\b(?:used|found|kept|stored|seen|located|use)\s+(?:in|for|at|on|by|inside|when)\s+(.+)$")
_SIZE = re.compile(r"\b(?:bigger|larger|smaller|heavier|lighter|taller)\s+than\s+(.+)$")
_STOP = {"a", "an", "the", "some", "any", "of", "or", "and", "it", "typically", "usually", "mostly", "mainly",
         "commonly", "often", "primarily", "generally", "normally", "in", "for"}


def parse_question(question: str) -> tuple[str, list[str]]:
    """(kind, argument phrases) of a yes/no question.

    >>> parse_question("Is it a kind of animal?")
    ('isa', ['animal'])
    >>> parse_question("Is it made of metal or plastic?")
    ('made_of', ['metal', 'plastic'])
    >>> parse_question("Is it typically used in a kitchen?")
    ('context', ['kitchen'])
    >>> parse_question("Does it make you happy?")
    ('other', [])
    """
    q = " ".join(str(question).lower().replace("?", " ").replace("!", " ").split()).strip(" .")
    for kind, rx in (("made_of", _MADE), ("size", _SIZE), ("context", _CONTEXT), ("isa", _ISA)):
        m = rx.search(q)
        if m:
            return kind, _phrases(m.group(1))
    return "other", []


def _phrases(text: str) -> list[str]:
    out = []
    for part in re.split(r"\s*(?:,|/|\bor\b|\band\b)\s*", text):
        words = [w for w in re.findall(r"[a-z][a-z'\-]*", part) if w not in _STOP]
        if words:
            out.append(" ".join(words))
    return out


def load_calibration(path: str | None = None) -> dict:
    """The fitted calibrations ({configuration: {kind: majority, "kind:source": logistic a, b}}), {} if absent."""
    p = path or DEFAULT_CALIBRATION
    if not os.path.exists(p):
        return {}
    with open(p, encoding="utf-8") as fh:
        return json.load(fh)


class SemanticAnswerer:
    """p(yes | question, keyword) from WordNet with a calibrated probability.

    ``fallback`` (optional) is an object with ``p_yes(questions, keywords)`` used for ``size``/``other``
    questions (the library passes the MiniLM similarity model); its output is calibrated too.
    :meth:`explain` returns (kind, raw score or None, calibrated p, source).
    """

    name = "semantic-wordnet"

    @property
    def config(self) -> str:
        """"with_fallback" or "wordnet_only": the section of the calibration file this answerer uses."""
        return "wordnet_only" if self.fallback is None else "with_fallback"

    def __init__(self, wordnet: WordNet | None = None, calibration: dict | None = None, fallback=None) -> None:
        self.wn = wordnet if wordnet is not None else WordNet()
        self.fallback = fallback
        # the shipped file holds one fitted calibration per configuration (with / without a fallback model)
        self.cal = (load_calibration().get(self.config, {}) if calibration is None else calibration)
        self._targets: dict[str, tuple[set, bool] | None] = {}
        self._texts: dict[str, list[tuple[float, str]]] = {}
        self._material: dict[str, set] = {}

    # --------------------------------------------------------------- evidence
    def _weights(self, senses: list[int]) -> list[float]:
        w = [0.5 ** r * (2.0 if self.wn.lex[s] in _THINGS else 1.0) for r, s in enumerate(senses)]
        t = sum(w)
        return [x / t for x in w]

    def _target(self, phrase: str):
        if phrase in self._targets:
            return self._targets[phrase]
        spec = CONCEPTS.get(phrase)
        neg = False
        if spec is None:
            found = self.wn.lookup(phrase)
            tg = set(found[:2])
        else:
            tg = set()
            for lemma, lexname, keep in spec:
                if lemma.startswith("not:"):
                    neg, lemma = True, lemma[4:]
                syn = [s for s in self.wn.lookup(lemma) if lexname is None or self.wn.lex[s] == LEX[lexname]]
                tg.update(syn[:keep])
        out = (tg, neg) if tg else None
        self._targets[phrase] = out
        return out

    def _isa(self, phrases: list[str], senses: list[int]) -> float | None:
        targets = [t for t in (self._target(p) for p in phrases) if t is not None]
        if not targets:
            return None
        score = 0.0
        for w, s in zip(self._weights(senses), senses):
            c = self.wn.closure(s)
            if any((not tg.isdisjoint(c)) != neg for tg, neg in targets):
                score += w
        return score

    def _sense_texts(self, keyword: str, senses: list[int]) -> list[tuple[float, str]]:
        key = keyword.lower()
        if key not in self._texts:
            out = []
            for w, s in zip(self._weights(senses), senses):
                above = sorted(self.wn.closure(s), key=lambda h: -len(self.wn.closure(h)))[-4:]
                text = " ".join([key] + self.wn.words[s] + [self.wn.gloss[s]]
                                + [" ".join(self.wn.words[h]) + " " + self.wn.gloss[h] for h in above if h != s]
                                + [" ".join(self.wn.words[p]) for p in self.wn.parts[s]])
                out.append((w, " " + " ".join(re.findall(r"[a-z]+", text)) + " "))
            self._texts[key] = out
        return self._texts[key]

    def _words_of(self, phrase: str, hyponyms: bool) -> set:
        key = f"{phrase}|{hyponyms}"
        if key not in self._material:
            words = {phrase}
            for s in self.wn.lookup(phrase)[:2 if hyponyms else 1]:
                for h in (self.wn.hyponyms(s) if hyponyms else {s}):
                    words.update(w for w in self.wn.words[h] if len(w) > 2)
                if len(words) > 400:
                    break
            words.update({phrase + "s", phrase + "es"} if not hyponyms else set())
            self._material[key] = {" " + w + " " for w in words if " " not in w}
        return self._material[key]

    def _text_match(self, phrases: list[str], keyword: str, senses: list[int], hyponyms: bool) -> float:
        texts = self._sense_texts(keyword, senses) if senses else [(1.0, " " + keyword.lower() + " ")]
        words = set().union(*(self._words_of(p.split(" ")[-1], hyponyms) for p in phrases)) if phrases else set()
        return sum(w for w, t in texts if any(x in t for x in words))

    # --------------------------------------------------------------- public
    def explain(self, question: str, keyword: str) -> tuple[str, float | None, float, str]:
        kind, phrases = parse_question(question)
        senses, _how = self.wn.senses(keyword)
        raw, source = None, "majority"
        if kind == "isa" and senses:
            raw = self._isa(phrases, senses)
            source = "wordnet" if raw is not None else "majority"
            if raw is None:
                kind = "other"
        if kind in ("made_of", "context") and phrases:
            raw = self._text_match(phrases, keyword, senses, kind == "made_of")
            raw, source = (raw, "wordnet-text") if raw > 0 or self.fallback is None else (None, source)
        if raw is None and kind != "isa" and self.fallback is not None:
            raw, source = float(self.fallback.p_yes([question], [keyword])[0][0]), "fallback"
        return kind, raw, self._calibrate(kind, raw, source, question), source

    def _calibrate(self, kind: str, raw: float | None, source: str, question: str = "") -> float:
        c = self.cal.get(f"{kind}:{source}") or {}
        if raw is None or not c:  # no evidence: the majority of this question (if fitted) or of its kind
            q = self.cal.get("question:" + " ".join(question.lower().split())) or self.cal.get(kind) or {}
            return float(q.get("majority", 0.5 if raw is None else raw))
        z = c["a"] * raw + c["b"]
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def p_yes(self, questions, keywords):
        """Calibrated p(yes) matrix (len(questions) × len(keywords)) as lists."""
        return [[self.explain(q, k)[2] for k in keywords] for q in questions]


def semantic_choice(guesser, w, eps: float):
    """(question, expected entropy) of the most informative *semantic* bank question for posterior ``w``,
    by the guesser's own entropy rule, or None when its bank has no semantic question.

    Used once the partner has not answered "yes" to the Agent-Alpha handshake: such a partner (an LLM)
    answers letter and alphabetical questions unreliably, so they are not asked.
    """
    from .guesser import expected_entropy
    from .rules import parse_rule

    texts, M = guesser._matrix()
    rows = [i for i, t in enumerate(texts) if parse_rule(t) is None]
    if not rows:
        return None
    keep = w > guesser.min_weight * w.max()
    e = expected_entropy(w[keep], M[rows][:, keep], eps, guesser.guess_aware)
    j = int(e.argmin())
    return texts[rows[j]], float(e[j])


_THINGS = {LEX[n] for n in ("artifact", "food", "object", "plant", "animal", "substance", "body")}
