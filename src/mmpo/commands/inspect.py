"""Look at the data: a browsable static site of samples, pairs, predictions and reports.

Usage:
    mmpo inspect demo-out --out demo-out/inspect            # a whole demo run
    mmpo inspect samples.jsonl pairs/ --out site/            # samples grouped by prompt, pairs side by side
    mmpo inspect evals/base evals/mpo report/ --out site/    # predictions, gained/lost questions, the report
    mmpo inspect evals/mpo --data data/test.jsonl --out site/ --serve

Reads any mix of: a samples file (mmpo sample), a pairs folder (meta.json), an eval folder
(scores.json + predictions.jsonl), a report folder (report.md, PNGs), a demo folder (results.json).
Writes DIR/index.html (open it in a browser; no server or network needed), DIR/data/ (records in
chunks of --chunk-size, loaded as pages are shown) and DIR/images/ (each image hard-linked or copied once).
Pages: pairs with their image, chosen and rejected side by side, filters by subset, verdict, question
type and pass rate, and search; samples grouped by prompt with their pass rate; predictions with
direct and CoT side by side; questions gained and lost between two evals; the report's tables and plots.
"""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    from mmpo.errors import ON_ERROR

    p.add_argument("inputs", nargs="+", metavar="PATH",
                   help="samples files, pairs folders, eval folders, report folders, demo folders")
    p.add_argument("--out", required=True, help="output folder (DIR/index.html is the entry page)")
    p.add_argument("--data", action="append", default=None, metavar="FILE",
                   help="benchmark records for the evals' questions and images (default: the file each "
                        "scores.json names); repeatable")
    p.add_argument("--compare", default=None, metavar="A,B",
                   help="the two evals the gained/lost view opens with (default: the first two)")
    p.add_argument("--chunk-size", type=int, default=500, help="records per data file (default 500)")
    p.add_argument("--on-error", choices=ON_ERROR, default="raise",
                   help="a bad samples or pairs line stops the run (raise) or is counted and listed (skip)")
    p.add_argument("--serve", action="store_true",
                   help="then serve DIR on 127.0.0.1 and open a browser (Ctrl-C stops); file:// works too")
    p.add_argument("--port", type=_port, default=8000, help="port for --serve, 0 for any free one (default 8000)")


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from mmpo.errors import MMPOError
    from mmpo.inspector.run import format_summary, write_inspector

    if args.chunk_size < 1:
        raise MMPOError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    server = _listen(args.port) if args.serve else None  # a port in use fails now, before the site is written
    compare = None
    if args.compare is not None:
        compare = tuple(n.strip() for n in args.compare.split(","))
        if len(compare) != 2 or not all(compare):
            raise MMPOError(f"--compare takes two eval names, A,B; got {args.compare!r}")
    summary = write_inspector(args.inputs, args.out, data=args.data, chunk_size=args.chunk_size,
                              on_error=args.on_error, compare=compare)
    print(format_summary(summary))
    if server is not None:
        _serve(server, args.out)
    return 0


def _listen(port: int):
    import http.server

    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler)
    except OSError as exc:
        from mmpo.errors import MMPOError

        raise MMPOError(f"--serve: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None


def _serve(server, folder: str) -> None:
    import functools
    import http.server
    import webbrowser

    server.RequestHandlerClass = functools.partial(http.server.SimpleHTTPRequestHandler, directory=folder)
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    print(f"serving {folder} at {url} (Ctrl-C stops)", flush=True)
    webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
