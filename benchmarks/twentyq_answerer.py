"""Accuracy and calibration of the semantic 20-Questions answerer on hand-labelled held-out triples.

The 1,040 (keyword, question, answer) triples of ``medalist/twentyq/data/semantic_labels.tsv`` are split
by keyword (sha1 % 2 == 0 evaluates, the rest fits the calibration). Two configurations: WordNet only
(what the Kaggle package runs) and WordNet + the offline MiniLM model (labelled neighbours, then
question/keyword similarity) for the questions WordNet cannot answer. Prints accuracy (all, category =
"Is it a …" questions, per kind), Brier score, the "no" rate next to the labels' "no" rate, a reliability
table and the time per answer. ``--write-calibration`` stores both fitted calibrations in the package data.

    python benchmarks/twentyq_answerer.py [--json] [--write-calibration]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def run(write: bool = False) -> dict:
    from medalist.twentyq.models import EmbeddingAnswerModel
    from medalist.twentyq.semantic import DEFAULT_CALIBRATION, SemanticAnswerer
    from medalist.twentyq.semantic_fit import (
        NeighbourFallback,
        evaluate,
        fit_calibration,
        load_triples,
        save_calibration,
        split_triples,
    )
    from medalist.twentyq.wordnet import WordNet

    fit, ev = split_triples(load_triples())
    wn = WordNet()
    emb = EmbeddingAnswerModel()
    out, cals = {"fit_triples": len(fit), "eval_triples": len(ev)}, {}
    for config, fallback in (("wordnet_only", None), ("with_fallback", NeighbourFallback(fit, emb, base=emb))):
        a = SemanticAnswerer(wn, calibration={}, fallback=fallback)
        a.cal = cals[config] = fit_calibration(a, fit)
        a.explain("Is it made of metal?", "Spoon")  # warm the model
        t = time.perf_counter()
        res = evaluate(a, ev)
        res["ms_per_answer"] = 1000 * (time.perf_counter() - t) / len(ev)
        out[config] = res
    if write:
        out["calibration_written"] = str(save_calibration(cals, DEFAULT_CALIBRATION))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write-calibration", action="store_true")
    args = ap.parse_args(argv)
    out = run(args.write_calibration)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"fit triples {out['fit_triples']}, evaluation triples {out['eval_triples']} (split by keyword)")
    print(f"{'configuration':<14} {'kind':<9} {'n':>4} {'accuracy':>9} {'no rate':>8} {'label no':>9}")
    for config in ("wordnet_only", "with_fallback"):
        r = out[config]
        print(f"{config:<14} {'all':<9} {r['triples']:>4} {r['accuracy']:>9.3f} {r['no_rate']:>8.3f} {r['label_no_rate']:>9.3f}"
              f"   Brier {r['brier']:.4f}, {r['ms_per_answer']:.2f} ms/answer")
        for k, v in r["per_kind"].items():
            print(f"{'':<14} {k:<9} {v['n']:>4} {v['accuracy']:>9.3f} {v['no_rate']:>8.3f} {v['label_no_rate']:>9.3f}")
        print(f"{'':<14} reliability: " + "; ".join(f"{b['bin']} n={b['n']} p={b['mean_p']:.2f} yes={b['yes_rate']:.2f}"
                                                  for b in r["reliability"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
