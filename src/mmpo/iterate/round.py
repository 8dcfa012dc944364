"""One round of the paper's loop: sample from a model, build pairs, train from it, evaluate the result.

    rnd = Round(start=Path("models/base"), samples=Path("r1/samples.jsonl"), pairs_dir=Path("r1/pairs"),
                sample=SampleOptions(data="data/train.jsonl", n=8), pairs=PairOptions(max_pairs_per_prompt=4),
                training={"learning_rate": 1e-5})
    stats = rnd.sample_and_pair()                   # mmpo sample, then mmpo pairs
    model = rnd.train(Path("r1/model"))             # mmpo train from `start` on the round's pairs
    scores = evaluate(model, records, Path("r1/eval"), EvalOptions(modes=("cot",))).scores

`mmpo iterate` runs rounds one after another (`run_round`); `mmpo demo` runs one round and trains
its controls and learning-rate candidates on the same pairs (`Round.train` with other fields).
Every step resumes: sampling its file, pairs are rebuilt (deterministic), a training folder whose
marker says it finished from the same start, pairs and settings is reused, an evaluation resumes
its predictions (`mmpo.eval.run.evaluate_into`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmpo.data.layout import PAIRS_META, PAIRS_STATS, ROUND_DONE
from mmpo.errors import MMPOError
from mmpo.eval.options import EvalOptions
from mmpo.pairs.options import PairOptions
from mmpo.sample.options import SampleOptions


@dataclass
class Round:
    start: Path                      # the model the round samples from and trains from
    samples: Path                    # the samples file it writes
    pairs_dir: Path                  # the pairs folder it writes
    sample: SampleOptions            # how to sample (its model and out are the round's)
    pairs: PairOptions = field(default_factory=PairOptions)
    training: dict[str, Any] = field(default_factory=dict)   # MPOConfig fields on top of `train_config`
    train_config: str | None = None  # a YAML recipe of MPOConfig fields
    name: str | None = None          # subset name prefix of the pairs (default: the data file's name)
    on_mismatch: str = "raise"       # a samples file of other settings: refused (raise) or replaced (the demo)
    sampling: dict[str, Any] | None = field(default=None, init=False)   # the sampling summary, once run

    def sample_and_pair(self) -> dict[str, Any]:
        """Sample N chains per prompt from `start`, then build pairs; returns the pairs' stats."""
        from mmpo.pairs.build import build_pairs, format_summary
        from mmpo.sample.run import run_sampling

        self.sampling = run_sampling(dataclasses.replace(self.sample, model=str(self.start), out=str(self.samples)),
                                     on_mismatch=self.on_mismatch)
        stats = build_pairs(dataclasses.replace(self.pairs, samples=[str(self.samples)], out=str(self.pairs_dir),
                                                name=self.name or self.pairs.name))
        print(format_summary(stats), flush=True)
        if stats["pairs"]["total"] == 0:
            raise MMPOError(f"sampling gave no preference pairs (every prompt all right or all wrong, see "
                            f"{self.pairs_dir / PAIRS_STATS}); more samples (--n) or a higher --temperature may help")
        return stats

    def train(self, out: Path, **fields: Any) -> Path:
        """Train from `start` on the round's pairs into `out` (`fields` over the round's own), or reuse it.

        A folder that finished from the same start, pairs and settings is reused; one a kill interrupted
        continues from its newest complete checkpoint; anything else is trained again.
        """
        from mmpo.train.checkpoints import complete_checkpoints
        from mmpo.train.run import build_config, run_training

        values = {**self.training, **fields, "model_name_or_path": str(self.start),
                  "train_data": str(self.pairs_dir / PAIRS_META), "output_dir": str(out)}
        cfg = build_config(self.train_config, values)
        marker = {"from": str(self.start), "settings": _settings_digest(cfg), "pairs": _pairs_digest(self.pairs_dir)}
        done = out / ROUND_DONE
        if done.is_file() and _read_json(done) == marker:
            print(f"{out}: trained in an earlier run", flush=True)
            return out
        if out.exists() and not done.is_file() and complete_checkpoints(out):
            cfg.resume_from_checkpoint = "true"  # a kill mid-training: continue from its newest checkpoint
        else:
            shutil.rmtree(out, ignore_errors=True)
        run_training(cfg)
        done.write_text(json.dumps(marker) + "\n", encoding="utf-8")
        return out


def evaluate(model: Path, records: list[dict[str, Any]], out: Path, opts: EvalOptions, *,
             name: str | None = None, loaded: tuple[Any, Any] | None = None, on_mismatch: str = "raise"):
    """Evaluate the checkpoint `model` on `records` into `out` (resumable); `loaded`: the model already in
    memory. Returns the `EvalResult`."""
    from mmpo.engines.session import open_model
    from mmpo.eval.run import eval_key, evaluate_into
    from mmpo.models.load import weights_digest

    opts = dataclasses.replace(opts, model=str(model), out=str(out))
    # A model in memory is answered in this process; from disk, through the engine asked for.
    load = (lambda: loaded) if loaded is not None and opts.engine == "hf" else (
        lambda: open_model(opts, model, device=opts.device, dtype=opts.dtype))
    return evaluate_into(out, records, opts, key=eval_key(opts, weights_digest(model)), load=load,
                         on_mismatch=on_mismatch, model_name=name)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _settings_digest(cfg) -> str:
    """The training settings that decide the weights (not where they are written or logged)."""
    skip = {"output_dir", "logging_dir", "run_name", "resume_from_checkpoint", "overwrite_output_dir", "disable_tqdm"}
    values = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in skip}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _pairs_digest(pairs_dir: Path) -> str:
    """Hash of the pairs' meta.json and subset files (what training read)."""
    h = hashlib.sha256()
    for path in [pairs_dir / PAIRS_META, *sorted(pairs_dir.glob("*.jsonl"))]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
