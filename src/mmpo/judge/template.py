"""The judge prompt: the user's copy of a benchmark's published prompt, as a template.

    tpl = JudgeTemplate.load("mmvet_prompt.txt", bench)
    text = tpl.render(bench.judge_fields(record), response, variant=bench.judge_variant(record))
    tpl.sha256                      # of the file's bytes: judgements made with another prompt are not reused

Placeholders are `{name}` (write a literal brace as `{{` or `}}`): `{response}` (the model's answer)
and the benchmark's fields (`bench.judge_placeholders`, e.g. `{question}`, `{answer}`, `{caption}`).
A placeholder the benchmark does not have, one it requires that the prompt lacks, or a malformed
brace is an `MMPOError` naming the prompt file. A `.json` file holding an object of templates keyed by
the benchmark's variant (LLaVA-Bench: one rule per category, "conv", "detail", "complex") is read as
one template per variant.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmpo.errors import MMPOError


def placeholders(text: str, path: str | os.PathLike, key: str | None = None) -> list[str]:
    """The `{name}` fields of a template, in order; a malformed brace is an error naming the file."""
    where = f"{path}" + (f" (template {key!r})" if key is not None else "")
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise MMPOError(f"judge prompt {where}: {exc} (write a literal brace as {{{{ or }}}})") from None
    names = []
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise MMPOError(f"judge prompt {where}: a positional placeholder {{{name}}}; name each one as the "
                            "benchmark's field it stands for, e.g. {question}, {answer}, {response}")
        if not name.isidentifier() or spec or conv:
            raise MMPOError(f"judge prompt {where}: placeholder {{{name}{'!' + conv if conv else ''}"
                            f"{':' + spec if spec else ''}}} is not a plain {{name}} (write a literal brace as "
                            "{{ or }})")
        names.append(name)
    return names


@dataclass(frozen=True)
class JudgeTemplate:
    path: str
    sha256: str
    templates: Mapping[str | None, str]  # None: the one template for every record

    @classmethod
    def load(cls, path: str | os.PathLike, bench: Any) -> JudgeTemplate:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise MMPOError(f"cannot read the judge prompt {p}: {exc.strerror or exc}") from None
        try:
            text = data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            raise MMPOError(f"judge prompt {p}: not UTF-8 text (byte {exc.start})") from None
        templates: dict[str | None, str] = {}
        if p.suffix.lower() == ".json":
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise MMPOError(f"judge prompt {p}: malformed JSON ({exc.msg} at line {exc.lineno})") from None
            if not isinstance(obj, dict) or not obj or not all(isinstance(v, str) for v in obj.values()):
                raise MMPOError(f"judge prompt {p}: a .json prompt must be an object of template strings keyed by "
                                f"{bench.judge_variant_name or 'variant'}")
            variants = tuple(bench.judge_variants)
            unknown = [k for k in obj if k not in variants]
            if not variants or unknown:
                raise MMPOError(f"judge prompt {p}: {bench.name} has "
                                + ("no variants to key templates by; use one text template" if not variants
                                   else f"the {bench.judge_variant_name} values {', '.join(variants)}, not "
                                        f"{', '.join(map(repr, unknown))}"))
            templates.update(obj)
        else:
            if not text.strip():
                raise MMPOError(f"judge prompt {p} is empty")
            templates[None] = text
        known = ("response", *bench.judge_placeholders)
        for key, tpl in templates.items():
            names = placeholders(tpl, p, key)
            bad = [n for n in names if n not in known]
            where = f"{p}" + (f" (template {key!r})" if key is not None else "")
            if bad:
                raise MMPOError(f"judge prompt {where}: unknown placeholder {{{bad[0]}}}; {bench.name} offers "
                                + ", ".join("{" + n + "}" for n in known))
            missing = [n for n in ("response", *bench.judge_required) if n not in names]
            if missing:
                raise MMPOError(f"judge prompt {where}: no {{{missing[0]}}} placeholder; a {bench.name} judge prompt "
                                "needs " + ", ".join("{" + n + "}" for n in ("response", *bench.judge_required)))
        return cls(str(p), hashlib.sha256(data).hexdigest(), templates)

    def render(self, fields: Mapping[str, Any], response: str, *, variant: str | None = None,
               pid: str | None = None) -> str:
        tpl = self.templates.get(None)
        if tpl is None:
            tpl = self.templates.get(variant) if variant is not None else None
            if tpl is None:
                raise MMPOError(f"judge prompt {self.path} has no template for {variant!r} (question {pid}); it has "
                                f"{', '.join(map(str, self.templates))}")
        values = {k: ("" if v is None else str(v)) for k, v in fields.items()}
        values["response"] = response
        return tpl.format_map(values)
