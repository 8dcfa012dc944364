"""SampleOptions: every setting of `mmpo sample`, its default, help and check (docs/stages.md).

    from mmpo.sample.options import SampleOptions
    opts = SampleOptions(model="models/tiny", data="data/train.jsonl", n=8, out="samples.jsonl")

The paper's data engine: its CoT prompt ("Final answer: .."), temperature 1.0, top-k 50. `mmpo sample`,
`mmpo iterate` and `mmpo demo` all take these defaults from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmpo.data.prompts import PROMPT_SOURCES, PROMPT_STYLES
from mmpo.engines.options import ENGINE_FIELDS, EngineOptions
from mmpo.errors import ON_ERROR, MMPOError
from mmpo.options import check_options, option

SAMPLE_STYLES = tuple(s for s in PROMPT_STYLES if s != "direct")  # sampling asks for reasoning


@dataclass
class SampleOptions(EngineOptions):
    model: str | None = option(None, "model directory (Hugging Face layout)", required=True)
    data: str | None = option(None, "prompt records: .jsonl, .json, .parquet or a `datasets` folder (MathVista, "
                                    "M3CoT, ScienceQA, MathVerse shapes), or plain JSONL with image, question[, "
                                    "answer]", required=True)
    n: int = option(8, "samples per prompt (paper: up to 32)", low=1)
    out: str | None = option(None, "output JSONL (resumed if it exists)", required=True)
    seed: int = option(0, "base seed; each prompt's seed derives from (seed, pid)")
    shard: str = option("0/1", "i/n: take every n-th prompt starting at i")
    temperature: float = option(1.0, "0 = greedy", low=0)
    top_k: int = option(50, "0 = no top-k filter", low=0)
    max_new_tokens: int = option(512, "response length limit in tokens", low=1)
    batch_size: int = option(4, "prompts per prefill (each gets N rows)", low=1)
    prompt_style: str = option("cot", "cot: the paper's \"Final answer: ..\" prompt; boxed: the answer in \\boxed{}",
                               choices=SAMPLE_STYLES)
    prompt_source: str = option("auto", "auto: the record's official query when it has one (MathVista's), else "
                                        "mmpo's layout of question, unit and options; query: require it; mmpo: "
                                        "always mmpo's layout", choices=PROMPT_SOURCES)
    dropout_ntp: bool = option(False, "for records without an answer, continue part of each response without "
                                      "the image")
    dropout_ratio: float = option(0.5, "share of words kept for DropoutNTP, in (0, 1)", low=0, low_open=True,
                                  high=1)
    on_error: str = option("raise", "a bad record stops the run (raise) or is counted in FILE.stats.json (skip)",
                           choices=ON_ERROR)
    limit: int | None = option(None, "only the first K records of --data", low=1)
    trust_remote_code: bool = option(False, "run the checkpoint's own Python code (only for checkpoints you "
                                            "trust)")
    progress: bool = option(True, "no progress bar", flag="--no-progress")

    def __post_init__(self):
        check_options(self)
        self.check_engine()
        if self.dropout_ratio >= 1:
            raise MMPOError(f"--dropout-ratio must be in (0, 1), got {self.dropout_ratio}")
        parse_shard(self.shard)

    def settings(self) -> dict:
        """What decides the samples (recorded in every line; a resumed run must match it)."""
        from mmpo.options import fields_of

        own = fields_of(self, skip=("out", "on_error", "progress", "data", "limit", "trust_remote_code",
                                    *ENGINE_FIELDS))
        return {**own, **self.engine_settings()}  # the HF engine's settings read as before engines came


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise MMPOError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise MMPOError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return i, n
