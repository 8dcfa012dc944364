"""Greedy answers through a server (`mmpo eval --engine vllm|openai`), as `greedy_generate` gives them.

One request per (record, mode): temperature 0, one choice, the mode's token limit; the server's token
ids give `num_tokens` (the tokens before the end-of-sequence token, as on the HF path). On the tiny
fp32 models vLLM's greedy answers equal the HF engine's token for token (tests/engines); on other
models and dtypes the two can part where two tokens tie. See docs/engines.md.
"""

from __future__ import annotations

from typing import Any

from mmpo.engines.client import ChatRequest
from mmpo.eval.generate import Generation


def engine_greedy(session: Any, pids: list[str], items: list[tuple[str, Any]], max_tokens: int,
                  progress: Any = None) -> list[Generation]:
    """Greedy continuations of each (user text, image or None), in order."""
    reqs = [ChatRequest(pid=pid, text=text, image=image, n=1, temperature=0.0, top_k=0, max_tokens=max_tokens)
            for pid, (text, image) in zip(pids, items)]
    for req in reqs[:1]:
        session.check_prompt(req.text, req.image)
    out = []
    for (s,) in session.imap(reqs):
        out.append(Generation(text=session.text_of(s).strip(), num_tokens=s.num_tokens if s.num_tokens is not None else 0,
                              truncated=s.truncated))
        if progress is not None:
            progress.update(1)
    return out
