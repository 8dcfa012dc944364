"""The symbolic worker: a process that runs math-verify's comparisons, so that a slow one can be killed.

Started by `mmpo.answers.symbolic_pool`, never by hand:
    python -c BOOTSTRAP SYS_PATH_JSON      (the caller's sys.path, so it imports the caller's mmpo)

It speaks JSON lines. Its first line on stdout is {"ready": true} once math-verify is imported and has
made one comparison (sympy's first one takes a second or more), or {"error": "..."} if it cannot start.
Then, one reply per request read on stdin:
    {"id": 7, "kind": "eq", "a": "\\frac{1}{2}", "b": "0.5", "limit": 1.9}  ->  {"id": 7, "ok": true, "value": true}
    "eq": math-verify's verdict on gold `a` and prediction `b` (true, false, or null when one does not parse);
    "value": the real number the closed form `a` denotes (an integer exactly, below 2**MAX_INTEGER_BITS),
    or null. Any failure is
    {"id": 7, "ok": false, "error": "ValueError"}.

Model text is parsed as LaTeX only (math-verify's LatexExtractionConfig), never evaluated as code.
The worker exits when its stdin closes (the caller ended), when its parent process is gone, or when one
request runs GRACE_S past its `limit` (the caller kills it at the limit; this is the fallback when the
caller cannot, e.g. it is stopped).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from functools import lru_cache

GRACE_S = 2.0
_POLL_S = 0.25
MAX_INTEGER_BITS = 1000  # integer closed forms ("2^{60}") are returned exactly below 2**1000 (in float range)


@lru_cache(maxsize=4096)
def _parse(latex: str) -> tuple:
    from math_verify import LatexExtractionConfig, parse

    return tuple(parse(f"${latex}$", extraction_config=[LatexExtractionConfig()], parsing_timeout=None))


def equal(gold: str, pred: str) -> bool | None:
    """math-verify's verdict on two LaTeX strings (each wrapped in `$...$`); None when one does not parse."""
    from math_verify import verify

    g, p = _parse(gold), _parse(pred)
    if not g or not p:
        return None
    return bool(verify(list(g), list(p), timeout_seconds=None))


def value(latex: str, _unused: str = "") -> float | int | None:
    """The real number a closed-form LaTeX expression denotes (an int when it is an integer), or None."""
    import sympy

    parsed = [x for x in _parse(latex) if isinstance(x, sympy.Expr)]
    if not parsed or not parsed[0].is_number:
        return None
    v = parsed[0].evalf(30)
    if not v.is_real:
        return None
    if parsed[0].is_integer and abs(v) < 2 ** MAX_INTEGER_BITS:  # "2^{60}" exactly, not as a float
        exact = parsed[0].doit()
        if isinstance(exact, sympy.Integer):
            return int(exact)
    return float(v)


KINDS = {"eq": equal, "value": value}

# Run once at start, outside any budget: sympy sets up much of itself on first use (the first comparison
# of polynomials took 0.55 s of CPU, of trigonometric forms 0.36 s, of fractions of pi 0.17 s; the
# next of each kind 0.01-0.05 s), which must not count against the first checks of a fresh worker.
# Measured: about 2 s of CPU in all, on top of 1.4 s for the imports.
WARM_UP = [
    (r"\frac{\sqrt{2}}{2}", r"\sqrt{2}/2"), (r"\frac{\pi}{4}", r"\frac{2\pi}{8}"), ("x^2-1", "(x-1)(x+1)"),
    ("x^2-1", "x^2+1"), (r"\tan(x)", r"\frac{\sin(x)}{\cos(x)}"), ("x=2", "2"), (r"\frac{1}{2}", "0.5"),
    ("(1,2)", "(1, 3)"), (r"\{1,2\}", r"\{2,1\}"), (r"\ln(e^{2})", "2"), (r"\cos(60^{\circ})", r"\frac{1}{2}"),
]


def _watchdog(parent: int, state: dict) -> None:
    while True:
        time.sleep(_POLL_S)
        until = state.get("until")
        if os.getppid() != parent or (until is not None and time.monotonic() > until):
            os._exit(3)


def _send(out, obj: dict) -> None:
    out.write(json.dumps(obj).encode("ascii") + b"\n")
    out.flush()


def main() -> int:
    out, inp = sys.stdout.buffer, sys.stdin.buffer
    sys.stdout = sys.stderr  # a library's print must not reach the replies
    state: dict = {"until": None}
    threading.Thread(target=_watchdog, args=(os.getppid(), state), name="mmpo-symbolic-watchdog",
                     daemon=True).start()
    try:
        import math_verify.grader
        import math_verify.parser

        # The caller bounds the time; the library's "timeout disabled" warning would print on first use.
        math_verify.parser.TIMEOUT_WARNING_SHOWN = True
        math_verify.grader.TIMEOUT_WARNING_SHOWN = True
        for gold, pred in WARM_UP:
            equal(gold, pred)
        value(r"\sqrt{2}+\pi")
    except Exception as exc:
        _send(out, {"error": f"math-verify is not usable: {type(exc).__name__}: {exc}"})
        return 1
    _send(out, {"ready": True})
    for line in inp:
        req = json.loads(line)
        state["until"] = time.monotonic() + float(req["limit"]) + GRACE_S
        try:
            reply = {"id": req["id"], "ok": True, "value": KINDS[req["kind"]](req["a"], req["b"])}
        except Exception as exc:  # sympy and latex2sympy raise many kinds; all mean "no verdict"
            reply = {"id": req["id"], "ok": False, "error": type(exc).__name__}
        state["until"] = None
        _send(out, reply)
    return 0
