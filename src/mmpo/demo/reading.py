"""How well a demo model reads the image: the share of numbers its chains state correctly.

A digits-family chain starts "The numbers are 3 , 7 , 2 ." The numbers it states are compared
position by position with the digits drawn in the scene (reading order); a missing or extra
number counts against it, so a chain that skips reading scores 0 for that record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

_READ = re.compile(r"The numbers are ((?:-?\d+\s*,\s*)*-?\d+)")


def stated_numbers(response: str) -> list[str] | None:
    """The numbers a chain says it read, or None if it never says."""
    m = _READ.search(response or "")
    if not m:
        return None
    return [x.strip() for x in m.group(1).split(",")]


def drawn_numbers(record: dict[str, Any]) -> list[str]:
    glyphs = sorted((record.get("scene") or {}).get("glyphs", []), key=lambda g: tuple(g["cell"]))
    return [g["char"] for g in glyphs if g["char"].isdigit()]


def reading_accuracy(records: Sequence[dict[str, Any]], predictions: Iterable[dict[str, Any]],
                     mode: str = "cot") -> dict[str, Any]:
    """{"accuracy": right / drawn numbers, "numbers": drawn, "right": right, "stated_share": chains that read}."""
    by_pid = {p["pid"]: p for p in predictions if p.get("mode") == mode}
    drawn = right = stated = n = 0
    for rec in records:
        pred = by_pid.get(rec["pid"])
        truth = drawn_numbers(rec)
        if pred is None or not truth:
            continue
        n += 1
        said = stated_numbers(pred.get("response", ""))
        drawn += max(len(truth), len(said or []))
        if said is not None:
            stated += 1
            right += sum(a == b for a, b in zip(said, truth))
    return {"accuracy": right / drawn if drawn else None, "numbers": drawn, "right": right,
            "records": n, "stated_share": stated / n if n else None}


# A model that answers in its own words ("The numbers in the image are 7, 6, 5, ...").
_LOOSE = re.compile(r"numbers(?: in (?:the|this) image)? (?:are|is)\s*:?\s*((?:-?\d+\s*,\s*(?:and\s+)?)*-?\d+)",
                    re.IGNORECASE)


def loose_stated_numbers(response: str, count: int) -> list[str] | None:
    """The first `count` numbers a free-form reading answer lists, or None if it lists none.

    Only the first `count` are kept: a frozen language model often runs on past the last drawn
    number ("7, 6, 5, 6, 5, 7, ..."), which says nothing about what it read.
    """
    m = _LOOSE.search(response or "")
    if not m:
        return None
    return re.findall(r"-?\d+", m.group(1))[:count]


READ_MAX_NEW_TOKENS = 40  # "The numbers are 3 , 7 , 2 ." and a frozen model's run-on, with room to spare


def read_check(model: Any, processor: Any, records: Sequence[dict[str, Any]], *, batch_size: int,
               max_new_tokens: int) -> dict[str, Any]:
    """Ask "What numbers are in the image ?" and score the listed numbers position by position.

    Returns reading_accuracy's keys plus `examples` (the first three responses with the truth).
    """
    from mmpo.data.images import load_record_images
    from mmpo.eval.generate import greedy_generate
    from mmpo.pretrain.sft import READ_PROMPT

    records = list(records)
    images = load_record_images(records)
    outs = greedy_generate(model, processor, [(READ_PROMPT, im) for im in images], max_new_tokens=max_new_tokens,
                           batch_size=batch_size)
    drawn = right = stated = 0
    for rec, out in zip(records, outs):
        truth = drawn_numbers(rec)
        said = loose_stated_numbers(out.text, len(truth))
        drawn += len(truth)
        if said is not None:
            stated += 1
            right += sum(a == b for a, b in zip(said, truth))
    return {"accuracy": right / drawn if drawn else None, "numbers": drawn, "right": right, "records": len(records),
            "stated_share": stated / len(records) if records else None, "prompt": READ_PROMPT,
            "examples": [{"response": o.text, "truth": drawn_numbers(r)} for r, o in zip(records[:3], outs)]}
