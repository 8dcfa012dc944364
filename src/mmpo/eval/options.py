"""EvalOptions: every setting of `mmpo eval`, its default, help and check (docs/stages.md).

    from mmpo.eval.options import EvalOptions
    opts = EvalOptions(model="runs/mpo", data="data/test.jsonl", out="evals/mpo", modes=("cot",))

`answer_settings()` is the part that decides the answers: with the model's weights it is the key
under which an evaluation folder resumes (`mmpo.eval.run.eval_key`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mmpo.answers import SCORINGS
from mmpo.data.prompts import PROMPT_SOURCES, PROMPT_STYLES
from mmpo.engines.options import EngineOptions
from mmpo.errors import MMPOError
from mmpo.judge.options import JudgeOptions
from mmpo.options import check_options, comma_list, option


@dataclass
class EvalOptions(EngineOptions, JudgeOptions):
    # Required (checked by run_eval), but not by argparse: `--benchmark list` needs none of them.
    model: str | None = option(None, "checkpoint directory (weights + processor); required")
    data: str | None = option(None, "benchmark records: .jsonl, .json (list or dict), .parquet, .tsv (VLMEvalKit), "
                                    "or a `datasets` folder; MathVista, M3CoT, ScienceQA, MathVerse shapes; "
                                    "required unless --suite")
    out: str | None = option(None, "output directory; required")
    benchmark: str | None = option(None, "a named benchmark (docs/benchmarks.md): read as it ships, asked with its "
                                         "prompts, scored by its rule; `list` prints them", metavar="NAME")
    suite: str | None = option(None, "`paper`: every benchmark of the paper's table whose files are under "
                                     "--data-root, each into OUT/NAME", choices=("paper",))
    data_root: str | None = option(None, "the folder --suite searches for benchmark files")
    modes: tuple[str, ...] = option(("direct", "cot"), "comma-separated: direct, cot, boxed", parse=comma_list,
                                    choices=PROMPT_STYLES, metavar="MODES")
    scoring: str = option("default", "answer checking rules (mathvista: the official benchmark's)",
                          choices=SCORINGS)
    max_new_tokens: int = option(512, "response length limit", low=1)
    direct_max_new_tokens: int | None = option(None, "a tighter limit for direct answers", low=1,
                                               note="--max-new-tokens")
    batch_size: int = option(8, "prompts per generate call", low=1)
    limit: int | None = option(None, "evaluate only the first K records", low=1)
    prompt_source: str = option("auto", "auto: the record's official query when it has one (MathVista's), else "
                                        "mmpo's layout of question, unit and options; query: require it; mmpo: "
                                        "always mmpo's layout", choices=PROMPT_SOURCES)
    shuffle_images: bool = option(False, "pair each question with another record's image (seeded derangement)")
    seed: int = option(0, "seed for --shuffle-images (decoding is greedy)")
    device: str | None = option(None, "cpu, cuda, cuda:1 ... (default: cuda if available)")
    dtype: str | None = option(None, "model dtype (default: the checkpoint's)", choices=("float32", "bfloat16", "float16"))
    trust_remote_code: bool = option(False, "run the checkpoint's own Python code (only for checkpoints you "
                                            "trust)")
    progress: bool = option(True, "no progress bar", flag="--no-progress")

    def __post_init__(self):
        self.modes = tuple(dict.fromkeys(self.modes))
        if not self.modes:
            raise MMPOError("--modes: no modes given")
        for mode in self.modes:
            if mode not in PROMPT_STYLES:
                raise MMPOError(f"--modes: unknown mode {mode!r}; choose from {', '.join(PROMPT_STYLES)}")
        check_options(self)
        self.check_engine()
        JudgeOptions.__post_init__(self)
        if self.benchmark is not None and self.benchmark != "list":
            self._check_benchmark_modes()
        if self.benchmark or self.suite:
            for name, default in (("scoring", "default"), ("prompt_source", "auto")):
                if getattr(self, name) != default:
                    raise MMPOError(f"--{name.replace('_', '-')} is for generic records; a named benchmark "
                                    "asks and scores by its own rules")
        if self.suite and self.benchmark:
            raise MMPOError("--suite runs every benchmark it finds; drop --benchmark")
        if self.suite and not self.data_root:
            raise MMPOError("--suite needs --data-root (the folder holding the benchmarks' files)")
        if self.data_root and not self.suite:
            raise MMPOError("--data-root is for --suite; for one benchmark pass --data")
        if self.engine != "hf" and (self.device is not None or self.dtype is not None):
            raise MMPOError("--device and --dtype are for --engine hf; a server runs the model on its own device "
                            "(pass --vllm-arg=--dtype=... to vllm serve)")
        if self.device is not None:
            from mmpo.models.load import check_device

            check_device(self.device)

    def _check_benchmark_modes(self) -> None:
        """An unknown benchmark fails now, listing the known ones. A benchmark asked in fewer modes (the
        judge-scored ones: directly) takes those when --modes was left at its default; a mode it does
        not ask, given on purpose, is refused."""
        from mmpo.benchmarks import get_benchmark

        bench = get_benchmark(self.benchmark)
        if set(self.modes) <= set(bench.modes):
            return
        if self.modes == ("direct", "cot"):
            self.modes = tuple(m for m in self.modes if m in bench.modes)
            return
        raise MMPOError(f"--modes: {bench.name} is asked in {', '.join(bench.modes)} only")

    def limit_for(self, mode: str) -> int:
        """The response length limit of one mode (direct answers may have a tighter one)."""
        return self.direct_max_new_tokens if mode == "direct" and self.direct_max_new_tokens else self.max_new_tokens

    def answer_settings(self) -> dict:
        """The settings that decide the answers (with the weights and each record, the resume key)."""
        out = {"modes": list(self.modes), "scoring": self.scoring, "max_new_tokens": self.max_new_tokens,
               "prompt_source": self.prompt_source, "batch_size": self.batch_size,
               "shuffle_images": self.shuffle_images, "seed": self.seed}
        if self.direct_max_new_tokens is not None:
            out["direct_max_new_tokens"] = self.direct_max_new_tokens
        if self.benchmark is not None:
            out["benchmark"] = self.benchmark
        return {**out, **self.engine_settings()}
