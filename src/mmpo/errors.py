"""Errors that the CLI turns into one clear line and a non-zero exit (never a bare traceback)."""

from __future__ import annotations


class MMPOError(Exception):
    """A user-facing error: the message says what is wrong and, where known, where."""


class InputError(MMPOError):
    """Bad input data: names the file, the line (1-based, text files) or the record (0-based index in
    a JSON list, a parquet file or a dataset), and the field, when known."""

    def __init__(self, message: str, *, path=None, line: int | None = None, field: str | None = None,
                 record: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.record = record
        self.field = field
        self.reason = message
        where = []
        if self.path is not None:
            where.append(self.path if line is None else f"{self.path}:{line}")
        if record is not None:
            where.append(f"record {record}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


# What a stage does with a bad record: stop naming it (raise), or count it and go on (skip).
ON_ERROR = ("raise", "skip")


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise MMPOError naming the option when `value` is not one of `choices`."""
    if value not in choices:
        raise MMPOError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
