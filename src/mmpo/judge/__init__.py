"""Scoring open-ended answers with an LLM judge, as MM-Vet, LLaVA-Bench and MMHal-Bench publish it
(docs/judge.md).

    from mmpo.judge import JudgeOptions, judge_predictions
    opts = JudgeOptions(judge_base_url=("http://judge:8000/v1",), judge_model="Qwen2.5-72B-Instruct",
                        judge_prompt="prompts/mmvet.txt")
    scored = judge_predictions(out_dir, get_benchmark("mm-vet"), records, predictions, opts)

mmpo ships none of the official judge prompts: `--judge-prompt` is the user's copy of the benchmark
authors' prompt, a template with `{question}`, `{answer}`, `{response}` and the benchmark's own fields
(`mmpo.judge.template`). Judgements are appended to `judgements.jsonl` and reused by a rerun
(`mmpo.judge.run`).
"""

from __future__ import annotations

from mmpo.judge.options import JudgeOptions

__all__ = ["JudgeOptions", "judge_predictions"]


def __getattr__(name: str):
    if name == "judge_predictions":
        from mmpo.judge.run import judge_predictions

        return judge_predictions
    raise AttributeError(name)
