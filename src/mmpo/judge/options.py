"""JudgeOptions: which LLM judges a judge-scored benchmark's answers, and with which prompt.

    @dataclass
    class EvalOptions(EngineOptions, JudgeOptions): ...   # --judge-base-url, --judge-model, ... as flags

Only the judge model's name and the prompt file's content decide a judgement (`JUDGE_SETTINGS`);
addresses, keys and concurrency only say how to reach the judge, so a rerun through another server
reuses the judgements already made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mmpo.errors import MMPOError
from mmpo.options import check_options, option

# Where each benchmark's authors publish their judge prompt (mmpo ships none of them).
PROMPT_SOURCES = {
    "mm-vet": "the few-shot grader prompt of MM-Vet (github.com/yuweihao/MM-Vet, mm-vet_evaluator; "
              "paper arXiv:2308.02490, Table 1)",
    "llava-bench": "the rules of LLaVA-Bench (github.com/haotian-liu/LLaVA, llava/eval/table/rule.json, "
                   "keys llava_bench_conv / llava_bench_detail / llava_bench_complex; laid out by "
                   "llava/eval/eval_gpt_review_bench.py)",
    "mmhal": "the GPT-4 template of MMHal-Bench (github.com/llava-rlhf/LLaVA-RLHF, Eval/eval_gpt4.py; "
             "paper arXiv:2309.14525)",
}


@dataclass
class JudgeOptions:
    judge_base_url: tuple[str, ...] = option((), "the judge's OpenAI-compatible API root, e.g. http://judge:8000/v1 "
                                                 "(requests are spread over every one given)", repeat=True,
                                             metavar="URL")
    judge_model: str | None = option(None, "the judge's model name as its server serves it (required for "
                                           "judge-scored benchmarks)", metavar="NAME")
    judge_prompt: str | None = option(None, "the judge prompt template (a text file with {question}, {answer}, "
                                            "{response}, ...; or a JSON object of templates by category); mmpo "
                                            "ships none: copy the benchmark authors' prompt", metavar="FILE")
    judge_api_key_env: str | None = option(None, "environment variable holding the judge server's API key "
                                                 "(default: none)", metavar="VAR")
    judge_concurrency: int = option(8, "judge requests in flight at once", low=1)
    judge_max_tokens: int = option(1024, "at most this many tokens per judge reply", low=1)

    def __post_init__(self):
        if isinstance(self.judge_base_url, str):
            self.judge_base_url = (self.judge_base_url,)
        self.judge_base_url = tuple(self.judge_base_url)
        check_options(self)

    def check_judge(self, benchmark: str | None = None) -> None:
        """Refuse a judge-scored run that lacks a judge: each missing flag named, with where the prompt is
        published."""
        if isinstance(self.judge_base_url, str):
            self.judge_base_url = (self.judge_base_url,)
        self.judge_base_url = tuple(self.judge_base_url)
        where = PROMPT_SOURCES.get(benchmark or "")
        if not self.judge_prompt:
            sources = [where] if where else [f"{k}: {v}" for k, v in PROMPT_SOURCES.items()]
            raise MMPOError(f"{benchmark or 'a judge-scored benchmark'} needs --judge-prompt FILE: mmpo ships none of "
                            "the official judge prompts; save the authors' prompt as a template with {question}, "
                            "{answer} and {response} placeholders. It is published in " + "; ".join(sources))
        if not Path(self.judge_prompt).is_file():
            raise MMPOError(f"--judge-prompt {self.judge_prompt} does not exist")
        if not self.judge_model:
            raise MMPOError("--judge-model is required for judge-scored benchmarks (the judge's served model name)")
        if not self.judge_base_url:
            raise MMPOError("judge-scored benchmarks need --judge-base-url (the judge server's API root, "
                            "e.g. http://host:8000/v1)")
        for url in self.judge_base_url:
            if not url.startswith(("http://", "https://")):
                raise MMPOError(f"--judge-base-url must start with http:// or https://, got {url!r}")


JUDGE_SETTINGS = ("judge_model", "prompt_sha256")
