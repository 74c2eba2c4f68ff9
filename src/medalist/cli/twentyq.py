"""CLI commands for the twentyq area: ``medalist twentyq bench | package | candidates``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medalist.cli._shared import print_json

twentyq_app = typer.Typer(
    name="twentyq",
    help="LLM 20 Questions agent: benchmark it through kaggle-environments, build candidates, package a submission.",
    no_args_is_help=True,
)


@twentyq_app.command()
def bench(
    answerer: Annotated[str, typer.Option(help="exact, flip (each answer flipped with probability --eps), matrix (sampled from p(yes|q,k)) or semantic (rules + WordNet, calibrated; not the guesser's table).")] = "exact",
    eps: Annotated[float, typer.Option(help="Flip probability of the flip answerer.")] = 0.1,
    guesser_eps: Annotated[Optional[float], typer.Option("--guesser-eps", help="Noise rate the guesser assumes (default: the answerer's, 0 for exact/matrix, 0.1 for semantic).")] = None,
    handshake: Annotated[bool, typer.Option("--handshake/--no-handshake", help="Open with 'Is it Agent Alpha?'.")] = False,
    games: Annotated[Optional[int], typer.Option(help="Games to play (default: one per keyword).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Use only the first N keywords.")] = None,
    semantic: Annotated[bool, typer.Option("--semantic/--no-semantic", help="Add the semantic question bank (MiniLM p(yes) matrix, cached).")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the noisy answerers.")] = 0,
    open_world: Annotated[bool, typer.Option("--open-world", help="Candidates and prior built without the keywords played: the held-out public keywords (sha1 % 5 == 0), or --keywords-file; reports recall (the ceiling).")] = False,
    keywords_file: Annotated[Optional[Path], typer.Option("--keywords-file", help="With --open-world: play these keywords (one a line); the list is built from the public keywords not in it.")] = None,
    n_candidates: Annotated[int, typer.Option("--candidates", help="With --open-world: candidate groups kept by prior.")] = 100_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Play games through kaggle-environments' llm_20_questions on its 578 'things' and report solve rate (next to the best any guesser can reach), rounds, reward."""

    from medalist.cli._shared import err_console
    from medalist.core.errors import ConfigError
    from medalist.twentyq.assemble import make_guesser
    from medalist.twentyq.harness import bench as run_bench
    from medalist.twentyq.keywords import env_keywords

    _check_bench(answerer, eps, guesser_eps, games, keywords_file, open_world, semantic, n_candidates)
    kws = env_keywords()
    train = []
    if open_world:
        from medalist.twentyq.keywords import Keyword, split_keywords
        from medalist.twentyq.openworld import read_keyword_file
        from medalist.twentyq.rules import normalize_guess

        if keywords_file is not None:
            played = [Keyword(k) for k in read_keyword_file(keywords_file)]
            held_norm = {normalize_guess(k.keyword) for k in played}
            train = [k for k in kws if normalize_guess(k.keyword) not in held_norm]
            kws = played
        else:
            train, kws = split_keywords(kws)
    if limit is not None:
        if limit < 1:
            raise ConfigError("--limit", expected="a positive number of keywords", found=str(limit))
        kws = kws[:limit]
    geps = guesser_eps if guesser_eps is not None else (eps if answerer == "flip" else 0.1 if answerer == "semantic" else 0.0)
    recall = None
    if open_world:
        from medalist.twentyq.openworld import match_groups, open_world_guesser

        if not as_json:
            err_console.print(f"[cyan]»[/] building open-world candidates from {len(train)} public keywords "
                              "(first time ~2 min, then cached)")
        g, ow = open_world_guesser([k.keyword for k in train], n_candidates, eps=geps, handshake=handshake)
        m = match_groups(ow.words, [k.keyword for k in kws], [k.alts for k in kws], ow.splits)
        recall = float((m >= 0).mean())
    else:
        g = make_guesser([k.keyword for k in kws], eps=geps, handshake=handshake, semantic=semantic)

    def progress(i, n, r):
        if not as_json and (i % 50 == 0 or i == n):
            err_console.print(f"[cyan]»[/] {i}/{n} games")

    res = run_bench(kws, g, answerer=answerer, eps=eps if answerer == "flip" else 0.0, games=games, seed=seed,
                    progress=progress)
    if open_world:
        res.update({"open_world": True, "recall": recall, "candidate_groups": len(ow), "train_keywords": len(train),
                    "solve_rate_bound": None})
    if as_json:
        print_json(res)
        return
    _print_bench(res, answerer, eps, geps, handshake, len(ow) if open_world else None, recall)


def _check_bench(answerer, eps, guesser_eps, games, keywords_file, open_world, semantic, n_candidates) -> None:
    """``twentyq bench``'s options, checked before anything is built."""
    from medalist.core.errors import ConfigError
    from medalist.twentyq.harness import ANSWERERS

    if answerer not in ANSWERERS:
        raise ConfigError("--answerer", expected=" or ".join(ANSWERERS), found=repr(answerer))
    if not 0.0 <= eps < 0.5:
        raise ConfigError("--eps", expected="a flip probability in [0, 0.5)", found=str(eps))
    if guesser_eps is not None and not 0.0 <= guesser_eps < 0.5:
        raise ConfigError("--guesser-eps", expected="a noise rate in [0, 0.5)", found=str(guesser_eps))
    if games is not None and games < 1:
        raise ConfigError("--games", expected="a positive number of games", found=str(games))
    if keywords_file is not None and not open_world:
        raise ConfigError("--keywords-file", expected="used with --open-world", found="--open-world not given")
    if open_world and semantic:
        raise ConfigError("--semantic", expected="no semantic bank with --open-world", found="both given",
                          fix="drop --semantic (the open-world guesser asks alphabetical questions over its surface forms)")
    if n_candidates < 1:
        raise ConfigError("--candidates", expected="a positive number of candidate groups", found=str(n_candidates))


def _print_bench(res: dict, answerer: str, eps: float, geps: float, handshake: bool, groups: int | None, recall: float | None) -> None:
    """``twentyq bench``'s table (``groups``: open-world candidate groups, None in the closed world)."""
    from rich.table import Table

    from medalist.cli._shared import console, err_console

    lo, hi = res["solve_rate_ci95"]
    t = Table(title=f"20 Questions through kaggle-environments{' (OPEN WORLD: keywords not in the candidate build)' if groups is not None else ''}: answerer={answerer}"
                    f"{f' eps={eps}' if answerer == 'flip' else ''}, guesser eps={geps}, handshake={handshake}")
    cols = ("games", "solve rate", "95% CI (Wilson)", "best possible", "mean rounds", "worst round", "mean reward")
    if groups is not None:
        cols = ("candidate groups", "recall (ceiling)") + cols
    for c in cols:
        t.add_column(c, justify="right")
    bound = res["solve_rate_bound"]
    head = (f"{groups:,}", f"{recall:.3f}") if groups is not None else ()
    t.add_row(*head, str(res["games"]), f"{res['solve_rate']:.3f}", f"[{lo:.3f}, {hi:.3f}]",
              "-" if bound is None else f"{bound:.3f}", f"{res['mean_rounds']:.3f}",
              str(res["worst_round"]), f"{res['mean_reward']:.3f}")
    console.print(t)
    if bound is not None:
        err_console.print("best possible: the highest expected solve rate any guesser can reach with this answerer, "
                          "keyword count and 20 rounds (medalist.twentyq.bound)")


@twentyq_app.command()
def candidates(
    max_candidates: Annotated[int, typer.Option("--max", help="Cut-off: keep this many candidates by prior.")] = 50_000,
    alpha: Annotated[float, typer.Option(help="Exponent of the wordfreq frequency in the prior.")] = 0.5,
    out: Annotated[Optional[Path], typer.Option(help="Write the list (word, prior, source) as TSV (.gz ok).")] = None,
    wordnet: Annotated[Optional[Path], typer.Option(help="WordNet data.noun (default /usr/share/wordnet/data.noun).")] = None,
    all_keywords: Annotated[bool, typer.Option("--all-keywords", help="Build from every public keyword (for a submission) instead of the recall split.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Build the offline candidate list and measure held-out recall (sha1(keyword) % 5 == 0 held out)."""

    from medalist.cli._shared import console
    from medalist.core.errors import ConfigError
    from medalist.twentyq.candidates import build_candidates, recall, wordnet_nouns
    from medalist.twentyq.keywords import env_keywords, split_keywords

    if max_candidates < 1:
        raise ConfigError("--max", expected="a positive number", found=str(max_candidates))
    kws = env_keywords()
    train, held = split_keywords(kws)
    wn = wordnet_nouns(wordnet)
    cl = build_candidates([k.keyword for k in (kws if all_keywords else train)], max_candidates=max_candidates,
                          alpha=alpha, wordnet=wn)
    res = {"candidates": len(cl), "held_out": len(held), "train_keywords": len(train), "alpha": alpha,
           "recall_held_out": None if all_keywords else recall(cl.words, [k.keyword for k in held], [k.alts for k in held]),
           "recall_wordnet_all": recall(list(wn), [k.keyword for k in held], [k.alts for k in held]),
           "wordnet_lemmas": len(wn)}
    if out is not None:
        res["out"] = str(cl.save(out))
    if as_json:
        print_json(res)
        return
    for k, v in res.items():
        console.print(f"{k:>20}  {v:.3f}" if isinstance(v, float) else f"{k:>20}  {v}")


@twentyq_app.command()
def package(
    out: Annotated[Path, typer.Option(help="Archive to write.")] = Path("submission.tar.gz"),
    candidates_src: Annotated[str, typer.Option("--candidates", help="'shipped' (built list in the package), 'env' (the 578 public keywords) or a TSV path (word, prior).")] = "shipped",
    eps: Annotated[float, typer.Option(help="Answerer noise rate the guesser assumes.")] = 0.1,
    handshake: Annotated[bool, typer.Option("--handshake/--no-handshake", help="Open with 'Is it Agent Alpha?'.")] = True,
    semantic: Annotated[bool, typer.Option("--semantic/--no-semantic", help="Ship the semantic bank with its MiniLM p(yes) matrix.")] = False,
    semantic_answerer: Annotated[bool, typer.Option("--semantic-answerer/--no-semantic-answerer", help="Ship WordNet (~6 MB) and answer semantic questions with it (calibrated) instead of 'no'.")] = True,
    force: Annotated[bool, typer.Option("--force", help="Overwrite what exists.")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Then unpack it like Kaggle (/kaggle_simulations/agent) and play games with it in a clean offline venv without medalist.")] = False,
    games: Annotated[int, typer.Option("--games", help="Games --verify plays.")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Write submission.tar.gz (main.py + agent code + data) that kaggle-environments loads by path."""

    from medalist.cli._shared import console
    from medalist.core.errors import ConfigError
    from medalist.twentyq.assemble import load_candidates, semantic_bank
    from medalist.twentyq.package import package_submission

    if out.exists() and not force:
        raise ConfigError(str(out), expected="a new file", found="it exists", fix="pass --force or another --out")
    if not 0.0 <= eps < 0.5:
        raise ConfigError("--eps", expected="a noise rate in [0, 0.5)", found=str(eps))
    if verify and games < 1:
        raise ConfigError("--games", expected="a positive number of games", found=str(games))
    words, prior = load_candidates(candidates_src)
    bank, bank_p = semantic_bank(words) if semantic else (None, None)
    path = package_submission(out, words, prior, bank=bank, bank_p=bank_p, eps=eps, handshake=handshake,
                              semantic_answerer=semantic_answerer)
    res = {"out": str(path), "bytes": path.stat().st_size, "candidates": len(words),
           "semantic_questions": len(bank or []), "eps": eps, "handshake": handshake}
    if verify:
        from medalist.twentyq.verify import verify_agent

        rep = verify_agent(path, games=games)
        res["verify"] = {"solved": rep["solved"], "timings": rep["timings"],
                         "games": [{k: g[k] for k in ("keyword", "statuses", "reward", "rounds", "seconds", "max_turn_seconds")}
                                   for g in rep["games"]]}
    if as_json:
        print_json(res)
        return
    console.print(f"[green]wrote[/] {path} ({res['bytes']:,} bytes): {len(words):,} candidates, "
                  f"{res['semantic_questions']} semantic questions, eps={eps}, handshake={handshake}")
    if verify:
        v = res["verify"]
        console.print(f"[green]verified[/] offline in a clean venv: {v['solved']}/{len(v['games'])} games solved ("
                      + ", ".join(f"{g['keyword']}: {'round ' + str(g['rounds']) if (g['reward'] or 0) > 0 else 'not solved'}" for g in v["games"])
                      + f"); venv {v['timings']['venv_s']:.1f} s, games {v['timings']['play_s']:.1f} s")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(twentyq_app, name="twentyq")
