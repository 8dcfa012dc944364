"""One generator per task family: a scene (what gets drawn) plus question, choices, answer, solution.

Generators are pure functions of a `random.Random`; they never draw (see `render.py`), so the
texts of thousands of records come out in milliseconds (`corpus_texts`).

Answers are drawn first, uniformly over each question's answer space, and the scene is built to
match. This is what keeps the benchmark from being answerable from the text: for a fixed question
text no answer is more likely than another, and in multiple choice the correct option's position
is uniform too.

Texts separate words, numbers and punctuation with spaces ("3 + 7 = 10 .") so that a word-level
tokenizer splits them cleanly; only "Final answer:" keeps its colon, the format the prompts ask for.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import cache
from typing import Any

CELL = 16  # one glyph or shape per 16x16 cell: one cell is one vision-tower patch
MIN_SIZE, MAX_SIZE = 32, 128
BACKGROUND = 128  # mid-gray
NOISE_SIGMA = 6.0

# Named colours (what questions and options say) -> RGB (what gets drawn).
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (30, 170, 60),
    "blue": (40, 80, 230),
    "yellow": (245, 215, 30),
    "purple": (150, 50, 200),
    "orange": (250, 135, 20),
}
SHAPE_COLORS = ("red", "green", "blue", "yellow")
SHAPE_KINDS = ("circle", "square", "triangle")
BAR_MAX = 7  # bar heights 1..7 units of size // 8 px

Spec = dict[str, Any]
Generator = Callable[[random.Random, int, "int | None"], Spec]


def _grid(size: int) -> int:
    return size // CELL


def _nums(values) -> str:
    return " , ".join(str(v) for v in values)


def _spec(*, question, answer, solution, scene, template, task, skills, context,
          choices=None, answer_type="integer", unit=None, precision=None) -> Spec:
    return {
        "question": question,
        "choices": choices,
        "answer": str(answer),
        "question_type": "multi_choice" if choices else "free_form",
        "answer_type": answer_type,
        "unit": unit,
        "precision": precision,
        "solution": f"{solution} Final answer: {answer}",
        "scene": scene,
        "metadata": {"category": "math-targeted-vqa", "task": task, "skills": list(skills),
                     "context": context, "template": template},
    }


def _options_with_answer(rng: random.Random, options: list[str], answer: str) -> list[str]:
    """`options` in random order; the correct option's position is uniform over positions."""
    others = [o for o in options if o != answer]
    rng.shuffle(others)
    others.insert(rng.randrange(len(options)), answer)
    return others


@cache
def _ways(k: int, total: int, hi: int) -> int:
    """Number of sequences of k integers in 0..hi that sum to total."""
    if k == 0:
        return 1 if total == 0 else 0
    return sum(_ways(k - 1, total - v, hi) for v in range(0, min(hi, total) + 1))


def _uniform_composition(rng: random.Random, k: int, total: int, hi: int) -> list[int]:
    """A sequence of k integers in 0..hi summing to total, uniform over all such sequences."""
    out = []
    for i in range(k, 0, -1):
        r = rng.randrange(_ways(i, total, hi))
        for v in range(0, min(hi, total) + 1):
            w = _ways(i - 1, total - v, hi)
            if r < w:
                out.append(v)
                total -= v
                break
            r -= w
    return out


# ---------------------------------------------------------------- bar charts

def _bar_read(bars) -> str:
    parts = " , ".join(f"{b['color']} {b['height']}" for b in bars)
    return f"The bar heights from left to right are {parts} ."


def _bar_counts(size: int, max_objects: int | None) -> list[int]:
    # Distinct colours and (for "tallest") distinct heights bound the bar count on large images.
    hi = min(_grid(size), max_objects or _grid(size), len(COLORS), BAR_MAX)
    return list(range(2, max(hi, 2) + 1))


@cache
def _mean_table(counts: tuple[int, ...]) -> dict[str, list[tuple[int, int]]]:
    """Answer string of the mean -> the (bar count, total) pairs that give it.

    Means that fall exactly half-way at the answer's precision (x.25, x.75) are left out, so
    the rounding of the gold answer is never ambiguous.
    """
    table: dict[str, list[tuple[int, int]]] = {}
    for k in counts:
        for total in range(k, BAR_MAX * k + 1):
            if (total * 100 // k) % 10 == 5 and (total * 100) % k == 0:
                continue
            table.setdefault(f"{total / k:.1f}", []).append((k, total))
    return table


def gen_bars(rng: random.Random, size: int, max_objects: int | None = None) -> Spec:
    """Bar chart of thick bars with integer heights 1..7; read, compare, average, list."""
    template = rng.choice(["height", "difference", "mean", "list", "tallest_choice", "tallest_color"])
    counts = _bar_counts(size, max_objects)
    colors = list(COLORS)
    if template == "mean":
        value = rng.choice(sorted(_mean_table(tuple(counts)), key=float))
        k, total = rng.choice(_mean_table(tuple(counts))[value])
        heights = [h + 1 for h in _uniform_composition(rng, k, total - k, BAR_MAX - 1)]
    else:
        k = rng.choice(counts)
        if template in ("tallest_choice", "tallest_color"):
            heights = rng.sample(range(1, BAR_MAX + 1), k)  # a unique tallest bar
        else:
            heights = [rng.randint(1, BAR_MAX) for _ in range(k)]
    names = rng.sample(colors, k)
    if template == "tallest_color":
        # The tallest bar's colour is uniform over the palette, not over the drawn bars only.
        top = heights.index(max(heights))
        want = rng.choice(colors)
        if want in names:
            j = names.index(want)
            names[j], names[top] = names[top], names[j]
        else:
            names[top] = want
    columns = sorted(rng.sample(range(_grid(size)), k))
    bars = [{"color": c, "height": h, "column": col} for c, h, col in zip(names, heights, columns)]
    scene = {"family": "bars", "size": size, "unit_px": size // 8, "bars": bars}
    common = {"scene": scene, "task": "figure question answering", "context": "bar chart"}
    read = _bar_read(bars)
    if template == "height":
        i = rng.randrange(k)
        target = rng.randint(1, BAR_MAX)  # the asked bar's height is uniform
        bars[i]["height"] = target
        read = _bar_read(bars)
        c = bars[i]["color"]
        return _spec(question=f"What is the height of the {c} bar ? (Unit: cm)", answer=target, unit="cm",
                     solution=f"{read} The {c} bar has height {target} .", template=template,
                     skills=["statistical reasoning"], **common)
    if template == "difference":
        i, j = rng.sample(range(k), 2)
        diff = rng.randint(1, BAR_MAX - 1)
        low = rng.randint(1, BAR_MAX - diff)
        bars[i]["height"], bars[j]["height"] = low + diff, low
        read = _bar_read(bars)
        ci, cj = bars[i]["color"], bars[j]["color"]
        return _spec(question=f"How much taller is the {ci} bar than the {cj} bar ? (Unit: cm)",
                     answer=diff, unit="cm", template=template,
                     solution=f"{read} {low + diff} - {low} = {diff} .",
                     skills=["statistical reasoning", "arithmetic reasoning"], **common)
    if template == "mean":
        hs = [b["height"] for b in bars]
        return _spec(question="What is the average height of the bars ?", answer=value, answer_type="float",
                     precision=1, template=template,
                     solution=f"{read} {' + '.join(map(str, hs))} = {sum(hs)} . {sum(hs)} / {k} = {value} .",
                     skills=["statistical reasoning", "arithmetic reasoning"], **common)
    if template == "list":
        hs = [b["height"] for b in bars]
        return _spec(question="List the heights of the bars from left to right .", answer=str(hs),
                     answer_type="list", template=template, solution=read,
                     skills=["statistical reasoning"], **common)
    top = max(bars, key=lambda b: b["height"])
    solution = f"{read} The tallest is the {top['color']} bar with height {top['height']} ."
    if template == "tallest_color":
        return _spec(question="What color is the tallest bar ?", answer=top["color"], answer_type="text",
                     template=template, solution=solution, skills=["statistical reasoning"], **common)
    choices = _options_with_answer(rng, [b["color"] for b in bars], top["color"])
    return _spec(question="Which bar is the tallest ?", answer=top["color"], answer_type="text",
                 choices=choices, template=template, solution=solution,
                 skills=["statistical reasoning"], **common)


# ---------------------------------------------------------------- counting shapes

def _shape_read(shapes) -> str:
    parts = " , ".join(f"a {s['color']} {s['kind']}" for s in shapes)
    return f"The shapes are {parts} ."


def gen_shapes(rng: random.Random, size: int, max_objects: int | None = None) -> Spec:
    """Large solid circles, squares and triangles, one per cell; count by colour, kind or in total."""
    cells = _grid(size) ** 2
    most = min(cells, max_objects or 8)
    template = rng.choice(["count_color", "count_kind", "count_total"])
    if template == "count_total":
        n = rng.randint(1, most)
        shapes = [{"color": rng.choice(SHAPE_COLORS), "kind": rng.choice(SHAPE_KINDS)} for _ in range(n)]
        target = None
    else:
        attr, values = ("color", SHAPE_COLORS) if template == "count_color" else ("kind", SHAPE_KINDS)
        target = rng.choice(values)
        k = rng.randint(0, min(5, most))
        n = rng.randint(max(k, 2), most)
        others = [v for v in values if v != target]
        shapes = []
        for i in range(n):
            s = {"color": rng.choice(SHAPE_COLORS), "kind": rng.choice(SHAPE_KINDS)}
            s[attr] = target if i < k else rng.choice(others)
            shapes.append(s)
        rng.shuffle(shapes)
    positions = sorted(rng.sample(range(cells), n))
    g = _grid(size)
    for s, p in zip(shapes, positions):
        s["cell"] = [p // g, p % g]
    scene = {"family": "shapes", "size": size, "shapes": shapes}
    common = {"scene": scene, "task": "visual question answering", "context": "synthetic scene",
              "skills": ["arithmetic reasoning"], "template": template}
    read = _shape_read(shapes)
    if template == "count_total":
        return _spec(question="How many shapes are there in total ?", answer=n,
                     solution=f"{read} Counting them gives {n} .", **common)
    if template == "count_color":
        match = [s["kind"] for s in shapes if s["color"] == target]
        noun, question = f"{target} shapes", f"How many {target} shapes are there ?"
    else:
        match = [s["color"] for s in shapes if s["kind"] == target]
        noun, question = f"{target}s", f"How many {target}s are there ?"
    if match:
        step = f"The {noun} are : {_nums(match)} . That makes {len(match)} ."
    else:
        step = f"There are no {noun} ."
    return _spec(question=question, answer=len(match), solution=f"{read} {step}", **common)


# ---------------------------------------------------------------- arithmetic on rendered digits

@cache
def _expressions() -> dict[int, list[tuple[int, str, int]]]:
    table: dict[int, list[tuple[int, str, int]]] = {}
    for a in range(10):
        for b in range(10):
            for op, value in (("+", a + b), ("-", a - b), ("*", a * b)):
                table.setdefault(value, []).append((a, op, b))
    return table


def gen_arith(rng: random.Random, size: int, max_objects: int | None = None) -> Spec:
    """`a op b` drawn as three glyphs in consecutive cells (reading order); the value is asked."""
    table = _expressions()
    value = rng.choice(sorted(table))
    a, op, b = rng.choice(table[value])
    g = _grid(size)
    # One row when the grid is 3 or more cells wide; a 2x2 grid wraps in reading order.
    start = rng.randrange(g) * g + rng.randrange(g - 2) if g >= 3 else rng.randrange(g * g - 2)
    glyphs = [{"char": ch, "cell": [], "ink": rng.choice(["black", "white"]), "offset": []}
              for ch in (str(a), op, str(b))]
    for i, gl in enumerate(glyphs):
        p = start + i
        gl["cell"] = [p // g, p % g]
        gl["offset"] = [rng.randint(0, CELL - 10), rng.randint(0, CELL - 14)]
    scene = {"family": "arith", "size": size, "glyphs": glyphs}
    return _spec(question="What is the value of the expression in the image ?", answer=value,
                 solution=f"The expression is {a} {op} {b} . {a} {op} {b} = {value} .",
                 scene=scene, template="expression", task="math word problem", context="rendered expression",
                 skills=["arithmetic reasoning"])


# ---------------------------------------------------------------- triangle angles

ANGLE_STEP = 15


def triangle_vertices(angles: list[int], rng: random.Random, size: int) -> list[list[float]]:
    """Vertices of a triangle with these interior angles (degrees), randomly turned, fitted to the image."""
    import math

    a, b, c = (math.radians(x) for x in angles)
    # Law of sines: the side opposite each angle is proportional to its sine.
    side_c, side_b = math.sin(c), math.sin(b)
    pts = [(0.0, 0.0), (side_c, 0.0), (side_b * math.cos(a), side_b * math.sin(a))]
    turn = rng.uniform(0, 2 * math.pi)
    flip = rng.choice([1, -1])
    pts = [(x * math.cos(turn) - flip * y * math.sin(turn), x * math.sin(turn) + flip * y * math.cos(turn))
           for x, y in pts]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    margin = max(4, size // 10)
    scale = (size - 2 * margin) / max(max(xs) - min(xs), max(ys) - min(ys))
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return [[round(size / 2 + (x - cx) * scale, 3), round(size / 2 + (y - cy) * scale, 3)] for x, y in pts]


def gen_triangle(rng: random.Random, size: int, max_objects: int | None = None) -> Spec:
    """A solid triangle with coloured dots at its corners; angle questions as multiple choice."""
    template = rng.choice(["angle_value", "largest_angle"])
    corner_colors = rng.sample(["red", "green", "blue"], 3)
    if template == "angle_value":
        # Choose the four options first and the correct position uniformly, then the triangle:
        # the options say nothing about which one is right.
        start = rng.randrange(1, 8) * ANGLE_STEP  # options start..start+45, all in 15..150
        options = [start + i * ANGLE_STEP for i in range(4)]
        right = rng.randrange(4)
        first = options[right]
        second = rng.randrange(1, (180 - first) // ANGLE_STEP) * ANGLE_STEP
        angles = [first, second, 180 - first - second]
    else:
        while True:
            first = rng.randrange(1, 11) * ANGLE_STEP
            second = rng.randrange(1, (180 - first) // ANGLE_STEP) * ANGLE_STEP
            angles = [first, second, 180 - first - second]
            if len(set(angles)) == 3:
                break
        rng.shuffle(angles)
    vertices = triangle_vertices(angles, rng, size)
    corners = [{"color": col, "xy": xy, "angle": ang} for col, xy, ang in zip(corner_colors, vertices, angles)]
    scene = {"family": "triangle", "size": size, "corners": corners, "fill": "gray"}
    common = {"scene": scene, "task": "geometry problem solving", "context": "geometry diagram",
              "skills": ["geometry reasoning", "algebraic reasoning"], "answer_type": "text", "template": template}
    c0, c1, c2 = corners
    if template == "angle_value":
        answer = f"{c0['angle']}°"
        solution = (f"The angles of a triangle add up to 180 . The angle at the {c1['color']} corner is "
                    f"{c1['angle']} and the angle at the {c2['color']} corner is {c2['angle']} . "
                    f"180 - {c1['angle']} - {c2['angle']} = {c0['angle']} .")
        return _spec(question=f"What is the measure of the angle at the {c0['color']} corner ?",
                     choices=[f"{o}°" for o in options], answer=answer, solution=solution, **common)
    top = max(corners, key=lambda c: c["angle"])
    parts = " , ".join(f"{c['color']} {c['angle']}" for c in corners)
    choices = _options_with_answer(rng, corner_colors, top["color"])
    return _spec(question="Which corner has the largest angle ?", choices=choices, answer=top["color"],
                 solution=f"The angles are {parts} . The largest is at the {top['color']} corner .", **common)


# ---------------------------------------------------------------- digits (the demo's family)

DIGIT_TEMPLATES = ("sum", "mul_add", "twice_top2", "largest")
PERCEPTION_PROMPT = "Describe each cell ."


def _digit_count_range(size: int, max_objects: int | None) -> tuple[int, int]:
    hi = min(5, _grid(size) ** 2, max_objects or 5)
    return min(3, hi), hi


def gen_digits(rng: random.Random, size: int, max_objects: int | None = None) -> Spec:
    """3-5 digits, one per 16x16 cell, read in reading order; multi-step and one-step questions."""
    lo, hi = _digit_count_range(size, max_objects)
    template = rng.choice(DIGIT_TEMPLATES)
    if template == "sum":
        total = rng.randint(0, 9 * hi)
        k = rng.choice([k for k in range(lo, hi + 1) if 9 * k >= total])
        digits = _uniform_composition(rng, k, total, 9)
    elif template == "mul_add":
        table: dict[int, list[tuple[int, int, int]]] = _mul_add_table()
        value = rng.choice(sorted(table))
        digits = list(rng.choice(table[value])) + [rng.randint(0, 9) for _ in range(rng.randint(lo, hi) - 3)]
    elif template == "twice_top2":
        pair_sum = rng.randint(0, 18)
        top = rng.choice([(x, pair_sum - x) for x in range(10) if 0 <= pair_sum - x <= x])
        k = rng.randint(lo, hi)
        digits = list(top) + [rng.randint(0, top[1]) for _ in range(k - 2)]
        rng.shuffle(digits)
    else:
        m = rng.randint(0, 9)
        k = rng.randint(lo, hi)
        digits = [m] + [rng.randint(0, m) for _ in range(k - 1)]
        rng.shuffle(digits)
    g = _grid(size)
    positions = sorted(rng.sample(range(g * g), len(digits)))
    glyphs = [{"char": str(d), "cell": [p // g, p % g], "ink": rng.choice(["black", "white"]),
               "offset": [rng.randint(0, CELL - 10), rng.randint(0, CELL - 14)]}
              for d, p in zip(digits, positions)]
    scene = {"family": "digits", "size": size, "glyphs": glyphs}
    read = f"The numbers are {_nums(digits)} ."
    if template == "sum":
        steps, acc = [], digits[0]
        for d in digits[1:]:
            steps.append(f"{acc} + {d} = {acc + d} .")
            acc += d
        question, answer = "What is the sum of all the numbers ?", acc
    elif template == "mul_add":
        a, b, c = digits[:3]
        steps = [f"{a} * {b} = {a * b} .", f"{a * b} + {c} = {a * b + c} ."]
        question, answer = "What is the first number times the second number plus the third number ?", a * b + c
    elif template == "twice_top2":
        x, y = sorted(digits, reverse=True)[:2]
        steps = [f"The two largest are {x} and {y} .", f"{x} + {y} = {x + y} .", f"{x + y} * 2 = {2 * (x + y)} ."]
        question, answer = "What is twice the sum of the two largest numbers ?", 2 * (x + y)
    else:
        steps = [f"The largest is {max(digits)} ."]
        question, answer = "What is the largest number ?", max(digits)
    return _spec(question=question, answer=answer, solution=" ".join([read, *steps]), scene=scene,
                 template=template, task="math word problem", context="digits in a grid",
                 skills=["arithmetic reasoning"])


@cache
def _mul_add_table() -> dict[int, list[tuple[int, int, int]]]:
    table: dict[int, list[tuple[int, int, int]]] = {}
    for a in range(10):
        for b in range(10):
            for c in range(10):
                table.setdefault(a * b + c, []).append((a, b, c))
    return table


def perception_target(record: dict[str, Any]) -> str:
    """One token per cell in reading order: the digit, or `x` for an empty cell ("x x 3 x 7 ...")."""
    scene = record.get("scene") or {}
    if scene.get("family") not in ("digits", "arith"):
        raise ValueError(f"perception_target needs a digits or arith record, got family {scene.get('family')!r}")
    g = scene["size"] // CELL
    tokens = ["x"] * (g * g)
    for gl in scene["glyphs"]:
        r, c = gl["cell"]
        tokens[r * g + c] = gl["char"]
    return " ".join(tokens)


def reading_target(record: dict[str, Any]) -> str:
    """The reading step alone, "The numbers are 3 , 7 , 2 ." (the first sentence of a digits solution)."""
    perception_target(record)  # same family check
    glyphs = sorted(record["scene"]["glyphs"], key=lambda gl: tuple(gl["cell"]))
    return f"The numbers are {_nums(gl['char'] for gl in glyphs if gl['char'].isdigit())} ."


FAMILIES: dict[str, Generator] = {
    "bars": gen_bars,
    "shapes": gen_shapes,
    "arith": gen_arith,
    "triangle": gen_triangle,
    "digits": gen_digits,
}
