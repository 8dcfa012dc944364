"""What every sampling engine shares: each prompt's seed, a response scored as the samples line holds
it, and the DropoutNTP split of a response (docs/stages.md)."""

from __future__ import annotations

import hashlib
from typing import Any


def prompt_seed(seed: int, pid: str, salt: str = "") -> int:
    """A 63-bit seed from (seed, pid): the same prompt gets the same samples in any shard or rerun."""
    digest = hashlib.sha256(f"{seed}\x00{pid}\x00{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def response_item(rec: dict[str, Any], text: str, truncated: bool) -> dict[str, Any]:
    """One response as the samples line holds it, scored against the record's answer (if it has one);
    every engine's responses go through here."""
    from mmpo.answers import check_answer, extract_answer

    if rec.get("answer") not in (None, ""):
        v = check_answer(text, rec)
        return {"text": text, "extracted": v.extracted, "verdict": v.verdict, "truncated": truncated}
    return {"text": text, "extracted": extract_answer(text), "verdict": None, "truncated": truncated}


def split_words(text: str, ratio: float) -> str | None:
    """The text up to the end of its first `ratio` share of whitespace-separated words (None if < 2 words)."""
    spans, pos = [], 0
    for word in text.split():
        start = text.index(word, pos)
        pos = start + len(word)
        spans.append(pos)
    if len(spans) < 2:
        return None
    k = min(len(spans) - 1, max(1, int(len(spans) * ratio)))
    return text[: spans[k - 1]]
