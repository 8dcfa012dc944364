"""Symbolic checks run in worker processes killed at their deadline (mmpo.answers.symbolic_pool): a slow
answer costs its own check the budget and nothing after it, from any thread or process, and no worker
outlives its caller."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

import mmpo.answers.check as check_module
from mmpo.answers import SYMBOLIC_BUDGET_S, check_answer, symbolic_pool
from mmpo.answers import symbolic as sym
from mmpo.errors import MMPOError

SLOW = (r"Final answer: (x+y+z)^{999}", {"answer": "(x+y+z)^{998}", "answer_type": "text"})
PI = (r"Final answer: \frac{2\pi}{6}", {"answer": r"\frac{\pi}{3}", "answer_type": "text"})
UNDECIDED = ("incorrect", "symbolic check undecided")

# Each passes the safety filter and keeps sympy busy far beyond any budget (measured: over 8 s each).
ADVERSARIAL = [
    ("(x+y+z)^{998}", "(x+y+z)^{999}"),
    ("(x+y)^{999}", "(x+y)^{998}"),
    ("(a+b+c+d)^{99}", "(a+b+c+d)^{98}"),
    (r"\sin(x)^{999}", r"\cos(x)^{999}"),
    ("(x+y+z)^{99}", "(x+y+z)^{98}"),
    (r"\frac{(x+y)^{999}}{(x-y)^{999}}", "1"),
]
MC = {"answer": r"\sqrt{2}", "choices": [r"\sqrt{2}", r"\frac{1}{2}", "3"], "question_type": "multi_choice"}
# (response, record, verdict, reason), as a fresh process checks them.
NORMAL = [
    (*PI, "correct", "symbolic"),
    (r"Final answer: \frac{\pi}{4}", {"answer": r"\frac{\pi}{3}"}, "incorrect", "symbolic"),
    (r"Final answer: 2\sqrt{2}", {"answer": r"\sqrt{8}"}, "correct", "symbolic"),
    (r"Final answer: (x-1)(x+1)", {"answer": "x^2-1"}, "correct", "symbolic"),
    (r"Final answer: x^2+1", {"answer": "x^2-1"}, "incorrect", "symbolic"),
    (r"Final answer: \sqrt{2}", {"answer": "1.41", "answer_type": "float", "precision": 2}, "correct", "number"),
    (r"Final answer: \frac{2}{\sqrt{2}}", MC, "correct", "symbolic"),
]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pids, timeout=10.0) -> list[int]:
    end = time.monotonic() + timeout
    while (left := [p for p in pids if _alive(p)]) and time.monotonic() < end:
        time.sleep(0.05)
    return left


def _symbolic_children() -> list[int]:
    out = []
    for child in psutil.Process().children():
        try:
            if "symbolic_worker" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                out.append(child.pid)
        except psutil.NoSuchProcess:
            pass
    return sorted(out)


def _check_normal():
    sym._results.clear()  # verdicts from the worker, not from the cache
    return [(v.verdict, v.reason) for v in (check_answer(r, rec) for r, rec, _, _ in NORMAL)]


EXPECTED = [(verdict, reason) for _, _, verdict, reason in NORMAL]


@pytest.fixture
def pool(monkeypatch):
    """At least one ready worker, and an empty verdict cache."""
    monkeypatch.setattr(sym, "_results", {})
    symbolic_pool.start_workers(1)


def test_a_slow_check_is_cut_at_its_budget_and_leaves_nothing_running(pool):
    before = set(symbolic_pool.worker_pids())
    threads = set(threading.enumerate())
    s0 = symbolic_pool.stats()
    t0 = time.perf_counter()
    v = check_answer(*SLOW)
    dt = time.perf_counter() - t0
    assert (v.verdict, v.reason) == UNDECIDED
    assert SYMBOLIC_BUDGET_S - 0.05 < dt < SYMBOLIC_BUDGET_S + 0.5
    after = set(symbolic_pool.worker_pids())
    (killed,) = before - after
    (replacement,) = after - before
    assert not _alive(killed)  # the worker that ran it was killed and reaped
    assert _symbolic_children() == sorted(after)
    assert symbolic_pool.stats()["killed"] - s0["killed"] == 1
    # The very next comparison gets its verdict, as in a fresh process.
    v = check_answer(*PI)
    assert (v.verdict, v.reason) == ("correct", "symbolic")
    assert set(threading.enumerate()) == threads  # no thread was started or left behind
    # What is left are idle workers: they use no CPU.
    procs = [psutil.Process(p) for p in after]
    cpu = [sum(p.cpu_times()[:2]) for p in procs]
    time.sleep(0.5)
    assert [sum(p.cpu_times()[:2]) - c < 0.05 for p, c in zip(procs, cpu)] == [True] * len(procs)
    symbolic_pool.shutdown()
    assert _wait_gone(after) == [] and _symbolic_children() == []


@pytest.mark.slow  # a worker start (2-6 s on the 2-core CI machine) after each of the 6 kills
def test_adversarial_answers_in_a_row_leave_later_verdicts_unchanged(pool, monkeypatch):
    budget = 1.0
    monkeypatch.setattr(check_module, "SYMBOLIC_BUDGET_S", budget)
    killed = []
    for gold, pred in ADVERSARIAL:
        pids = symbolic_pool.worker_pids()
        s0 = symbolic_pool.stats()
        t0 = time.perf_counter()
        v = check_answer(f"Final answer: {pred}", {"answer": gold, "answer_type": "text"})
        dt = time.perf_counter() - t0
        s1 = symbolic_pool.stats()
        assert (v.verdict, v.reason) == UNDECIDED, gold
        assert s1["killed"] - s0["killed"] == 1, gold
        # Its own work took the budget; waiting for the worker started after the last kill is not counted.
        assert dt - (s1["wait_s"] - s0["wait_s"]) < budget + 0.3, gold
        killed += [p for p in pids if p not in symbolic_pool.worker_pids()]
        assert _check_normal() == EXPECTED, gold
    assert len(killed) == len(ADVERSARIAL)
    assert _wait_gone(killed, timeout=1) == []
    assert _symbolic_children() == symbolic_pool.worker_pids()
    assert len(symbolic_pool.worker_pids()) <= symbolic_pool.MAX_WORKERS


def test_the_start_of_a_worker_does_not_count_against_the_budget(monkeypatch):
    monkeypatch.setattr(sym, "_results", {})
    monkeypatch.setattr(check_module, "SYMBOLIC_BUDGET_S", 0.5)
    symbolic_pool.shutdown()
    s0 = symbolic_pool.stats()
    assert _check_normal() == EXPECTED  # the first one waits a second or more for its worker
    s1 = symbolic_pool.stats()
    assert s1["started"] - s0["started"] == 1 and s1["wait_s"] - s0["wait_s"] > 0.5


def test_a_slow_check_in_one_thread_does_not_hold_up_the_others(pool):
    symbolic_pool.start_workers(2)
    assert len(symbolic_pool.worker_pids()) == 2 == symbolic_pool.MAX_WORKERS
    slow = []
    t = threading.Thread(target=lambda: slow.append(check_answer(*SLOW)))
    t0 = time.perf_counter()
    t.start()
    rounds = 0
    while t.is_alive() or rounds == 0:
        assert _check_normal() == EXPECTED
        rounds += 1
    t.join()
    assert (slow[0].verdict, slow[0].reason) == UNDECIDED
    assert time.perf_counter() - t0 < SYMBOLIC_BUDGET_S + 1.5
    assert rounds >= 2  # the normal checks went on while the slow one ran
    assert len(symbolic_pool.worker_pids()) <= symbolic_pool.MAX_WORKERS


def test_many_threads_at_once(pool):
    results: dict[int, object] = {}

    def work(i):
        if i % 4 == 0:
            results[i] = (check_answer(*SLOW).reason,)
        else:
            results[i] = tuple((v.verdict, v.reason) for v in (check_answer(r, rec) for r, rec, _, _ in NORMAL))

    s0 = symbolic_pool.stats()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 8
    for i, got in results.items():
        want = ("symbolic check undecided",) if i % 4 == 0 else tuple(EXPECTED)
        assert got == want, i
    assert symbolic_pool.stats()["killed"] - s0["killed"] == 2
    assert len(symbolic_pool.worker_pids()) <= symbolic_pool.MAX_WORKERS


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_checks_in_forked_and_spawned_worker_processes(pool, method):
    from _answers_worker import check_cases

    parent_workers = symbolic_pool.worker_pids()
    cases = [SLOW[:2], PI[:2]] + [(r, rec) for r, rec, _, _ in NORMAL]
    ctx = multiprocessing.get_context(method)
    workers = ctx.Pool(1)
    try:
        results = [workers.apply_async(check_cases, (cases, 1.0)).get(timeout=120)]
    finally:
        workers.close()
        workers.join()
    child_workers = []
    for _pid, verdicts, workers, stats in results:
        assert verdicts == [UNDECIDED, ("correct", "symbolic")] + EXPECTED
        assert not set(parent_workers) & set(workers) and stats["killed"] >= 1
        child_workers += workers
    # The children's workers end with them; the parent's worker is untouched and still answers.
    assert _wait_gone(child_workers) == []
    assert symbolic_pool.worker_pids() == parent_workers
    assert _check_normal() == EXPECTED
    assert symbolic_pool.worker_pids() == parent_workers


_EXIT_SCRIPT = textwrap.dedent(r"""
    import os, sys
    import mmpo.answers.check as check_module
    from mmpo.answers import check_answer, symbolic_pool
    assert check_answer(r"Final answer: \frac{2\pi}{6}", {"answer": r"\frac{\pi}{3}"}).verdict == "correct"
    print(symbolic_pool.worker_pids()[0], flush=True)
    if sys.argv[1] == "os._exit":
        os._exit(0)
    if sys.argv[1] == "killed while busy":
        check_module.SYMBOLIC_BUDGET_S = 600.0
        check_answer(r"Final answer: (x+y+z)^{999}", {"answer": "(x+y+z)^{998}"})
""")


@pytest.mark.parametrize("how", ["normal exit", "os._exit", "killed while busy"])
def test_no_worker_outlives_its_process(how):
    proc = subprocess.Popen([sys.executable, "-c", _EXIT_SCRIPT, how], stdout=subprocess.PIPE, text=True)
    worker = int(proc.stdout.readline())
    assert _alive(worker)
    if how == "killed while busy":
        time.sleep(1.0)
        assert psutil.Process(worker).cpu_percent(0.3) > 10  # it is computing
        proc.kill()
    assert proc.wait(60) in (0, -9)
    assert _wait_gone([worker], timeout=5) == []


def test_a_worker_killed_from_outside_is_replaced(pool, monkeypatch):
    pids = symbolic_pool.worker_pids()
    for pid in pids:
        psutil.Process(pid).kill()
    assert _wait_gone(pids) == []
    # An idle worker that died is replaced before use (or, dying at that moment, on the failed request,
    # which is sent once more).
    assert _check_normal() == EXPECTED
    # Killed in the middle of a check, again and again: that check is undecided once its second
    # worker dies too; the next checks are not affected.
    monkeypatch.setattr(check_module, "SYMBOLIC_BUDGET_S", 60.0)
    stop = threading.Event()

    def kill_busy_workers():  # ready, and working on a request
        while not stop.wait(0.5):
            for w in list(symbolic_pool._all):
                if w.ready and w not in symbolic_pool._idle:
                    w.proc.kill()

    killer = threading.Thread(target=kill_busy_workers)
    killer.start()
    try:
        t0 = time.perf_counter()
        v = check_answer(*SLOW)
        assert time.perf_counter() - t0 < 30  # two kills and a worker start, not the 60 s budget
    finally:
        stop.set()
        killer.join()
    assert (v.verdict, v.reason) == UNDECIDED
    assert _check_normal() == EXPECTED


def test_a_worker_ends_itself_when_its_request_overruns():
    # The caller kills at the deadline; if it cannot (stopped, say), the worker ends on its own.
    from mmpo.answers import symbolic_worker

    w = symbolic_pool._Worker()
    try:
        w.wait_ready()
        t0 = time.monotonic()
        with pytest.raises(symbolic_pool._Timeout):
            w.request("eq", "(x+y+z)^{998}", "(x+y+z)^{999}", 0.2)
        assert w.proc.wait(20) == 3
        assert time.monotonic() - t0 < 0.2 + symbolic_worker.GRACE_S + 1.5
    finally:
        w.kill()


def test_a_worker_that_cannot_start_is_an_error(monkeypatch):
    monkeypatch.setattr(sym, "_results", {})
    symbolic_pool.shutdown()
    site = [p for p in sys.path if "site-packages" in p]
    assert site
    full = symbolic_pool._worker_sys_path
    monkeypatch.setattr(symbolic_pool, "_worker_sys_path", lambda: [p for p in full() if p not in site])
    with pytest.raises(MMPOError, match=r"^the symbolic answer checker's worker did not start: "
                                        r"math-verify is not usable: ModuleNotFoundError"):
        check_answer(*PI)
    assert symbolic_pool.worker_pids() == []
    monkeypatch.undo()
    monkeypatch.setattr(sym, "_results", {})
    monkeypatch.setattr(sys, "executable", os.path.join(os.sep, "nonexistent", "python"))
    with pytest.raises(MMPOError, match="^the symbolic answer checker cannot start a worker process: "):
        check_answer(*PI)
    monkeypatch.undo()
    assert check_answer(*PI).verdict == "correct"
    symbolic_pool.shutdown()
