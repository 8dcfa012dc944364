"""What identifies a question, and a whole data set, across files and reruns.

    record_hash(rec)            # 16 hex digits: everything that makes the prompt and the verdict
    data_fingerprint(records)   # one hash of every (pid, record hash), in any order

A record's hash covers every field that goes into its prompt or its verdict (question, options,
unit, precision, answer, types, query) and its image by content (the file's bytes, or the embedded
bytes), not its name: a data folder regenerated with the same file names gets new hashes.
`mmpo report` pairs two evals only on questions whose hashes agree (pids alone repeat across data),
and a resumed `mmpo sample` or `mmpo eval` reuses a line only when its record's hash is unchanged
(docs/reliability.md).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

# The record fields a prompt or a verdict reads (mmpo.data.prompts, mmpo.answers).
HASHED_FIELDS = ("question", "choices", "unit", "precision", "answer", "question_type", "answer_type", "query")
_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> digest, per process


def record_hash(rec: dict[str, Any]) -> str:
    """A question's identity: the fields its prompt and verdict read, and its image's content."""
    body = json.dumps([[rec.get(k) for k in HASHED_FIELDS], image_digest(rec.get("image_ref",
                                                                                 rec.get("image_path")))],
                      default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def image_digest(ref: Any) -> str | None:
    """The content hash of an image reference: a file path (read once per size and mtime), embedded
    `{"bytes"}`, or None for a text-only record. A file that cannot be read hashes as its path
    (its reader reports it)."""
    if ref is None or ref == "":
        return None
    if isinstance(ref, dict):
        if ref.get("bytes"):
            return hashlib.sha256(ref["bytes"]).hexdigest()
        ref = ref.get("path")
        if not ref:
            return None
    path = str(ref)
    try:
        st = os.stat(path)
    except OSError:
        return f"missing:{path}"
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        _FILE_DIGESTS[key] = h.hexdigest()
    return _FILE_DIGESTS[key]


def data_fingerprint(records: Sequence[dict[str, Any]]) -> str:
    """One hash of every (pid, question) of a set of records, in any order."""
    items = sorted(f"{r['pid']}\x00{record_hash(r)}" for r in records)
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def pairs_fingerprint(pairs: Sequence[Any]) -> str:
    """One hash of preference pairs in order (prompt messages, chosen, rejected, images by content), so a
    moved folder of the same pairs keeps its identity (what a resumed training run checks)."""
    h = hashlib.sha256()
    for pair in pairs:
        pair = getattr(pair, "pair", pair)
        images = [image_digest(r) if isinstance(r, str | dict) else f"pil:{getattr(r, 'size', None)}"
                  for r in pair.images]
        h.update(json.dumps([pair.messages, pair.chosen, pair.rejected, images], sort_keys=True,
                            default=str).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]
