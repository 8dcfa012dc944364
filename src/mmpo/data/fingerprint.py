"""What identifies a question, and a whole data set, across files and reruns.

    record_hash(rec)            # 16 hex digits: question, options, answer, image
    data_fingerprint(records)   # one hash of every (pid, record hash), in any order

`mmpo report` pairs two evals only on questions whose hashes agree (pids alone repeat across data),
and a resumed stage reuses a line only when its record's hash is unchanged (docs/reliability.md).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any


def record_hash(rec: dict[str, Any]) -> str:
    """A question's identity: its text, options, answer and image (by file name or bytes)."""
    ref = rec.get("image_ref", rec.get("image_path"))
    image = (hashlib.sha256(ref["bytes"]).hexdigest() if isinstance(ref, dict) and ref.get("bytes")
             else os.path.basename(str(ref)) if ref else None)
    body = json.dumps([rec.get("question"), rec.get("choices"), rec.get("answer"), image], default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def data_fingerprint(records: Sequence[dict[str, Any]]) -> str:
    """One hash of every (pid, question) of a set of records, in any order."""
    items = sorted(f"{r['pid']}\x00{record_hash(r)}" for r in records)
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]
