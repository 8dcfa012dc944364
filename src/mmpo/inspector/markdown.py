"""The little markdown `mmpo report` and the demo write, as HTML: headings, pipe tables, lists,
paragraphs, `code` and **bold**. Everything else is text; all text is escaped.

    html = to_html(Path("report/report.md").read_text())
"""

from __future__ import annotations

import html
import re

_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*")


def _inline(text: str) -> str:
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        out.append(f"<code>{html.escape(m.group(1))}</code>" if m.group(1) is not None
                   else f"<strong>{html.escape(m.group(2))}</strong>")
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    head, rows = _cells(lines[0]), [_cells(x) for x in lines[1:]]
    align = []
    if rows and all(re.fullmatch(r":?-+:?", c) for c in rows[0]):
        align = ["right" if c.endswith(":") else "" for c in rows[0]]
        rows = rows[1:]

    def cell(tag: str, i: int, text: str) -> str:
        style = ' class="num"' if i < len(align) and align[i] == "right" else ""
        return f"<{tag}{style}>{_inline(text)}</{tag}>"

    out = ["<table>", "<thead><tr>" + "".join(cell("th", i, c) for i, c in enumerate(head)) + "</tr></thead>",
           "<tbody>"]
    out += ["<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>" for r in rows]
    return "\n".join(out + ["</tbody>", "</table>"])


def to_html(text: str) -> str:
    blocks, para, lines = [], [], text.splitlines()

    def end_para() -> None:
        if para:
            blocks.append("<p>" + _inline(" ".join(para)) + "</p>")
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            end_para()
            i += 1
        elif line.lstrip().startswith("|"):
            end_para()
            j = i
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            blocks.append(_table(lines[i:j]))
            i = j
        elif m := re.match(r"(#{1,6})\s+(.*)", line):
            end_para()
            level = min(6, len(m.group(1)) + 1)  # the page has its own h1 and h2
            blocks.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
            i += 1
        elif re.match(r"\s*[-*]\s+", line):
            end_para()
            items = []
            while i < len(lines) and re.match(r"\s*[-*]\s+", lines[i]):
                items.append("<li>" + _inline(re.sub(r"^\s*[-*]\s+", "", lines[i])) + "</li>")
                i += 1
            blocks.append("<ul>" + "".join(items) + "</ul>")
        else:
            para.append(line.strip())
            i += 1
    end_para()
    return "\n".join(blocks)
