"""Sampling through a server (`--engine vllm|openai`): the same samples lines as the HF path.

Each prompt is one chat request with `n` choices and the seed the HF path gives it
(`prompt_seed(seed, pid)`), so a prompt's samples do not depend on its batch, shard or rerun; the
server's sampler is not the HF one, so the texts differ from `--engine hf`'s, and the engine is part
of the file's settings. DropoutNTP continues the first part of each response as a partial assistant
message without the image (`continue_final_message`), seeded per response as on the HF path.
Verdicts come from the same `response_item`. See docs/engines.md.
"""

from __future__ import annotations

from typing import Any

from mmpo.engines.client import ChatRequest


def engine_responses(opts: Any, session: Any, batch: list[dict[str, Any]], images: list[Any]) -> list[list[dict]]:
    """Each record's responses (input order) from the session's server."""
    from mmpo.models.load import capped_length
    from mmpo.sample.responses import prompt_seed, response_item

    max_tokens = capped_length(session, opts.max_new_tokens)
    reqs = [ChatRequest(pid=str(r["pid"]), text=r["_prompt"], image=im, n=opts.n, temperature=opts.temperature,
                        top_k=opts.top_k, max_tokens=max_tokens, seed=prompt_seed(opts.seed, r["pid"]))
            for r, im in zip(batch, images)]
    for req in reqs[:1]:
        session.check_prompt(req.text, req.image)
    out = []
    for rec, samples in zip(batch, session.imap(reqs)):
        resp = [response_item(rec, session.text_of(s), s.truncated) for s in samples]
        if opts.dropout_ntp and rec.get("answer") in (None, "") and rec["image_path"] is not None:
            _dropout_ntp(opts, session, rec, resp, max_tokens)
        out.append(resp)
    return out


def _dropout_ntp(opts: Any, session: Any, rec: dict[str, Any], resp: list[dict], max_tokens: int) -> None:
    from mmpo.sample.responses import prompt_seed, split_words

    todo = [(j, p) for j, r in enumerate(resp) if (p := split_words(r["text"], opts.dropout_ratio)) is not None]
    if not todo:
        return
    session.check_prompt(rec["_prompt"], assistant_prefix=todo[0][1])
    reqs = [ChatRequest(pid=f"{rec['pid']} (DropoutNTP {j})", text=rec["_prompt"], assistant_prefix=prefix, n=1,
                        temperature=opts.temperature, top_k=opts.top_k, max_tokens=max_tokens,
                        seed=prompt_seed(opts.seed, rec["pid"], f"ntp{j}")) for j, prefix in todo]
    for (j, prefix), (s,) in zip(todo, session.complete(reqs)):
        resp[j]["ntp_prefix"] = prefix
        resp[j]["ntp_continuation"] = session.text_of(s)
        resp[j]["ntp_truncated"] = s.truncated
