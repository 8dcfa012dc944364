"""Worker processes for symbolic checks: one that runs past its time limit is killed and replaced.

    value = ask("eq", gold, pred, deadline)      # math-verify's answer, or raises Undecided

Every math-verify call runs in a worker process (`mmpo.answers.symbolic_worker`), never in the caller:
a thread cannot be stopped, so a comparison that runs past its budget used to go on for minutes and
block all symbolic checks after it. Now:

- At the deadline the caller kills the worker (SIGKILL), reaps it and starts a replacement at once
  (the process start returns in milliseconds; its imports run in the background). Nothing of the slow
  check is left running.
- Workers persist: a comparison costs one round trip on a pipe (about 0.1 ms besides math-verify's own
  work). The start (about 1.4 s of CPU for the imports and 2 s for math-verify's warm-up, see
  `symbolic_worker.WARM_UP`) is paid on first use and after a kill; `start_workers` pays it ahead.
  The time a caller waits for a worker (all busy, or one still starting) is added to its deadline:
  the budget bounds the time the check's own work runs, so a verdict does not depend on what ran
  before it.
- Threads: up to MAX_WORKERS workers serve callers at once; a further caller waits for one.
- Forks: a forked child drops the parent's workers (closing only its copies of their pipes) and starts
  its own; the child's locks are new. Workers are subprocesses, not `multiprocessing` children, so
  the caller's start method (fork, spawn, forkserver) does not matter and daemonic processes may check.
- Exit: workers end at interpreter exit (atexit), when their stdin closes (the caller died or called
  os._exit), when their parent is gone, or on their own when a request overruns its limit.
  They run in their own session, so a terminal's Ctrl-C reaches the caller only.
A worker that cannot start (math-verify missing, no process can be created) is an MMPOError: checks
never silently turn undecided.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import sys
import threading
import time

from mmpo.errors import MMPOError

_log = logging.getLogger("mmpo.answers")

MAX_WORKERS = 2
START_TIMEOUT_S = 120.0  # a loaded machine may take long to import sympy; waiting never counts against a budget
EXIT_WAIT_S = 1.0

_BOOTSTRAP = """\
import json, sys
sys.path[:] = json.loads(sys.argv[1])
try:
    from mmpo.answers.symbolic_worker import main
except BaseException as exc:
    sys.stdout.write(json.dumps({"error": "cannot import mmpo: %r" % (exc,)}) + "\\n")
    sys.stdout.flush()
    sys.exit(1)
sys.exit(main())
"""


class Undecided(Exception):
    """The symbolic check gave no answer in its budget (timed out, or math-verify failed)."""


class _Timeout(Exception):
    pass


def _worker_sys_path() -> list[str]:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return [root] + [p for p in sys.path if p != root]


class _Worker:
    """One worker process and the reading end of its replies."""

    def __init__(self) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, json.dumps(_worker_sys_path())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0,
            start_new_session=True)
        self.buf = b""
        self.ready = False
        self.next_id = 0
        self.poller = select.poll()
        self.poller.register(self.proc.stdout.fileno(), select.POLLIN)

    def _read_line(self, timeout: float) -> dict:
        end = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not self.poller.poll(max(1, int(left * 1000 + 0.999))):
                if time.monotonic() >= end:
                    raise _Timeout
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError("the worker exited")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def wait_ready(self) -> None:
        try:
            first = self._read_line(START_TIMEOUT_S)
        except _Timeout:
            raise MMPOError(f"the symbolic answer checker's worker did not start in {START_TIMEOUT_S:.0f} s") \
                from None
        except (EOFError, OSError, ValueError) as exc:
            raise MMPOError(f"the symbolic answer checker's worker did not start ({exc})") from None
        if not first.get("ready"):
            raise MMPOError(f"the symbolic answer checker's worker did not start: {first.get('error')}")
        self.ready = True

    def request(self, kind: str, a: str, b: str, limit: float) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "kind": kind, "a": a, "b": b, "limit": limit}
        data = memoryview(json.dumps(msg).encode("ascii") + b"\n")
        while data:
            data = data[self.proc.stdin.write(data):]
        reply = self._read_line(limit)
        if reply.get("id") != self.next_id:
            raise ValueError("reply out of order")
        return reply

    def close_pipes(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(EXIT_WAIT_S)
        except Exception:  # already gone, or (never seen) not reaped in time; the OS reaps it then
            pass
        self.close_pipes()


# ------------------------------------------------------------------ the pool

_cond = threading.Condition()
_idle: list[_Worker] = []
_all: set[_Worker] = set()
_owner = os.getpid()
_local = threading.local()
_stats: dict[str, float] = {"started": 0, "killed": 0, "requests": 0, "wait_s": 0.0}


def _reset_after_fork() -> None:
    """In a forked child: forget the parent's workers (they stay the parent's) and renew the locks."""
    global _cond, _idle, _all, _owner, _local, _stats
    for w in list(_all):
        w.close_pipes()
        w.proc.returncode = 0  # not this process's child: never wait for it
    _cond, _idle, _all, _owner, _local = threading.Condition(), [], set(), os.getpid(), threading.local()
    _stats = {k: type(v)() for k, v in _stats.items()}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _start() -> _Worker:
    try:
        w = _Worker()
    except OSError as exc:
        raise MMPOError(f"the symbolic answer checker cannot start a worker process: {exc}") from None
    _all.add(w)
    _stats["started"] += 1
    return w


def _acquire() -> _Worker:
    """A ready worker for this caller: an idle one, else a new one while fewer than MAX_WORKERS exist,
    else the next one released."""
    if _owner != os.getpid():  # forked by means that skip the fork hooks
        _reset_after_fork()
    with _cond:
        while True:
            while _idle:
                w = _idle.pop()
                if w.proc.poll() is None:
                    break
                _all.discard(w)  # it died while idle (killed from outside): forget it
                w.close_pipes()
            else:
                w = None
            if w is not None:
                break
            if len(_all) < MAX_WORKERS:
                w = _start()  # the process start returns in milliseconds
                break
            _cond.wait()
    if not w.ready:
        try:
            w.wait_ready()
        except BaseException:
            _discard(w)
            raise
    return w


def _release(w: _Worker) -> None:
    with _cond:
        _idle.append(w)
        _cond.notify()


def _discard(w: _Worker, replace: bool = False) -> None:
    """Kill `w` and forget it; with `replace`, start its successor now (it warms up in the background)."""
    w.kill()
    with _cond:
        _all.discard(w)
        if replace:
            try:
                _idle.append(_start())
            except MMPOError:  # the next caller tries again, and reports the failure
                pass
        _cond.notify()


def _credited_deadline(deadline: float, waited: float) -> float:
    """The deadline plus all time this thread has waited for workers during the check that owns it."""
    prev_deadline, prev_credit = getattr(_local, "credit", (None, 0.0))
    credit = (prev_credit if prev_deadline == deadline else 0.0) + waited
    _local.credit = (deadline, credit)
    return deadline + credit


def ask(kind: str, a: str, b: str, deadline: float):
    """Run one symbolic `kind` ("eq", "value") in a worker; Undecided when no answer by `deadline`.

    `deadline` is a `time.monotonic()` instant, shared by all symbolic work of one check. A worker
    that dies under a request (killed from outside, or the request crashed it) is replaced and the
    request tried once more.
    """
    for attempt in (1, 2):
        t0 = time.monotonic()
        w = _acquire()
        waited = time.monotonic() - t0
        remaining = _credited_deadline(deadline, waited) - time.monotonic()
        if remaining <= 0:
            _release(w)
            raise Undecided("time budget spent")
        with _cond:
            _stats["requests"] += 1
            _stats["wait_s"] += waited
        try:
            reply = w.request(kind, a, b, remaining)
        except _Timeout:
            with _cond:
                _stats["killed"] += 1
            _discard(w, replace=True)
            _log.warning("symbolic check %s(%r, %r) ran past its budget; its worker was killed and replaced",
                         kind, a, b)
            raise Undecided("symbolic check timed out") from None
        except (EOFError, OSError, ValueError) as exc:
            _discard(w, replace=True)
            if attempt == 1:
                continue
            raise Undecided(f"symbolic worker failed twice ({exc})") from None
        except BaseException:  # interrupted while the worker works: its state is unknown
            _discard(w, replace=True)
            raise
        _release(w)
        if not reply.get("ok"):
            raise Undecided(f"symbolic check failed ({reply.get('error')})")
        return reply.get("value")
    raise AssertionError("unreachable")


def start_workers(n: int = 1) -> None:
    """Have at least `n` (at most MAX_WORKERS) ready workers now, so that no check waits for a start."""
    with _cond:
        got = [w for w in _idle if not w.ready]  # replacements still starting
        for w in got:
            _idle.remove(w)
        try:
            got += [_start() for _ in range(max(0, min(n, MAX_WORKERS) - len(_all)))]
        except MMPOError:
            _idle.extend(got)
            raise
    try:
        for w in got:
            w.wait_ready()
    except BaseException:
        for w in got:
            _discard(w)
        raise
    for w in got:
        _release(w)


def stats() -> dict[str, float]:
    """In this process: workers `started`, workers `killed` at a deadline, `requests` sent, and
    `wait_s`, the seconds callers waited for a worker (not counted against their budgets)."""
    return dict(_stats)


def worker_pids() -> list[int]:
    """The process ids of this process's live workers (idle or busy)."""
    with _cond:
        return sorted(w.proc.pid for w in _all if w.proc.poll() is None)


def shutdown() -> None:
    """End all workers: close their stdin (an idle worker exits at once), kill any still running or
    still starting."""
    if _owner != os.getpid():
        _reset_after_fork()
        return
    with _cond:
        workers = list(_all)
        _all.clear()
        _idle.clear()
    for w in workers:
        if not w.ready:  # still importing: it would read the end of its input only once ready
            w.kill()
            continue
        try:
            w.proc.stdin.close()
        except OSError:
            pass
    for w in workers:
        try:
            w.proc.wait(EXIT_WAIT_S)
        except Exception:
            pass
        w.kill()


atexit.register(shutdown)
