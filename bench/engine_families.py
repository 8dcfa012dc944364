"""Which tiny families vLLM serves, and whether its greedy output equals the HF engine's, token for token.

    PYTHONPATH=src .venv/bin/python bench/engine_families.py [--archs qwen2_vl,llava] [--out table.md]

Per family of `mmpo.models.ARCHS`: a tiny checkpoint of size `serve` (32-dim heads, which vLLM's CPU
build takes) is built, served with `vllm serve` from .venv-vllm (`make vllm`; --enforce-eager, so the
start-up skips torch.compile), and checked as `mmpo sample`/`mmpo eval` would use it:

- served: the server starts and answers (else the first error line of its log);
- prompt ids: the server's prompt token ids for an image prompt equal mmpo's (`mmpo.engines.checks`);
- greedy: for 4 image prompts, vLLM's greedy completion token ids equal the HF path's
  (`mmpo.sample.prefill.draw_samples` at temperature 0), and the text equals `greedy_generate`'s;
- continuation: a partial answer continued without the image (DropoutNTP), vLLM vs HF, token ids.

Prints a markdown table (and writes it to --out). About 1 minute per family on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

QUESTIONS = ["How many red squares are in the image?", "What is the sum of the numbers?",
             "Which bar is the tallest? Final answer:", "Describe each cell ."]
MAX_TOKENS = 24


def _image():
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (64, 64), (128, 128, 128))
    draw = ImageDraw.Draw(img)
    for i, (r, c) in enumerate([(0, 1), (1, 3), (2, 0), (3, 2)]):
        draw.rectangle([c * 16 + 2, r * 16 + 2, c * 16 + 13, r * 16 + 13], fill=(20 + 60 * i, 40, 200 - 60 * i))
    return img


def check_family(arch: str, folder: Path) -> dict:
    from mmpo.data.chat import chat_prompt
    from mmpo.engines import ChatClient, ChatRequest, VLLMServer, check_prompt_tokens, check_served_model
    from mmpo.errors import MMPOError
    from mmpo.eval.generate import greedy_generate
    from mmpo.models import load_model, save_tiny
    from mmpo.sample.prefill import draw_samples

    model_dir = save_tiny(arch, "serve", folder / arch)
    model, processor = load_model(model_dir)
    image = _image()
    row = {"arch": arch}
    t0 = time.perf_counter()
    try:
        server = VLLMServer(model_dir, extra_args=["--enforce-eager"], startup_timeout=600,
                            log_path=folder / f"{arch}.log").start()
    except MMPOError as exc:
        lines = [ln for ln in str(exc).splitlines() if "Error" in ln and "Traceback" not in ln]
        row["served"] = "no: " + (lines[-1].split("] ")[-1][:160] if lines else str(exc).splitlines()[0][:160])
        return row
    try:
        row["served"] = f"yes ({time.perf_counter() - t0:.0f} s start)"
        client = ChatClient(server.base_url, server.served_model_name, concurrency=4)
        check_served_model(client)
        try:
            check_prompt_tokens(client, processor, QUESTIONS[0], image)
            row["prompt ids"] = "equal"
        except MMPOError as exc:
            row["prompt ids"] = "differ: " + str(exc).split(": ", 1)[-1][:160]
        texts = [chat_prompt(processor, q, image=True) for q in QUESTIONS]
        hf = draw_samples(model, processor, texts, [image] * len(texts), n=1, seeds=[0] * len(texts),
                          temperature=0.0, top_k=0, max_new_tokens=MAX_TOKENS)
        hf_text = greedy_generate(model, processor, [(q, image) for q in QUESTIONS], max_new_tokens=MAX_TOKENS)
        reqs = [ChatRequest(pid=f"g{i}", text=q, image=image, temperature=0.0, top_k=0, max_tokens=MAX_TOKENS)
                for i, q in enumerate(QUESTIONS)]
        try:
            got = client.complete(reqs)
        except MMPOError as exc:  # the server takes the prompt check but fails the image request
            row["greedy = HF"] = "no: " + str(exc).split("last error: ", 1)[-1][:160]
            return row
        same_ids = sum(list(g[0].token_ids[: g[0].num_tokens]) == h[0].tokens for g, h in zip(got, hf))
        same_text = sum(g[0].text.strip() == h.text for g, h in zip(got, hf_text))
        row["greedy = HF"] = f"{same_ids}/{len(QUESTIONS)} ids, {same_text}/{len(QUESTIONS)} texts"
        prefix = "There are 3 red"
        try:
            cont_hf = draw_samples(model, processor, [chat_prompt(processor, QUESTIONS[0], image=False) + prefix],
                                   None, n=1, seeds=[0], temperature=0.0, top_k=0, max_new_tokens=MAX_TOKENS)[0][0]
        except ValueError as exc:  # PaliGemma's processor needs an image in every prompt: no DropoutNTP
            row["continuation = HF"] = "n/a: " + str(exc)[:100]
            return row
        try:
            check_prompt_tokens(client, processor, QUESTIONS[0], assistant_prefix=prefix)
            cont = client.complete([ChatRequest(pid="c", text=QUESTIONS[0], assistant_prefix=prefix, temperature=0.0, top_k=0,
                                                max_tokens=MAX_TOKENS)])[0][0]
            row["continuation = HF"] = "yes" if list(cont.token_ids[: cont.num_tokens]) == cont_hf.tokens else "no"
        except MMPOError as exc:
            row["continuation = HF"] = "no: " + str(exc).split(": ", 1)[-1][:120]
    finally:
        server.stop()
    return row


def main(argv: list[str] | None = None) -> int:
    from mmpo.models import ARCHS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    cols = ["arch", "served", "prompt ids", "greedy = HF", "continuation = HF"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory(prefix="mmpo-families-") as tmp:
        for arch in args.archs.split(","):
            row = check_family(arch, Path(tmp))
            lines.append("| " + " | ".join(str(row.get(c, "-")).replace("|", "/") for c in cols) + " |")
            print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
