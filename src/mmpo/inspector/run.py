"""`mmpo inspect`: a static site to look at samples, pairs, predictions and reports in a browser.

    summary = write_inspector(["demo-out"], "demo-out/inspect")     # then open demo-out/inspect/index.html
    write_inspector(["samples.jsonl", "pairs/", "evals/base", "evals/mpo", "report/"], "site/")

`DIR/index.html` is the entry page; it needs no server (file:// works) and no network. The lists
are paged JSON chunks loaded as the pages are shown, filtered and searched over compact indexes
(`mmpo.inspector.site`); images are hard-linked (or copied) once into `DIR/images/`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from mmpo.errors import ON_ERROR, check_choice


def write_inspector(inputs: list[str | os.PathLike], out_dir: str | os.PathLike, *,
                    data: list[str | os.PathLike] | None = None, chunk_size: int = 500,
                    on_error: str = "raise", compare: tuple[str, str] | None = None) -> dict[str, Any]:
    """Write the site for `inputs` (samples files, pairs, eval, report or demo folders) into out_dir.

    `data`: benchmark records files where evals' questions and images are found (default: the
    file each scores.json names, or a demo's data/). `compare`: the two eval names the gained/lost
    view opens with (default: a demo's start model and mpo, else the first two evals). Returns the
    manifest the page reads, with `index` (the entry page's path) and `seconds`.
    """
    from mmpo.errors import MMPOError
    from mmpo.inspector.collect import (
        RecordFinder,
        SampleIndex,
        write_evals,
        write_pairs,
        write_reports,
        write_samples,
    )
    from mmpo.inspector.inputs import find_inputs
    from mmpo.inspector.site import Site

    check_choice("--on-error", on_error, ON_ERROR)
    t0 = time.perf_counter()
    found = find_inputs(list(inputs))
    site = Site(out_dir, chunk_size=chunk_size)
    notes, skips = list(found.notes), []
    joined = SampleIndex()
    samples = write_samples(site, found.samples, on_error=on_error, skips=skips, index=joined)
    pairs = write_pairs(site, found.pairs, on_error=on_error, skips=skips, index=joined, notes=notes)
    evals = write_evals(site, found.evals, RecordFinder([Path(p) for p in data or []], found.records), notes)
    reports = write_reports(site, found.reports)
    names = [e["name"] for e in evals]
    if compare is not None:
        for name in compare:
            if name not in names:
                raise MMPOError(f"--compare: no eval named {name!r} (evals: {', '.join(names) or 'none'})")
    elif found.compare is not None:
        compare = found.compare
    elif len(names) >= 2:
        compare = (names[0], names[1])
    manifest = {
        "inputs": [{"kind": k, "path": p} for k, p in found.given],
        "samples": samples, "pairs": pairs, "evals": evals, "reports": reports,
        "compare": list(compare) if compare else None,
        "images": {"files": site.files, "linked": site.linked, "copied": site.copied},
        "notes": notes, "skips": {"count": len(skips), "items": skips[:200]},   # the page lists the first 200
    }
    index = site.finish(manifest)
    return {**manifest, "index": str(index), "seconds": round(time.perf_counter() - t0, 2)}


def format_summary(summary: dict[str, Any]) -> str:
    """The lines `mmpo inspect` prints: what was written, what was skipped, where to open it."""
    parts = []
    if summary["pairs"]:
        parts.append(f"{summary['pairs']['n']} pairs")
    if summary["samples"]:
        parts.append(f"{summary['samples']['n']} prompts of samples")
    if summary["evals"]:
        parts.append(f"{len(summary['evals'])} eval(s) ({', '.join(e['name'] for e in summary['evals'])})")
    if summary["reports"]:
        parts.append(f"{len(summary['reports'])} report(s)")
    img = summary["images"]
    lines = [f"inspector: {', '.join(parts) or 'nothing to show'}; {img['files']} image(s) "
             f"({img['linked']} hard-linked, {img['copied']} copied) in {summary['seconds']:.1f} s"]
    lines += [f"note: {n}" for n in summary["notes"]]
    skips = summary["skips"]
    if skips["count"]:
        lines.append(f"skipped: {skips['count']} bad line(s)")
        for s in skips["items"][:10]:
            where = s["file"] if s.get("line") is None else f"{s['file']}:{s['line']}"
            field = f" field '{s['field']}'" if s.get("field") else ""
            lines.append(f"  {where}{field}: {s['reason']}")
    lines.append(f"open {Path(summary['index']).resolve().as_uri()}")
    return "\n".join(lines)
