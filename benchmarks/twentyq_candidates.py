"""Offline candidate-keyword recall on held-out public keywords of kaggle-environments 1.18.0.

Split: sha1(lowercase keyword) % 5 == 0 is held out (123 of 578); the list is built only from the
other 455 keywords, WordNet nouns (Debian wordnet-base) and wordfreq. The prior's frequency
exponent alpha is chosen on an inner split of the 455 (sha1 % 5 == 1), never on the held-out set.
Prints recall at several cut-offs and what the misses are; ``--json`` prints one JSON object.

    python benchmarks/twentyq_candidates.py [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

CUTS = (10_000, 20_000, 35_000, 50_000)
ALPHAS = (0.0, 0.3, 0.5, 0.7, 1.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from medalist.twentyq.candidates import build_candidates, recall, wordnet_nouns
    from medalist.twentyq.keywords import env_keywords, split_keywords
    from medalist.twentyq.rules import normalize_guess

    train, held = split_keywords(env_keywords())
    inner = [k for k in train if int(hashlib.sha1(k.keyword.lower().encode()).hexdigest(), 16) % 5 == 1]
    inner_train = [k for k in train if k not in inner]
    wn = wordnet_nouns()

    def rec(words, targets):
        return recall(words, [k.keyword for k in targets], [k.alts for k in targets])

    inner_scores = {a: rec(build_candidates([k.keyword for k in inner_train], alpha=a, wordnet=wn).words, inner)
                    for a in ALPHAS}
    alpha = max(ALPHAS, key=lambda a: (inner_scores[a], -abs(a - 0.5)))
    full = build_candidates([k.keyword for k in train], max_candidates=max(CUTS), alpha=alpha, wordnet=wn)
    by_cut = {n: rec(full.words[:n], held) for n in CUTS}
    in_wordnet = rec(list(wn), held)
    found = set()
    for k in held:
        if rec(full.words, [k]) == 1.0:
            found.add(k.keyword)
    misses = [k.keyword for k in held if k.keyword not in found]
    wn_norm = {normalize_guess(w) for w in wn}
    multi_not_wn = [m for m in misses if " " in m and normalize_guess(m) not in wn_norm]
    out = {"alpha": alpha, "inner_recall_by_alpha": inner_scores, "held_out": len(held),
           "recall_by_cut": by_cut, "recall_all_wordnet_lemmas": in_wordnet, "wordnet_lemmas": len(wn),
           "misses": len(misses), "misses_multiword_not_in_wordnet": len(multi_not_wn), "miss_examples": misses[:25]}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"alpha chosen on the inner split: {alpha}  (inner recall by alpha: "
          + ", ".join(f"{a}: {r:.3f}" for a, r in inner_scores.items()) + ")")
    print(f"{'candidates':>10}  {'held-out recall':>15}")
    for n, r in by_cut.items():
        print(f"{n:>10,}  {r:>15.3f}")
    print(f"all {len(wn):,} WordNet noun lemmas, no cut-off: {in_wordnet:.3f}")
    print(f"misses at {max(CUTS):,}: {len(misses)} of {len(held)}; multi-word and absent from WordNet: {len(multi_not_wn)}")
    print("examples: " + ", ".join(misses[:25]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
