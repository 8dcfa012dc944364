"""Stage options: each setting's default, help text and check, declared once, in its stage's dataclass.

    @dataclass
    class StageOptions:
        cap: int = option(15, "at most this many per prompt", low=1)
        def __post_init__(self):
            check_options(self)

    add_arguments(parser, StageOptions)             # one flag per field, with its help and default
    opts = from_arguments(StageOptions, args)       # the parsed flags back into the dataclass

A command's argparse is generated from its stage's dataclass (docs/layout.md), so a new setting is
one line in one place and shows in `--help` by itself. Orchestrators (`mmpo iterate`, `mmpo demo`)
compose these dataclasses and never restate a default; `add_arguments` takes `only`, `exclude`,
`flags` (another flag name for a field) and `defaults` (another shown default, e.g. None for
"follow another option") for the flags they expose.

Checks (`check_options`, called from each `__post_init__`): numbers are numbers (not booleans) and
finite, within `low`/`high` (`low_open`: strictly above `low`); choices are among their owner's
list; the error names the flag, `--top-k must be >= 0, got -1`, as users type it.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mmpo.errors import MMPOError

REQUIRED = dataclasses.MISSING


def option(default: Any = REQUIRED, help: str = "", *, default_factory: Callable[[], Any] | None = None,
           flag: str | None = None, choices: Sequence[Any] | None = None, low: float | None = None,
           low_open: bool = False, high: float | None = None, parse: Callable[[str], Any] | None = None,
           metavar: str | None = None, cli: bool = True, required: bool = False, kind: type | None = None,
           note: str | None = None, repeat: bool = False) -> Any:
    """A dataclass field carrying its command-line form and its check.

    `parse`: turns the flag's text into the value (e.g. a comma-separated list); `kind`: the value's
    type where the annotation does not say it plainly (int, float, str, bool); `required`: the flag
    must be given even though Python callers get the default; `cli=False`: no flag; `note`: shown in
    place of the default in `--help` (e.g. "--max-new-tokens"); `repeat`: the flag may be given several
    times, each value appended to a tuple (default: empty).
    """
    meta = {"help": help, "flag": flag, "choices": None if choices is None else tuple(choices), "low": low,
            "low_open": low_open, "high": high, "parse": parse, "metavar": metavar, "cli": cli,
            "required": required, "kind": kind, "note": note, "repeat": repeat}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata={"option": meta})
    return dataclasses.field(default=default, metadata={"option": meta})


def _meta(f: dataclasses.Field) -> dict[str, Any] | None:
    return f.metadata.get("option")


def flag_of(f: dataclasses.Field) -> str:
    meta = _meta(f) or {}
    return meta.get("flag") or "--" + f.name.replace("_", "-")


def _kind(f: dataclasses.Field) -> type | None:
    """int, float, bool or str from the annotation (a string under `from __future__ import annotations`)."""
    meta = _meta(f) or {}
    if meta.get("kind") is not None:
        return meta["kind"]
    text = str(f.type).replace(" ", "")
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if text in (name, f"{name}|None", f"None|{name}"):
            return kind
    return None


def _default(f: dataclasses.Field) -> Any:
    if f.default is not REQUIRED:
        return f.default
    if f.default_factory is not REQUIRED:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return REQUIRED


def check_options(obj: Any) -> None:
    """Check every option field of a dataclass instance; raises MMPOError naming the flag."""
    for f in dataclasses.fields(obj):
        meta = _meta(f)
        if meta is None:
            continue
        value = getattr(obj, f.name)
        if value is None and (_default(f) is None or _default(f) is REQUIRED):
            continue  # optional, or a required input checked where it is used
        _check_value(flag_of(f), value, _kind(f), meta)


def _check_value(flag: str, value: Any, kind: type | None, meta: dict[str, Any]) -> None:
    if kind is bool and not isinstance(value, bool):
        raise MMPOError(f"{flag} must be true or false, got {value!r}")
    if kind in (int, float):
        ok = isinstance(value, int) if kind is int else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            raise MMPOError(f"{flag} must be {'an integer' if kind is int else 'a number'}, got {value!r}")
        if not math.isfinite(value):
            raise MMPOError(f"{flag} must be a finite number, got {value}")
        low, high = meta.get("low"), meta.get("high")
        if low is not None and (value < low or (meta.get("low_open") and value == low)):
            raise MMPOError(f"{flag} must be {'>' if meta.get('low_open') else '>='} {low:g}, got {value:g}")
        if high is not None and value > high:
            raise MMPOError(f"{flag} must be <= {high:g}, got {value:g}")
    choices = meta.get("choices")
    if choices is not None:
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if v not in choices:
                raise MMPOError(f"{flag} must be one of {', '.join(map(str, choices))}, got {v!r}")


def comma_list(text: str) -> tuple[str, ...]:
    """`a,b, c` -> ("a", "b", "c"): the form of list-valued flags such as --modes."""
    return tuple(part.strip() for part in str(text).split(",") if part.strip())


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def add_arguments(parser: argparse.ArgumentParser | Any, cls: type, *, only: Iterable[str] | None = None,
                  exclude: Iterable[str] = (), flags: dict[str, str] | None = None,
                  defaults: dict[str, Any] | None = None, notes: dict[str, str] | None = None,
                  dest_prefix: str = "") -> None:
    """One argparse flag per option field of `cls`, its help ending with the default.

    `dest_prefix` keeps two dataclasses' fields apart in one namespace (`mmpo iterate` exposes
    sampling's and evaluation's `--max-new-tokens`); `from_arguments` takes the same prefix.
    """
    only = None if only is None else list(only)
    flags, defaults, notes, exclude = flags or {}, defaults or {}, notes or {}, set(exclude)
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    # A stage's own fields first, then what it inherits (the engine settings of sample and eval).
    own = set(vars(cls).get("__annotations__", {}))
    ordered = [n for n in by_name if n in own] + [n for n in by_name if n not in own]
    names = only if only is not None else [n for n in ordered if n not in exclude]
    for name in names:
        f = by_name[name]
        meta = _meta(f)
        if meta is None or not meta["cli"]:
            continue
        default = defaults.get(name, _default(f))
        flag = flags.get(name) or meta["flag"] or (
            "--no-" + name.replace("_", "-") if default is True and _kind(f) is bool else flag_of(f))
        kw: dict[str, Any] = {"dest": dest_prefix + name, "help": meta["help"]}
        if _kind(f) is bool:
            if default is True:  # --no-X turns a default-on setting off
                kw.update(action="store_false", default=True)
            else:
                kw.update(action="store_true", default=False)
            parser.add_argument(flag, **kw)
            continue
        kw["type"] = meta["parse"] or _kind(f) or str
        if meta.get("repeat"):  # appended to None, so the dataclass default stands when not given
            kw.update(action="append", default=None, metavar=meta["metavar"] or "VALUE",
                      help=f"{meta['help']} (repeatable)")
            parser.add_argument(flag, **kw)
            continue
        if meta["choices"] is not None and meta["parse"] is None:
            kw["choices"] = meta["choices"]
        if meta["metavar"] or "choices" not in kw:
            kw["metavar"] = meta["metavar"] or flag.removeprefix("--").replace("-", "_").upper()
        if default is REQUIRED or meta["required"]:
            kw["required"] = True
        else:
            kw["default"] = default
            shown = notes.get(name) or meta["note"] or (None if default is None else _shown(default))
            if shown is not None and "default" not in kw["help"]:
                kw["help"] = f"{kw['help']} (default: {shown})" if kw["help"] else f"default: {shown}"
        parser.add_argument(flag, **kw)


def from_arguments(cls: type, args: argparse.Namespace, *, dest_prefix: str = "", **fixed: Any) -> Any:
    """`cls` built from the parsed flags (fields that have no flag keep their defaults); `fixed` wins."""
    values = {}
    for f in dataclasses.fields(cls):
        dest = dest_prefix + f.name
        if hasattr(args, dest):
            value = getattr(args, dest)
            if (_meta(f) or {}).get("repeat"):
                if value is None:
                    continue
                value = tuple(value)
            values[f.name] = value
    values.update(fixed)
    return cls(**values)


def fields_of(obj: Any, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The option fields of an options object as plain data (what a settings file or a key records)."""
    skip = set(skip)
    out = {}
    for f in dataclasses.fields(obj):
        if f.name in skip:
            continue
        value = getattr(obj, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
