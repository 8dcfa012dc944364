"""The watchdog between mmpo and a server it starts: no process of the server outlives mmpo.

    python reaper.py PARENT_PID GRACE_S -- vllm serve MODEL ...     # stdin: a pipe from mmpo

Run by `mmpo.engines.server` by path, with the standard library only. It runs the command as its
child, in its own process group (the server module starts it in a new session), and ends the whole
tree when any of these happens:

- its stdin reaches end of file: mmpo closed the pipe (a stop) or died; the kernel closes a dead
  process's pipes, so this holds for SIGKILL too;
- SIGTERM, or its parent dies: PR_SET_PDEATHSIG, a second signal of the same, for a parent whose
  forked children (multiprocessing, DataLoader workers) keep the pipe open. Linux sends it when the
  thread that started the reaper ends, so the server must be started from a thread that outlives it;
- the server exits by itself (a crash): what it started is ended too.

Why a watchdog rather than PR_SET_PDEATHSIG on the server alone: vLLM's API server starts an engine
process that starts worker processes; killed with SIGKILL, the API server leaves both running, and
nothing can set a death signal in them from outside. This process is a child subreaper, so every
orphan of the tree becomes its child; "no children left" then means the whole tree is gone.

Ending the tree: SIGTERM to every process of the group and every descendant (vLLM shuts down
cleanly on SIGTERM), then after GRACE_S seconds SIGKILL to what is left; then it exits with the
server's exit status (or 0 after a stop).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the pipe alone signals mmpo's death
        pass


def _tree() -> set[int]:
    """Pids of this process group and of every descendant of this process (not this process)."""
    me, group = os.getpid(), os.getpgrp()
    parent_of: dict[int, int] = {}
    members = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp ...
        pid, ppid, pgrp = int(name), int(fields[1]), int(fields[2])
        if fields[0] == "Z":  # a zombie is already dead; reaping it is enough
            continue
        parent_of[pid] = ppid
        if pgrp == group:
            members.add(pid)
    for pid in parent_of:
        p, seen = pid, 0
        while p in parent_of and seen < 64:
            p, seen = parent_of[p], seen + 1
            if p == me:
                members.add(pid)
                break
    members.discard(me)
    return members


def _reap() -> None:
    """Collect every exited child (orphans of the tree are children too: subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _signal_all(sig: int) -> None:
    for pid in _tree():
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def end_tree(grace_s: float) -> None:
    _signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap()
        if not _tree():
            return
        time.sleep(0.1)
    _signal_all(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _tree() and time.monotonic() < deadline:
        _reap()
        time.sleep(0.05)
    _reap()


def main(argv: list[str]) -> int:
    parent, grace_s, sep, *command = argv
    if sep != "--" or not command:
        print("usage: reaper.py PARENT_PID GRACE_S -- COMMAND...", file=sys.stderr)
        return 2
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is mmpo's to handle; it then closes the pipe
    if os.getppid() != int(parent):  # mmpo died before the death signal was armed
        return 1
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL)

    def watch_pipe() -> None:
        try:
            while sys.stdin.buffer.read(1 << 16):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=watch_pipe, daemon=True).start()
    while not stop.is_set() and child.poll() is None:
        stop.wait(0.2)
    end_tree(float(grace_s))
    if stop.is_set() or child.returncode is None:  # a stop (the server's own status no longer matters)
        return 0
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
