"""Answer checks inside `multiprocessing` workers, for tests/answers/test_symbolic_pool.py (fork and spawn).

    pool.apply(check_cases, ([(response, record), ...], budget_s))
    -> (pid, [(verdict, reason), ...], symbolic worker pids, symbolic pool stats)
"""

from __future__ import annotations

import os


def check_cases(cases: list[tuple[str, dict]], budget_s: float | None = None):
    import mmpo.answers.check as check_module
    from mmpo.answers import check_answer, symbolic_pool

    if budget_s is not None:
        check_module.SYMBOLIC_BUDGET_S = budget_s
    out = []
    for response, record in cases:
        v = check_answer(response, record)
        out.append((v.verdict, v.reason))
    return os.getpid(), out, symbolic_pool.worker_pids(), symbolic_pool.stats()
