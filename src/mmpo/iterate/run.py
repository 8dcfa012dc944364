"""`mmpo iterate`: the paper's loop run K times, each round sampling from the last round's model.

    summary = run_iterate(IterateConfig(model="models/base", data="data/train.jsonl",
                                        eval_data="data/test.jsonl", rounds=2, out="iter",
                                        sample=SampleOptions(n=8, temperature=0.7),
                                        training={"learning_rate": 1e-5}))

Round 0 evaluates the start model. Round r (1..K) samples N chains per prompt from round r-1's
model, builds pairs, trains from round r-1's model (its own reference: each round's start, frozen
for that round), and evaluates the result (`mmpo.iterate.round`). Files, per round, in
OUT/round<r>/: samples.jsonl, pairs/, model/, eval/; OUT/rounds.json holds every round's
scores.json content, rewritten after each round:

    {"rounds": [{"round": 0, "model": ..., "scores": <scores.json>}, ...], "comparisons": [...], "settings": {...}}

Settings are composed, never restated: a `SampleOptions`, a `PairOptions`, MPOConfig fields (on a
YAML recipe) and an `EvalOptions`; round r samples and draws pairs with `seed + r`. Resumable after
a kill at any moment: sampling resumes its file, pairs are rebuilt (deterministic), a round's
training is redone unless it finished, evaluation resumes its predictions. The same command then
ends with the same rounds.json as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmpo.data.layout import ROUNDS_FILE
from mmpo.errors import MMPOError
from mmpo.eval.options import EvalOptions
from mmpo.iterate.round import Round, evaluate
from mmpo.options import check_options, option
from mmpo.pairs.options import PairOptions
from mmpo.sample.options import SampleOptions

SETTINGS_FILE = ".iterate-settings.json"


@dataclass
class IterateConfig:
    model: str = option(help="the start checkpoint (round 0)")
    data: str = option(help="prompt records to sample from (any form mmpo sample reads)")
    rounds: int = option(help="rounds after round 0", low=1)
    out: str = option(help="output folder")
    eval_data: str | None = option(None, "benchmark records for every round's eval (default: --data, i.e. the "
                                         "training prompts)")
    seed: int = option(0, "round r samples with seed + r; training uses the seed")
    train_config: str | None = option(None, "YAML of MPOConfig fields (as mmpo train --config)")
    sample: SampleOptions = field(default_factory=SampleOptions)
    pairs: PairOptions = field(default_factory=PairOptions)
    training: dict[str, Any] = field(default_factory=dict)   # MPOConfig fields for every round's training
    eval: EvalOptions = field(default_factory=EvalOptions)

    def __post_init__(self):
        check_options(self)
        if "openai" in (self.sample.engine, self.eval.engine):
            raise MMPOError("mmpo iterate trains a new model every round, which a server started beforehand does not "
                            "serve: use --engine vllm (mmpo serves each round's model in turn) or --engine hf")


def run_iterate(cfg: IterateConfig) -> dict[str, Any]:
    """Run (or resume) every round; returns the rounds.json content."""
    from mmpo.data.files import OutputLock, writable_dir

    out = writable_dir(cfg.out)
    with OutputLock(out / ROUNDS_FILE):
        return _run(cfg, out)


def _run(cfg: IterateConfig, out: Path) -> dict[str, Any]:
    from mmpo.data.files import write_json
    from mmpo.eval.report import rounds_markdown
    from mmpo.eval.run import load_eval_records
    from mmpo.models.load import check_checkpoint_dir

    check_checkpoint_dir(cfg.model)
    if cfg.eval_data is None:
        print("mmpo iterate: no --eval-data: evaluating on the sampling prompts themselves (optimistic)", flush=True)
    eval_opts = dataclasses.replace(cfg.eval, data=cfg.eval_data or cfg.data, seed=cfg.seed)
    records = load_eval_records(eval_opts.data, limit=eval_opts.limit)
    _check_settings(out, cfg)
    settings = json.loads(json.dumps(dataclasses.asdict(cfg)))
    summary: dict[str, Any] = {"rounds": [], "settings": settings}
    model = Path(cfg.model)
    scores = evaluate(model, records, out / "round0" / "eval", eval_opts).scores
    summary["rounds"].append({"round": 0, "model": str(model), "scores": scores})
    write_json(out / ROUNDS_FILE, _with_comparisons(summary, out))
    for r in range(1, cfg.rounds + 1):
        t0 = time.perf_counter()
        print(f"\n== round {r} of {cfg.rounds}: sampling from {model} ==", flush=True)
        entry = run_round(cfg, r, model, out / f"round{r}", records, eval_opts)
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        summary["rounds"].append(entry)
        write_json(out / ROUNDS_FILE, _with_comparisons(summary, out))
        model = Path(entry["model"])
    summary = _with_comparisons(summary, out)
    print("\n" + rounds_markdown(summary))
    return summary


def run_round(cfg: IterateConfig, r: int, model: Path, folder: Path, records, eval_opts: EvalOptions) -> dict:
    """Round r: sample from `model`, pair, train from it, evaluate; returns the round's rounds.json entry."""
    rnd = Round(start=model, samples=folder / "samples.jsonl", pairs_dir=folder / "pairs",
                sample=dataclasses.replace(cfg.sample, data=cfg.data, seed=cfg.seed + r),
                pairs=dataclasses.replace(cfg.pairs, seed=cfg.seed + r),
                training={"seed": cfg.seed, **cfg.training}, train_config=cfg.train_config)
    stats = rnd.sample_and_pair()
    trained = rnd.train(folder / "model")
    scores = evaluate(trained, records, folder / "eval", eval_opts).scores
    return {"round": r, "model": str(trained), "scores": scores,
            "pairs": {k: stats[k] for k in ("prompts", "responses", "pairs", "pass_rate_histogram")}}


def _check_settings(out: Path, cfg: IterateConfig) -> None:
    """A rerun must be the same command (other settings would mix two experiments in one folder)."""
    from mmpo.data.files import write_json

    path = out / SETTINGS_FILE
    mine = json.loads(json.dumps({k: v for k, v in dataclasses.asdict(cfg).items() if k != "rounds"}))
    for part in ("sample", "eval"):
        mine[part].pop("progress", None)
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != mine:
            diff = sorted(k for k in set(old) | set(mine) if old.get(k) != mine.get(k))
            raise MMPOError(f"{out} holds rounds run with other settings ({', '.join(diff)}); rerun the same "
                            "command to resume (more --rounds are fine), or choose a new --out")
    write_json(path, mine)


def _with_comparisons(summary: dict[str, Any], out: Path) -> dict[str, Any]:
    """Each round against round 0 (paired bootstrap on the shared questions), per mode."""
    from mmpo.eval.report import load_eval, paired_comparisons

    runs = {f"round{e['round']}": load_eval(out / f"round{e['round']}" / "eval") for e in summary["rounds"]}
    pairs = [(f"round{e['round']}", "round0") for e in summary["rounds"][1:]]
    comps = paired_comparisons(runs, pairs, list(summary["rounds"][0]["scores"]["modes"]))
    for c in comps:
        c["round"] = int(c["a"].removeprefix("round"))
    return {**summary, "comparisons": comps}
