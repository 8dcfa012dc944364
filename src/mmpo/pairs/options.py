"""PairOptions: every setting of `mmpo pairs`, its default, help and check (docs/stages.md).

    from mmpo.pairs.options import PairOptions
    opts = PairOptions(samples=["samples.jsonl"], out="pairs", max_pairs_per_prompt=4)
"""

from __future__ import annotations

from dataclasses import dataclass

from mmpo.errors import ON_ERROR
from mmpo.options import check_options, option


@dataclass
class PairOptions:
    samples: list[str] | None = option(None, "samples JSONL files (shards welcome)", cli=False)
    out: str | None = option(None, "output folder", required=True)
    max_pairs_per_prompt: int = option(15, "cap per prompt and kind, drawn with the seed (paper: 15)", low=1)
    seed: int = option(0, "seed of the draw under the cap")
    on_error: str = option("raise", "a bad samples line stops the run (raise) or is counted in stats.json (skip)",
                           choices=ON_ERROR)
    name: str | None = option(None, "subset name prefix (default: the data file name recorded by mmpo sample)")

    def __post_init__(self):
        check_options(self)
