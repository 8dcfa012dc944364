"""File I/O shared by every stage: JSONL reading with validation, append-only writing, atomic JSON.

Every reader names the file and line of a bad record (`mmpo.errors.InputError`). Writers append
one complete line at a time and flush, so a killed stage leaves at most one partial last line,
which `truncate_partial_tail` drops before a rerun resumes (docs/reliability.md).

`parse_json` is the one JSON parser of input text: malformed JSON, a value nested more than
MAX_JSON_DEPTH deep (which made `json.loads` raise RecursionError) and an integer too long for
Python to convert are all an `InputError` naming the file and line, never a bare traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from mmpo.errors import InputError, MMPOError

# Containers (objects, lists) nested deeper than this are refused: no record, sample or pair comes
# near it, and a value nested close to Python's recursion limit would fail later, in json.dumps or a
# copy, with a bare RecursionError.
MAX_JSON_DEPTH = 100


def parse_json(text: str, *, path=None, line: int | None = None) -> Any:
    """The JSON value of `text` (one JSONL line when `line` is given, else a whole file).

    Raises InputError naming `path` and the line for malformed JSON, nesting deeper than
    MAX_JSON_DEPTH, and numbers Python cannot convert (integers over its 4300-digit limit).
    """
    too_deep = f"JSON nested too deeply (over {MAX_JSON_DEPTH} levels)"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        if line is not None:
            raise InputError(f"malformed JSON ({exc.msg} at column {exc.colno})", path=path, line=line) from None
        raise InputError(f"malformed JSON ({exc.msg} at line {exc.lineno})", path=path,
                         line=exc.lineno) from None
    except RecursionError:
        raise InputError(too_deep, path=path, line=line) from None
    except ValueError as exc:  # e.g. "Exceeds the limit (4300 digits) for integer string conversion"
        raise InputError(f"unparsable JSON ({exc})", path=path, line=line) from None
    # Only a text with that many brackets can be that deep: most lines skip the walk.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _deeper_than(obj, MAX_JSON_DEPTH):
        raise InputError(too_deep, path=path, line=line)
    return obj


def _deeper_than(obj: Any, limit: int) -> bool:
    """Whether containers nest more than `limit` deep (the top-level object is depth 1). No recursion."""
    stack = [(obj, 1)] if isinstance(obj, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def iter_jsonl(path: str | os.PathLike, *, on_malformed: Callable[[InputError], None] | None = None,
               missing: str = "file does not exist") -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line_number, object) for each non-empty line.

    A line that is not a JSON object (malformed, nested too deeply: `parse_json`) raises InputError,
    or, with `on_malformed`, is handed to it and skipped (the caller counts it: nothing is dropped
    silently).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(missing, path=path)
    # Bytes, decoded line by line: one bad byte is an error (or a skip) naming its line, not the file.
    with path.open("rb") as fh:
        for lineno, data in enumerate(fh, start=1):
            try:
                raw = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                err = InputError(f"not UTF-8 text (byte {exc.start} of the line: {exc.reason})", path=path,
                                 line=lineno)
                if on_malformed is None:
                    raise err from None
                on_malformed(err)
                continue
            if lineno == 1:
                raw = raw.removeprefix("\ufeff")  # a byte-order mark some editors write
            if not raw.strip():
                continue
            try:
                obj = parse_json(raw, path=path, line=lineno)
            except InputError as exc:
                err = exc
            else:
                if isinstance(obj, dict):
                    yield lineno, obj
                    continue
                err = InputError(f"expected a JSON object, got {type(obj).__name__}", path=path, line=lineno)
            if on_malformed is None:
                raise err
            on_malformed(err)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    return [obj for _, obj in iter_jsonl(path)]


class OutputLock:
    """An exclusive lock on an output a process writes, held while it writes (`<path>.lock`).

    A second process (a scheduler restarting a job whose old process still runs) fails at once,
    naming the holder's pid, instead of interleaving lines. The lock is the kernel's (flock), so a
    killed holder releases it; the lock file itself stays.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(str(path) + ".lock")
        self._fh = None

    def acquire(self) -> OutputLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise MMPOError(f"{str(self.path)[:-5]} is being written by another process (pid {holder}); wait for it "
                            f"to finish or stop it (lock: {self.path})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing drops the flock
            self._fh = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class JsonlAppender:
    """Append-only JSONL writer: one whole line per record, flushed and fsynced in batches.

    It holds the file's `OutputLock` while open, and on open drops a partial last line left by a
    killed run, so a rerun resumes cleanly.
    """

    def __init__(self, path: str | os.PathLike, *, fsync_every: int = 1, locked: bool = False):
        """`locked`: the caller already holds this file's OutputLock (taken before it read the file)."""
        self.path = Path(path)
        if self.path.is_dir():
            raise MMPOError(f"{self.path} is a folder; the output must be a file path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = OutputLock(self.path) if locked else OutputLock(self.path).acquire()
        truncate_partial_tail(self.path)
        self._fh = self.path.open("a", encoding="utf-8")
        self._fsync_every = max(1, fsync_every)
        self._n = 0

    def write(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._fh.flush()
        self._n += 1
        if self._n % self._fsync_every == 0:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def truncate_partial_tail(path: str | os.PathLike) -> int:
    """Cut a trailing line that lacks its newline (a write interrupted by a kill). Returns bytes cut."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        # Walk back to the last newline.
        pos = size - 1
        chunk = 4096
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            buf = fh.read(pos - start)
            idx = buf.rfind(b"\n")
            if idx >= 0:
                cut = start + idx + 1
                fh.truncate(cut)
                return size - cut
            pos = start
        fh.truncate(0)
        return size


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically (temp file + rename), so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> int:
    """Write a whole JSONL file atomically (temp file, fsync, rename): readers see the old file or the new
    one, never part of either. Returns the number of lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return n


def check_distinct(out: str | os.PathLike, inputs: dict[str, Any], *, flag: str = "--out") -> None:
    """Refuse an output that is one of the stage's inputs (writing it would destroy or mix into the
    input): `inputs` maps a flag name to a path (None: not given)."""
    mine = Path(out).resolve()
    for name, value in inputs.items():
        if value is None or value == "":
            continue
        if Path(value).resolve() == mine:
            raise MMPOError(f"{flag} {out} is also {name}: the output would overwrite its own input; "
                            f"choose another {flag}")


def writable_dir(path: str | os.PathLike) -> Path:
    """Create `path` if needed and check that files can be written in it (a bad --out fails at once)."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".mmpo-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise MMPOError(f"cannot write to {out}: {exc.strerror or exc}") from None
    return out
