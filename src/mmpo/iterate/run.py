"""`mmpo iterate`: the paper's loop run K times, each round sampling from the last round's model.

    summary = run_iterate(IterateConfig(model="models/base", data="data/train.jsonl",
                                        eval_data="data/test.jsonl", rounds=2, out="iter"))

Round 0 evaluates the start model. Round r (1..K) samples N chains per prompt from round r-1's
model, builds pairs, trains from round r-1's model (its own reference: each round's start, frozen
for that round), and evaluates the result. Files, per round, in OUT/round<r>/: samples.jsonl,
pairs/, model/, eval/; OUT/rounds.json holds every round's scores.json content, rewritten after
each round:

    {"rounds": [{"round": 0, "model": ..., "scores": <scores.json>}, ...], "comparisons": [...], "settings": {...}}

Resumable after a kill at any moment: sampling resumes its file, pairs are rebuilt (deterministic),
a round's training is redone unless it finished (OUT/round<r>/model/.mmpo-round-done), evaluation
resumes its predictions. The same command then ends with the same rounds.json as an uninterrupted run.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmpo.errors import MMPOError

DONE = ".mmpo-round-done"  # written into a round's model folder once its training has finished


@dataclass
class IterateConfig:
    model: str                         # the start checkpoint (round 0)
    data: str                          # prompt records to sample from every round
    rounds: int
    out: str
    eval_data: str | None = None       # benchmark records (default: `data`, which evaluates on the training prompts)
    seed: int = 0
    # sampling (mmpo sample)
    n: int = 8
    temperature: float = 1.0
    top_k: int = 50
    max_new_tokens: int = 512
    sample_batch_size: int = 4
    prompt_source: str = "auto"
    limit: int | None = None           # prompts per round (default: all)
    # pairs (mmpo pairs)
    max_pairs_per_prompt: int = 15
    # training (mmpo train): MPOConfig fields on top of the recipe file
    train_config: str | None = None
    train_options: dict[str, Any] = field(default_factory=dict)
    # evaluation (mmpo eval)
    modes: tuple[str, ...] = ("direct", "cot")
    eval_max_new_tokens: int | None = None   # default: max_new_tokens
    eval_batch_size: int = 8
    eval_limit: int | None = None
    trust_remote_code: bool = False
    progress: bool = True

    def __post_init__(self):
        if self.rounds < 1:
            raise MMPOError(f"--rounds must be >= 1, got {self.rounds}")
        for name in ("n", "max_new_tokens", "sample_batch_size", "max_pairs_per_prompt", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise MMPOError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")


def run_iterate(cfg: IterateConfig) -> dict[str, Any]:
    """Run (or resume) every round; returns the rounds.json content."""
    from mmpo.data.files import OutputLock, writable_dir

    out = writable_dir(cfg.out)
    with OutputLock(out / "rounds.json"):
        return _run(cfg, out)


def _run(cfg: IterateConfig, out: Path) -> dict[str, Any]:
    from mmpo.data.files import write_json
    from mmpo.eval.run import load_eval_records
    from mmpo.models.load import check_checkpoint_dir

    check_checkpoint_dir(cfg.model)
    eval_path = cfg.eval_data or cfg.data
    if cfg.eval_data is None:
        print("mmpo iterate: no --eval-data: evaluating on the sampling prompts themselves (optimistic)", flush=True)
    records = load_eval_records(eval_path, limit=cfg.eval_limit)
    _check_settings(out, cfg)
    summary: dict[str, Any] = {"rounds": [], "settings": {k: v for k, v in asdict(cfg).items() if k != "progress"}}
    start = Path(cfg.model)
    summary["rounds"].append(_round_entry(0, start, _evaluate(cfg, start, records, out / "round0" / "eval")))
    write_json(out / "rounds.json", _with_comparisons(summary))
    model = start
    for r in range(1, cfg.rounds + 1):
        t0 = time.perf_counter()
        folder = out / f"round{r}"
        print(f"\n== round {r} of {cfg.rounds}: sampling from {model} ==", flush=True)
        pairs = _sample_and_pair(cfg, model, folder, r)
        trained = _train(cfg, model, folder)
        scores = _evaluate(cfg, trained, records, folder / "eval")
        entry = _round_entry(r, trained, scores)
        entry.update(pairs=pairs, seconds=round(time.perf_counter() - t0, 1))
        summary["rounds"].append(entry)
        write_json(out / "rounds.json", _with_comparisons(summary))
        model = trained
    summary = _with_comparisons(summary)
    print("\n" + rounds_markdown(summary))
    return summary


def _check_settings(out: Path, cfg: IterateConfig) -> None:
    """A rerun must be the same command (other settings would mix two experiments in one folder)."""
    from mmpo.data.files import write_json

    path = out / ".iterate-settings.json"
    mine = json.loads(json.dumps({k: v for k, v in asdict(cfg).items() if k not in ("progress", "rounds")}))
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != mine:
            diff = sorted(k for k in set(old) | set(mine) if old.get(k) != mine.get(k))
            raise MMPOError(f"{out} holds rounds run with other settings ({', '.join(diff)}); rerun the same "
                            "command to resume (more --rounds are fine), or choose a new --out")
    write_json(path, mine)


def _round_entry(r: int, model: Path, scores: dict[str, Any]) -> dict[str, Any]:
    return {"round": r, "model": str(model), "scores": scores}


def _sample_and_pair(cfg: IterateConfig, model: Path, folder: Path, r: int) -> dict[str, Any]:
    from mmpo.pairs.build import build_pairs, format_summary
    from mmpo.sample.run import SampleOptions, run_sampling

    samples = folder / "samples.jsonl"
    run_sampling(SampleOptions(model=str(model), data=cfg.data, n=cfg.n, out=str(samples), seed=cfg.seed + r,
                               temperature=cfg.temperature, top_k=cfg.top_k, max_new_tokens=cfg.max_new_tokens,
                               batch_size=cfg.sample_batch_size, prompt_source=cfg.prompt_source, limit=cfg.limit,
                               progress=cfg.progress, trust_remote_code=cfg.trust_remote_code))
    stats = build_pairs([samples], folder / "pairs", max_pairs_per_prompt=cfg.max_pairs_per_prompt,
                        seed=cfg.seed + r)
    print(format_summary(stats), flush=True)
    if stats["pairs"]["total"] == 0:
        raise MMPOError(f"round {r}: sampling gave no preference pairs (every prompt all right or all wrong, see "
                        f"{folder / 'pairs' / 'stats.json'}); more samples (--n) or a higher --temperature may help")
    return {k: stats[k] for k in ("prompts", "responses", "pairs", "pass_rate_histogram")}


def _train(cfg: IterateConfig, model: Path, folder: Path) -> Path:
    from mmpo.train.run import parse_config, run_training
    from mmpo.train.trainer import complete_checkpoints

    target = folder / "model"
    if (target / DONE).is_file():
        print(f"{target}: trained in an earlier run", flush=True)
        return target
    overrides = ["--model_name_or_path", str(model), "--train_data", str(folder / "pairs" / "meta.json"),
                 "--output_dir", str(target), "--seed", str(cfg.seed), "--trust_remote_code",
                 str(cfg.trust_remote_code).lower()]
    if not cfg.progress:
        overrides += ["--disable_tqdm", "true"]
    for key, value in cfg.train_options.items():
        overrides += [f"--{key}", *(map(str, value) if isinstance(value, list | tuple) else [str(value)])]
    train_cfg = parse_config(cfg.train_config, overrides)
    if target.exists() and complete_checkpoints(target):
        train_cfg.resume_from_checkpoint = "true"  # a kill mid-round: continue from its newest checkpoint
    else:
        shutil.rmtree(target, ignore_errors=True)  # a kill before any checkpoint: the round's training again
    run_training(train_cfg)
    (target / DONE).write_text(json.dumps({"from": str(model)}) + "\n", encoding="utf-8")
    return target


def _evaluate(cfg: IterateConfig, model: Path, records: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    from mmpo.eval.run import run_eval

    limit = cfg.eval_max_new_tokens or cfg.max_new_tokens
    return run_eval(model, cfg.eval_data or cfg.data, out, modes=list(cfg.modes), max_new_tokens=limit,
                    batch_size=cfg.eval_batch_size, limit=cfg.eval_limit, seed=cfg.seed,
                    prompt_source=cfg.prompt_source, progress=cfg.progress,
                    trust_remote_code=cfg.trust_remote_code).scores


def _with_comparisons(summary: dict[str, Any]) -> dict[str, Any]:
    """Each round against round 0 (paired bootstrap on the shared questions), per mode."""
    from mmpo.eval.report import load_eval, paired_difference

    rounds = summary["rounds"]
    base = load_eval(_eval_dir(summary, 0))
    comps = []
    for entry in rounds[1:]:
        other = load_eval(_eval_dir(summary, entry["round"]))
        for mode in entry["scores"]["modes"]:
            iv = paired_difference(base.outcomes(mode), other.outcomes(mode))
            if iv is not None:
                comps.append({"round": entry["round"], "mode": mode, "diff": iv["estimate"],
                              "ci95": [iv["low"], iv["high"]], "n": iv["n"]})
    return {**summary, "comparisons": comps}


def _eval_dir(summary: dict[str, Any], r: int) -> Path:
    return Path(summary["settings"]["out"]) / f"round{r}" / "eval"


def rounds_markdown(summary: dict[str, Any]) -> str:
    """The table `mmpo iterate` prints: every round's accuracies, and its difference from round 0."""
    modes = list(summary["rounds"][0]["scores"]["modes"])
    diffs = {(c["round"], c["mode"]): c for c in summary.get("comparisons", [])}
    head = ["round", "model"] + [f"{m} (%)" for m in modes] + [f"{m} vs round 0 (pts) [95% CI]" for m in modes]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (2 * len(modes))]
    for entry in summary["rounds"]:
        m = entry["scores"]["modes"]
        cells = [str(entry["round"]), f"`{entry['model']}`"] + [f"{100 * m[k]['accuracy']:.1f}" for k in modes]
        for k in modes:
            c = diffs.get((entry["round"], k))
            cells.append("·" if c is None else f"{100 * c['diff']:+.1f} [{100 * c['ci95'][0]:+.1f}, "
                                               f"{100 * c['ci95'][1]:+.1f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
