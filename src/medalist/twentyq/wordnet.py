"""A small WordNet (nouns) reader for the semantic answerer: senses, hypernym closure, glosses.

Reads WordNet 3.0's ``index.noun`` (a lemma's senses, most frequent first), ``data.noun`` (synsets:
lexicographer file, lemmas, pointers, gloss) and ``noun.exc`` (irregular plurals), plain or gzipped —
Debian's ``wordnet-base`` puts them in ``/usr/share/wordnet``; the Kaggle package ships gzipped copies.
Pure Python: copied verbatim into the Kaggle submission.
"""

from __future__ import annotations

import gzip
import os

__all__ = ["DEFAULT_DIR", "LEX", "WordNet"]

DEFAULT_DIR = os.environ.get("MEDALIST_WORDNET_DIR", "/usr/share/wordnet")
# lexicographer file numbers of data.noun (field 2) for the names the answerer uses
LEX = {"Tops": 3, "act": 4, "animal": 5, "artifact": 6, "attribute": 7, "body": 8, "cognition": 9,
       "communication": 10, "event": 11, "feeling": 12, "food": 13, "group": 14, "location": 15,
       "motive": 16, "object": 17, "person": 18, "phenomenon": 19, "plant": 20, "possession": 21,
       "process": 22, "quantity": 23, "relation": 24, "shape": 25, "state": 26, "substance": 27, "time": 28}


def _open(directory: str, name: str):
    for fname, opener in ((name, open), (name + ".gz", gzip.open)):
        path = os.path.join(directory, fname)
        if os.path.exists(path):
            return opener(path, "rt", encoding="utf-8", errors="replace")
    raise FileNotFoundError(f"WordNet file {name} (or {name}.gz) not found in {directory}: "
                            f"apt-get install wordnet-base, or set MEDALIST_WORDNET_DIR")


class WordNet:
    """Noun synsets indexed 0..n−1.

    ``senses(word)`` resolves a keyword: the lemma itself, then its singular (noun.exc and -s/-es/-ies
    rules), joined or hyphen-less forms, then the head (last word) of a compound; it returns the synset
    indices in sense order and how the word was found ("exact", "base", "head" or "" when not found).
    """

    def __init__(self, directory: str | None = None) -> None:
        d = directory or DEFAULT_DIR
        self.offsets: dict[int, int] = {}
        self.lex: list[int] = []
        self.words: list[list[str]] = []
        self.gloss: list[str] = []
        ptrs: list[list[tuple[str, int]]] = []
        with _open(d, "data.noun") as fh:
            for line in fh:
                if line.startswith(" ") or not line.strip():
                    continue
                head, _, gloss = line.partition("|")
                p = head.split()
                cnt = int(p[3], 16)
                self.offsets[int(p[0])] = len(self.lex)
                self.lex.append(int(p[1]))
                self.words.append([p[4 + 2 * i].split("(")[0].lower().replace("_", " ") for i in range(cnt)])
                k = 4 + 2 * cnt
                n_ptr = int(p[k])
                ptrs.append([(p[k + 1 + 4 * j], int(p[k + 2 + 4 * j])) for j in range(n_ptr) if p[k + 3 + 4 * j] == "n"])
                self.gloss.append(gloss.strip().lower())
        self.hyper = [[self.offsets[o] for s, o in pl if s in ("@", "@i") and o in self.offsets] for pl in ptrs]
        self.parts = [[self.offsets[o] for s, o in pl if s in ("%s", "%p", "%m") and o in self.offsets] for pl in ptrs]
        self.index: dict[str, list[int]] = {}
        with _open(d, "index.noun") as fh:
            for line in fh:
                if line.startswith(" "):
                    continue
                p = line.split()
                n_syn, n_ptr = int(p[2]), int(p[3])
                offs = p[6 + n_ptr: 6 + n_ptr + n_syn]
                self.index[p[0].replace("_", " ")] = [self.offsets[int(o)] for o in offs if int(o) in self.offsets]
        self.exc: dict[str, str] = {}
        try:
            with _open(d, "noun.exc") as fh:
                for line in fh:
                    p = line.split()
                    if len(p) >= 2:
                        self.exc[p[0].replace("_", " ")] = p[1].replace("_", " ")
        except FileNotFoundError:
            pass
        self._closure: dict[int, frozenset] = {}
        self._hypo: list[list[int]] | None = None

    def __len__(self) -> int:
        return len(self.lex)

    def _bases(self, w: str) -> list[str]:
        out = [self.exc[w]] if w in self.exc else []
        if w.endswith("ies") and len(w) > 4:
            out.append(w[:-3] + "y")
        if w.endswith("es") and len(w) > 3:
            out.append(w[:-2])
        if w.endswith("s") and len(w) > 3:
            out.append(w[:-1])
        return out

    def lookup(self, word: str) -> list[int]:
        """Synsets of ``word`` (lemma or its singular), sense order; [] when WordNet does not know it."""
        w = " ".join(str(word).lower().replace("_", " ").split())
        for cand in (w, w.replace("-", " "), w.replace(" ", ""), w.replace(" ", "-")):
            if cand in self.index:
                return self.index[cand]
        *front, last = w.split(" ") if w else [""]
        for b in self._bases(last):
            cand = " ".join(front + [b])
            for c in (cand, cand.replace(" ", "")):
                if c in self.index:
                    return self.index[c]
        return []

    def senses(self, word: str) -> tuple[list[int], str]:
        """(synset indices in sense order, "exact" | "head" | "") for a keyword."""
        found = self.lookup(word)
        if found:
            return found, "exact"
        parts = " ".join(str(word).lower().replace("-", " ").split()).split(" ")
        for i in range(1, len(parts)):  # the head of a compound: "emergency exit sign" -> "exit sign" -> "sign"
            found = self.lookup(" ".join(parts[i:]))
            if found:
                return found, "head"
        return [], ""

    def closure(self, s: int) -> frozenset:
        """``s`` and every hypernym (class and instance) above it."""
        got = self._closure.get(s)
        if got is None:
            out, stack = {s}, [s]
            while stack:
                for h in self.hyper[stack.pop()]:
                    if h not in out:
                        out.add(h)
                        stack.append(h)
            got = self._closure[s] = frozenset(out)
        return got

    def hyponyms(self, s: int) -> set[int]:
        """``s`` and everything below it."""
        if self._hypo is None:
            self._hypo = [[] for _ in self.lex]
            for i, hs in enumerate(self.hyper):
                for h in hs:
                    self._hypo[h].append(i)
        out, stack = {s}, [s]
        while stack:
            for h in self._hypo[stack.pop()]:
                if h not in out:
                    out.add(h)
                    stack.append(h)
        return out
