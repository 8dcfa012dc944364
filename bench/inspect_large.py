"""The inspector on a large run: time to write the site, and time until the page shows it in chromium.

Usage:
    .venv/bin/python bench/inspect_large.py [--pairs 100000] [--out /tmp/inspect-large]

Builds a samples file (one prompt per 4 pairs, 8 responses of 300-600 characters each, one 64x64
PNG per prompt) and its pairs with `mmpo pairs`, then measures:
- `write_inspector` on the pairs folder and the samples file (seconds, MB written);
- in headless Debian chromium (/usr/bin/chromium, page opened from disk): the pairs view until its
  first page of cards is drawn with its image loaded, a filter, a search by pid, and a jump to the
  last page (a chunk far from the first).
The goal: 100k pairs open in a few seconds.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("the", "first", "number", "is", "then", "we", "add", "bar", "height", "so", "total", "angle", "sum",
         "times", "equals", "read", "value", "chart", "green", "largest")


def build(root: Path, n_pairs: int, seed: int = 0) -> tuple[Path, Path]:
    from PIL import Image

    from mmpo.pairs.build import build_pairs
    from mmpo.pairs.options import PairOptions

    rng = random.Random(seed)
    n_prompts = max(1, n_pairs // 4)
    (root / "images").mkdir(parents=True, exist_ok=True)
    samples = root / "samples.jsonl"
    with samples.open("w") as fh:
        for i in range(n_prompts):
            pid = f"train-{i:06d}"
            image = root / "images" / f"{pid}.png"
            Image.frombytes("L", (64, 64), rng.randbytes(64 * 64)).save(image)
            answer = str(rng.randrange(100))
            responses = []
            for k in range(8):
                ok = k < 2 or (k < 4 and rng.random() < 0.5)   # 2-4 of 8 correct: 4 pairs at the cap
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(60, 110)))
                value = answer if ok else f"n{k}"
                responses.append({"text": f"{text} . Final answer: {value}", "extracted": value,
                                  "verdict": "correct" if ok else "incorrect", "truncated": False})
            fh.write(json.dumps({
                "pid": pid, "prompt": f"Answer step by step.\n\nQuestion: What is the value {i} ?",
                "image": str(image), "question": f"What is the value {i} ?", "answer": answer, "source": "bench",
                "record": {"question_type": "free_form" if i % 3 else "multi_choice"},
                "responses": responses, "settings": {"n": 8}}) + "\n")
    build_pairs(PairOptions(samples=[samples], out=root / "pairs", max_pairs_per_prompt=4, seed=seed))
    return samples, root / "pairs"


def measure_page(index: Path, pid: str, pages: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    out = {}
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(tempfile.mkdtemp(), executable_path="/usr/bin/chromium",
                                                   headless=True, args=args)
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        t = time.perf_counter()
        page.goto(index.as_uri() + "#pairs")
        page.wait_for_function("(() => { const i = document.querySelector('#list .card img');"
                               " return i && i.complete && i.naturalWidth > 0; })()")
        out["open_pairs_s"] = time.perf_counter() - t
        count = page.text_content("#count")
        t = time.perf_counter()
        page.select_option("#f-qtype", "multi_choice")
        page.wait_for_function("(c) => document.querySelector('#count')?.textContent !== c "
                               "&& document.querySelectorAll('#list .card').length > 0", arg=count)
        out["filter_s"] = time.perf_counter() - t
        out["filtered"] = page.text_content("#count")
        page.select_option("#f-qtype", "")
        t = time.perf_counter()
        page.fill("#search", pid)
        page.wait_for_function("(pid) => { const c = document.querySelectorAll('#list .card');"
                               " return c.length > 0 && [...c].every(x => x.dataset.pid === pid); }", arg=pid)
        out["search_s"] = time.perf_counter() - t   # includes the page's 150 ms typing pause
        out["found"] = page.text_content("#count")
        page.fill("#search", "")
        page.wait_for_function("document.querySelectorAll('#list .card').length === 20")
        t = time.perf_counter()
        page.goto(index.as_uri() + f"#pairs?page={pages - 1}")
        page.wait_for_function("(p) => document.querySelector('#page')?.textContent === p "
                               "&& document.querySelectorAll('#list .card').length > 0",
                               arg=f"page {pages} of {pages}")
        out["last_page_s"] = time.perf_counter() - t
        ctx.close()
    return out


def main(argv: list[str] | None = None) -> int:
    from mmpo.inspector.run import write_inspector

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args(argv)
    root = Path(args.out or tempfile.mkdtemp(prefix="inspect-large-"))
    t = time.perf_counter()
    samples, pairs = build(root / "run", args.pairs)
    print(f"built {args.pairs} pairs in {time.perf_counter() - t:.1f} s under {root}", flush=True)
    t = time.perf_counter()
    summary = write_inspector([samples, pairs], root / "site")
    seconds = time.perf_counter() - t
    size = sum(f.stat().st_size for f in (root / "site" / "data").rglob("*") if f.is_file())
    ix = (root / "site" / "data" / "pairs" / "index.js").stat().st_size
    n = summary["pairs"]["n"]
    print(f"write_inspector: {n} pairs, {summary['samples']['n']} prompts in {seconds:.1f} s; data {size / 1e6:.0f} MB "
          f"(pairs index {ix / 1e6:.1f} MB, {summary['pairs']['chunks']} chunks)", flush=True)
    got = measure_page(root / "site" / "index.html", "train-000123", pages=-(-n // 20))
    print("chromium: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} '{v}'" for k, v in got.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
