"""The inspector (`mmpo inspect`): a static site to look at each stage's files in a browser.

- `run`: `write_inspector(inputs, out_dir)`, the entry function, and the printed summary
- `inputs`: what each given path is (samples file, pairs, eval, report or demo folder)
- `collect`: the lists (samples, pairs, predictions, reports), read with the stages' own readers
- `site`: paged chunks, compact indexes and images written into the output folder
- `markdown`: the reports' markdown as HTML
- `static/`: the page itself (index.html, app.js, style.css; no build step, no network)
"""
