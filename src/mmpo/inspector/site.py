"""Writing the inspector's static site: paged record chunks, compact indexes, images copied once.

    site = Site(out_dir, chunk_size=500)
    table = site.table("pairs", vocab=("subset", "verdict"), plain=("pid",))
    table.add(row, subset="digits_pairs_vqa_correctness_rules", verdict="correct / incorrect",
              pid="train-000003", text="train-000003 what is the sum ...")
    site.finish(manifest)

Every data file is JavaScript that hands one JSON value to the page (`MMPO.chunk("pairs", 3, [...])`),
so `index.html` opened from disk (file://, where a page may not fetch files) loads it with a script
tag. Rows go out `chunk_size` at a time as they come; the index keeps, per row, small integers
(vocab columns), plain values and a search-text id (texts shared by many rows stored once), which
is all the page filters and searches on before it loads the chunks of the page shown.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from mmpo.errors import MMPOError

STATIC = Path(__file__).with_name("static")
STATIC_FILES = ("index.html", "app.js", "style.css")
MARKER = ".mmpo-inspect"          # a folder holding it was written by mmpo inspect (and may be rewritten)
OWNED = ("data", "images", "report", *STATIC_FILES)


def js_payload(call: str, *args: Any) -> str:
    """`MMPO.<call>(arg, ...);` with each argument as compact JSON."""
    body = ",".join(json.dumps(a, ensure_ascii=False, separators=(",", ":")) for a in args)
    return f"MMPO.{call}({body});\n"


class Table:
    """One browsable list (pairs, samples, one eval's predictions): chunks on disk, index in memory."""

    def __init__(self, site: Site, key: str, folder: Path, vocab: tuple[str, ...], plain: tuple[str, ...]):
        self.site, self.key, self.folder = site, key, folder
        self.vocab = {name: {} for name in vocab}
        self.columns: dict[str, list[Any]] = {name: [] for name in (*vocab, *plain, "text")}
        self.texts: dict[str, int] = {}
        self.buffer: list[dict[str, Any]] = []
        self.n = 0
        self.chunks = 0
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, row: dict[str, Any], *, text: str = "", **index: Any) -> None:
        """Append one row; `index` gives its value for every vocab and plain column, `text` what search sees."""
        for name, values in self.columns.items():
            if name == "text":
                values.append(self.texts.setdefault(" ".join(text.lower().split()), len(self.texts)))
            elif name in self.vocab:
                codes = self.vocab[name]
                values.append(codes.setdefault(str(index[name]), len(codes)))
            else:
                values.append(index[name])
        self.buffer.append(row)
        self.n += 1
        if len(self.buffer) == self.site.chunk_size:
            self._flush()

    def _flush(self) -> None:
        if self.buffer:
            path = self.folder / f"{self.chunks:05d}.js"
            path.write_text(js_payload("chunk", self.key, self.chunks, self.buffer), encoding="utf-8")
            self.chunks += 1
            self.buffer = []

    def close(self, order: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """Write the last chunk and index.js; return what the manifest says about this table.

        `order` lists a vocab column's values in the order its filter should offer them (values
        not listed follow in order of first appearance)."""
        self._flush()
        vocab = {}
        for name, codes in self.vocab.items():
            wanted = [v for v in (order or {}).get(name, []) if v in codes]
            values = wanted + [v for v in codes if v not in wanted]
            vocab[name] = values
        index = {"n": self.n, "vocab": {k: list(c) for k, c in self.vocab.items()}, "order": vocab,
                 "texts": list(self.texts), **{k: v for k, v in self.columns.items()}}
        (self.folder / "index.js").write_text(js_payload("index", self.key, index), encoding="utf-8")
        return {"key": self.key, "dir": self.folder.relative_to(self.site.out).as_posix(), "n": self.n,
                "chunks": self.chunks, "chunk_size": self.site.chunk_size}


class Site:
    """The output folder: owns data/, images/, report/ and the page's files in it."""

    def __init__(self, out: str | os.PathLike, *, chunk_size: int = 500):
        from mmpo.data.files import writable_dir

        if chunk_size < 1:
            raise MMPOError(f"--chunk-size must be >= 1, got {chunk_size}")
        self.out = Path(out)
        if self.out.is_file():
            raise MMPOError(f"--out {self.out} is a file; give a folder")
        if self.out.is_dir() and any(self.out.iterdir()) and not (self.out / MARKER).exists():
            raise MMPOError(f"--out {self.out} is not empty and was not written by mmpo inspect; "
                            "give a new or empty folder")
        writable_dir(self.out)
        for name in OWNED:  # an earlier inspector written here is replaced whole, never mixed with
            p = self.out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        (self.out / MARKER).write_text("written by mmpo inspect; rerunning into this folder replaces it\n")
        self.chunk_size = chunk_size
        self.images: dict[str, str] = {}   # path as given, and absolute -> URL
        self.linked = self.copied = self.files = 0

    def table(self, key: str, *, vocab: tuple[str, ...] = (), plain: tuple[str, ...] = ()) -> Table:
        return Table(self, key, self.out / "data" / key.replace("/", os.sep), vocab, plain)

    def image(self, path: str | os.PathLike | None) -> str | None:
        """The page's URL of an image file, hard-linked (or copied) into images/ the first time it is seen."""
        if path is None:
            return None
        seen = self.images.get(str(path))   # the same path string again (every pair of a prompt)
        if seen is not None:
            return seen
        src = os.path.abspath(path)
        if src not in self.images:
            name = hashlib.sha1(src.encode("utf-8")).hexdigest()[:16] + Path(src).suffix.lower()
            dest = self.out / "images" / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dest)
                self.linked += 1
            except OSError:
                try:
                    shutil.copyfile(src, dest)
                except OSError as exc:
                    raise MMPOError(f"cannot copy image {src} into {dest.parent}: {exc.strerror or exc}") from None
                self.copied += 1
            self.images[src] = f"images/{name}"
            self.files += 1
        self.images[str(path)] = self.images[src]
        return self.images[src]

    def image_of(self, ref) -> str | None:
        """The page's URL of a record's image as the readers keep it (`image_ref`): a file path, or a
        `{"bytes", "path"}` dict of an image embedded in a parquet file or a TSV, written once into images/."""
        if not isinstance(ref, dict):
            return self.image(ref)
        data = ref.get("bytes")
        if not data:
            return self.image(ref.get("path"))
        key = "bytes:" + hashlib.sha1(data).hexdigest()
        if key not in self.images:
            kinds = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF8", ".gif"), (b"RIFF", ".webp"), (b"BM", ".bmp"))
            suffix = next((ext for magic, ext in kinds if data.startswith(magic)), ".img")
            name = key[6:22] + suffix
            dest = self.out / "images" / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            self.copied += 1
            self.files += 1
            self.images[key] = f"images/{name}"
        return self.images[key]

    def copy_file(self, src: Path, rel: str) -> str:
        """Copy a file (a report's PNG) to `rel` under the output folder; returns `rel`."""
        dest = self.out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return rel

    def write_data(self, rel: str, call: str, *args: Any) -> None:
        path = self.out / "data" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(js_payload(call, *args), encoding="utf-8")

    def finish(self, manifest: dict[str, Any]) -> Path:
        """Write data/site.js and the page's files; returns index.html."""
        self.write_data("site.js", "site", manifest)
        for name in STATIC_FILES:
            shutil.copyfile(STATIC / name, self.out / name)
        return self.out / "index.html"
