"""Labelled answer-checking cases: (response, record, expected extraction, expected verdict[, options]).

Each group covers one rule of `mmpo.answers`; cases marked "naive" are where a simple checker (first or
last number, substring, float(), a letter search, math-verify on plain words) gets the verdict wrong.
"""

import math

import pytest

from mmpo.answers import check_answer, extract_answer

C, W, FF = "correct", "incorrect", "format_failure"


def I(answer, **kw):  # noqa: E743 (integer record)
    return {"answer": answer, "question_type": "free_form", "answer_type": "integer", **kw}


def FL(answer, precision=None, **kw):
    return {"answer": answer, "question_type": "free_form", "answer_type": "float", "precision": precision, **kw}


def T(answer, **kw):
    return {"answer": answer, "question_type": "free_form", "answer_type": "text", **kw}


def L(answer, **kw):
    return {"answer": answer, "question_type": "free_form", "answer_type": "list", **kw}


def MC(answer, choices, **kw):
    return {"answer": answer, "choices": choices, "question_type": "multi_choice", "answer_type": "text", **kw}


FRAC = MC("8/11", ["5/11", "8/11", "3/11", "2/11"])  # B is right
DEG = MC("145°", ["135°", "140°", "145°", "150°"])  # MathVista pid 3
CM = MC("6cm", ["6cm", "7cm", "4cm", "5cm"])  # pid 6
YN = MC("Yes", ["Yes", "No"])  # pid 8
CLOCK = MC("quarter", ["half", "quarter", "o'clock", "quarter to", "quarter past"])  # pid 7
LETTERS = MC("E", ["A", "B", "C", "D", "E"])  # pid 10
SURDS = MC(r"\frac{\sqrt{3}}{2}", [r"\frac{\sqrt{3}}{2}", r"\frac{1}{2}", r"\sqrt{2}"])
MANY = MC("c27", [f"c{i}" for i in range(30)])  # 30 choices: A..Z, then AA (c26), AB (c27), AC, AD
DUP = MC("2", ["2", "3", "2"])  # a duplicated choice: A and C are the same answer
IV = MC("(-2,1]", ["(-2,1)", "(-2,1]", "[-2,1]", "[-2,1)"])  # B is right; the same ends, other brackets
SQA = {"answer": 1, "choices": ["whale", "shark", "tuna"], "question_type": "multi_choice"}  # ScienceQA: index 1
BIG = "9007199254740993"  # 2**53 + 1: the float nearest is 2**53
LEN = {"lenient": True}
MV = {"scoring": "mathvista"}

CASES = [
    # ---- extraction: the last balanced \boxed{...}
    (r"So $x = \boxed{5}$.", I("5"), "5", C),
    (r"First \boxed{3}, then on reflection \boxed{4}", I("4"), "4", C),
    (r"First \boxed{3}, then on reflection \boxed{4}", I("3"), "4", W),  # naive: first box
    (r"\boxed{\frac{1}{2}}", FL("0.5", 1), r"\frac{1}{2}", C),
    (r"The set is \boxed{\{1, 2\}}.", L("[1, 2]"), r"\{1, 2\}", C),
    (r"\boxed{2^{10}}", I("1024"), "2^{10}", C),
    (r"\boxed{5} and then \boxed{6", I("5"), "5", C),  # an unclosed box is skipped
    (r"\fbox{7}", I("7"), "7", C),
    (r"$\boxed{ 42 }$.", I("42"), "42", C),
    ("\\boxed{}\nFinal answer: 3", I("3"), "3", C),  # an empty box is no answer
    ("Final answer: 3\nChecking again: \\boxed{4}", I("4"), "4", C),  # a box beats a label
    (r"\boxed{\text{Yes}}", T("Yes"), r"\text{Yes}", C),
    (r"\boxed{B}", FRAC, "B", C),
    (r"\boxed{\boxed{5}}", I("5"), "5", C),
    (r"\boxed{-3}", I("-3"), "-3", C),
    (r"\boxed{x=2}", I("2"), "x=2", C),
    # ---- extraction: the last "Final answer:" / "Answer:" / "答案:" label
    ("Final answer: 7", I("7"), "7", C),
    ("Final Answer: 7", I("7"), "7", C),
    ("final answer: 7", I("7"), "7", C),
    ("**Final Answer:** 7", I("7"), "7", C),
    ("**Final Answer**: 7", I("7"), "7", C),
    ("Final answer: **7**", I("7"), "7", C),
    ("Final answer: `7`", I("7"), "7", C),
    ("Answer: 7", I("7"), "7", C),
    ("答案：7", I("7"), "7", C),
    ("最终答案: 7", I("7"), "7", C),
    ("Final answer: 7.", I("7"), "7", C),
    ("Final answer: 7!", I("7"), "7!", W),  # '!' after a digit is a factorial: 7! is 5040
    ("Final answer: 7!", I("5040"), "7!", C),
    ("Final answer: Yes!", T("Yes"), "Yes", C),  # after a word it is punctuation
    ("Final answer: wow", MC("Wow!!", ["Wow!!", "Oh no"]), "wow", C),
    ("Final answer:\n7", I("7"), "7", C),
    ("Final answer:\n$$\n7\n$$", I("7"), "7", C),
    ("Reasoning...\n\n### Final Answer\n\n7", I("7"), "7", C),
    ("Final answer: The answer is 7.", I("7"), "7", C),
    ("Final answer: 3\nLet me recheck.\nFinal answer: 4", I("4"), "4", C),
    ("Final answer: 12. This is the total.", I("12"), "12", C),
    ("Final answer: 12. The total is 12 apples.", I("12"), "12", C),
    ("Final answer: 12. I added rather than multiplied.", I("12"), "12", C),
    ("Final answer: 3. Wait, actually 4", I("4"), "3. Wait, actually 4", W),  # naive: last number
    ("Final answer: 3. Wait, actually 4", I("3"), "3. Wait, actually 4", W),  # naive: first number
    ("Final answer: 3. But 4 is also possible", I("3"), "3. But 4 is also possible", W),
    ("Final answer: 5 apples", I("5"), "5 apples", C),  # naive: float() fails
    ('Final answer: "Yes"', T("Yes"), "Yes", C),
    ("This question is answerable: 7", I("7"), None, FF),  # 'answer' inside a word is no label
    (r"Final answer: $\frac{1}{2}$", FL("0.5", 1), r"$\frac{1}{2}$", C),
    ("Final answer: (B) 8/11", FRAC, "(B) 8/11", C),
    ("Final answer:", I("7"), None, FF),
    ("Final answer: \n\n", I("7"), None, FF),
    ("Answer: 3\n...\nFinal answer: 5", I("5"), "5", C),
    ("Final answer: 7\n\nExplanation: the chart shows 7 bars.", I("7"), "7", C),
    ("Final answer: 3.5.", FL("3.5", 1), "3.5", C),
    ("Final answer: 1,000.", I("1000"), "1,000", C),
    # ---- extraction: "the answer is X"
    ("So the answer is 7.", I("7"), "7", C),
    ("Therefore, the answer is: 7", I("7"), "7", C),
    ("The correct option is (C).", FRAC, "(C)", W),
    ("The answer is (B) 8/11", FRAC, "(B) 8/11", C),
    ("the answer would be 7", I("7"), "7", C),
    ("I think the answer is 5 apples", I("5"), "5 apples", C),
    ("答案是7", I("7"), "7", C),
    ("The answer is 3. Actually, the answer is 4.", I("4"), "4", C),
    ("The answer is not clear from the image.", I("5"), "not clear from the image", W),
    ("The best choice is B.", FRAC, "B", C),
    ("So the final answer is 7", I("7"), "7", C),
    # ---- strict: no label, no box -> format failure
    ("7", I("7"), None, FF),
    ("B", FRAC, None, FF),
    ("There are seven objects.", I("7"), None, FF),
    ("", I("7"), None, FF),
    ("   \n ", I("7"), None, FF),
    ("I cannot tell from the picture", T("Yes"), None, FF),
    # ---- lenient extraction (benchmarks, direct answers)
    ("7", I("7"), "7", C, LEN),
    ("B", FRAC, "B", C, LEN),
    ("(B)", FRAC, "(B)", C, LEN),
    ("Yes", YN, "Yes", C, LEN),
    ("Yes.", YN, "Yes", C, LEN),
    ("It is 7.", I("7"), "7", C, LEN),
    ("B. Because the second bar is taller than all the others", FRAC, "B", C, LEN),
    ("There are 3 cubes and 4 spheres, so 7 in total.", I("7"), "7", C, LEN),
    ("There are 3 cubes and 4 spheres, so 7 in total.", I("3"), "7", W, LEN),  # naive: first number
    ("I count the objects one by one.\n(C)\n", FRAC, "C", W, LEN),
    ("The total is 1,000 dollars in the end", I("1000"), "1,000", C, LEN),
    ("Final answer: 3\nThe total is 7", I("7"), "3", W, LEN),  # lenient never overrides strict
    ("(B) 8/11", FRAC, "(B) 8/11", C, LEN),
    ("A cat", MC("cat", ["dog", "cat"]), "A cat", C, LEN),  # naive: letter A -> dog
    ("no idea", I("7"), "no idea", W, LEN),
    ("I am not sure what the picture shows at all", I("7"), None, FF, LEN),
    ("twelve", I("12"), "twelve", C, LEN),
    # ---- multiple choice: letters in their usual spellings (B = 8/11)
    ("Final answer: B", FRAC, "B", C),
    ("Final answer: (B)", FRAC, "(B)", C),
    ("Final answer: B.", FRAC, "B", C),
    ("Final answer: B)", FRAC, "B)", C),
    ("Final answer: [B]", FRAC, "[B]", C),
    ("Final answer: Option B", FRAC, "Option B", C),
    ("Final answer: option (B)", FRAC, "option (B)", C),
    ("Final answer: Choice B", FRAC, "Choice B", C),
    ("Final answer: b", FRAC, "b", C),
    ("Final answer: (b)", FRAC, "(b)", C),
    ("Final answer: B: 8/11", FRAC, "B: 8/11", C),
    ("Final answer: B. 8/11", FRAC, "B. 8/11", C),
    ("Final answer: B 8/11", FRAC, "B 8/11", C),
    ("Final answer: (B) 5/11", FRAC, "(B) 5/11", W),  # naive: trusts the letter; its text is A's
    ("Final answer: (C)", FRAC, "(C)", W),
    ("Final answer: A", FRAC, "A", W),
    ("Final answer: E", FRAC, "E", W),  # out of range
    ("Final answer: B is correct", FRAC, "B is correct", C),
    ("Final answer: B or C", FRAC, "B or C", W),
    ("Final answer: (B) or (C)", FRAC, "(B) or (C)", W),
    ("Final answer: (B) 8/11, not (C)", FRAC, "(B) 8/11, not (C)", W),
    ("Final answer: B. Actually, C", FRAC, "B. Actually, C", W),
    ("Final answer: B, since 8/11 is the largest", FRAC, "B, since 8/11 is the largest", C),
    ("The answer is (B) 8/11", FRAC, "(B) 8/11", C),
    ("Final answer: **(B)**", FRAC, "(B)", C),
    (r"Final answer: $\text{(B)}$", FRAC, r"$\text{(B)}$", C),
    # ---- multiple choice: the choice text, numbers, prefixes
    ("Final answer: 8/11", FRAC, "8/11", C),
    ("Final answer: 16/22", FRAC, "16/22", C),  # the same number
    ("Final answer: 5/11", FRAC, "5/11", W),
    ("Final answer: 0.5", FRAC, "0.5", W),
    ("Final answer: 145°", DEG, "145°", C),
    ("Final answer: 145", DEG, "145", C),
    ("Final answer: 145 degrees", DEG, "145 degrees", C),
    (r"Final answer: $145^\circ$", DEG, r"$145^\circ$", C),
    ("Final answer: C", DEG, "C", C),
    ("Final answer: 140", DEG, "140", W),
    ("Final answer: 6 cm", CM, "6 cm", C),
    ("Final answer: 6", CM, "6", C),
    ("Final answer: 6cm", CM, "6cm", C),
    ("Final answer: 6 m", CM, "6 m", W),  # naive: strips any unit
    ("Final answer: 7cm", CM, "7cm", W),
    ("Final answer: Yes", YN, "Yes", C),
    ("Final answer: yes.", YN, "yes", C),
    ("Final answer: No", YN, "No", W),
    ("Final answer: Yes, because the left bar is taller.", YN, "Yes, because the left bar is taller", C),
    ("Final answer: Yes or no", YN, "Yes or no", W),
    ("Final answer: Yesterday", YN, "Yesterday", W),
    ("Final answer: quarter", CLOCK, "quarter", C),
    ("Final answer: Quarter.", CLOCK, "Quarter", C),
    ("Final answer: quarter past", CLOCK, "quarter past", W),  # naive: substring "quarter"
    ("Final answer: (B) quarter", CLOCK, "(B) quarter", C),
    ("Final answer: (E) quarter past", CLOCK, "(E) quarter past", W),
    ("Final answer: E", LETTERS, "E", C),
    ("Final answer: (E)", LETTERS, "(E)", C),
    ("Final answer: D", LETTERS, "D", W),
    ("Final answer: Apple", MC("Apple", ["Pear", "Apple"]), "Apple", C),  # naive: 'A' in 'Apple'
    ("Final answer: Apple", MC("Pear", ["Apple", "Pear"]), "Apple", W),
    ("Final answer: A cat", MC("dog", ["dog", "cat"]), "A cat", W),  # naive: letter A -> dog
    ("Final answer: the cat", MC("cat", ["dog", "cat"]), "the cat", C),
    ("Final answer: 8/11", MC("B", ["5/11", "8/11", "3/11"]), "8/11", C),  # gold given as a letter
    ("Final answer: 0.50", MC("1/2", ["1/2", "0.5", "3"]), "0.50", W),  # matches two choices
    (r"Final answer: $\sqrt{3}/2$", SURDS, r"$\sqrt{3}/2$", C),  # math-verify
    (r"Final answer: $\frac{\sqrt3}{2}$", SURDS, r"$\frac{\sqrt3}{2}$", C),
    ("Final answer: 0.5", SURDS, "0.5", W),
    (r"Final answer: \sqrt{2}", SURDS, r"\sqrt{2}", W),
    ("Final answer: Common water flea", MC("Common water flea", ["Tilapia", "Common water flea", "Tadpole"]),
     "Common water flea", C),
    ("Final answer: common water-flea", MC("Common water flea", ["Tilapia", "Common water flea", "Tadpole"]),
     "common water-flea", C),
    # ---- integers
    ("Final answer: 12", I("12"), "12", C),
    ("Final answer: 12.0", I("12"), "12.0", C),
    ("Final answer: 12.5", I("12"), "12.5", W),
    ("Final answer: 1.2", I("12"), "1.2", W),  # naive: digits only
    ("Final answer: 012", I("12"), "012", C),
    ("Final answer: 12", I(12), "12", C),  # a JSON integer answer
    ("Final answer: 1,000", I("1000"), "1,000", C),
    ("Final answer: 1,000", I("1"), "1,000", W),  # naive: first number
    ("Final answer: 1,00", I("100"), "1,00", W),  # naive: drops commas
    ("Final answer: 3,5", I("35"), "3,5", W),
    ("Final answer: \u22123", I("-3"), "\u22123", C),  # Unicode minus
    ("Final answer: \u20133", I("-3"), "\u20133", C),  # en dash
    ("Final answer: -3", I("3"), "-3", W),
    ("Final answer: $1,000", I("1000"), "$1,000", C),
    (r"Final answer: \$1,000", I("1000"), r"\$1,000", C),
    ("Final answer: 1{,}000", I("1000"), "1{,}000", C),
    (r"Final answer: 1\,000", I("1000"), r"1\,000", C),
    ("Final answer: 1\u2009000", I("1000"), "1\u2009000", C),
    ("Final answer: １２", I("12"), "１２", C),  # full-width digits
    ("Final answer: 1.5e3", I("1500"), "1.5e3", C),
    (r"Final answer: 1.5 \times 10^{3}", I("1500"), r"1.5 \times 10^{3}", C),
    ("Final answer: 1.5×10^3", I("1500"), "1.5×10^3", C),
    ("Final answer: twelve", I("12"), "twelve", C),
    ("Final answer: twenty-one", I("21"), "twenty-one", C),
    ("Final answer: one hundred and five", I("105"), "one hundred and five", C),
    ("Final answer: 12 or 13", I("12"), "12 or 13", W),  # naive: first number
    ("Final answer: 5 and 6", I("5"), "5 and 6", W),
    ("Final answer: x = 5", I("5"), "x = 5", C),
    ("Final answer: AB = 5 cm", I("5", unit="cm"), "AB = 5 cm", C),
    ("Final answer: 2 + 3 = 5", I("5"), "2 + 3 = 5", C),
    ("Final answer: x = 5 or x = -5", I("-5"), "x = 5 or x = -5", W),  # naive: after the last '='
    ("Final answer: 1e99999", I("1"), "1e99999", W),
    ("Final answer: 5 m", I("5", unit="cm"), "5 m", W),  # naive: strips any unit
    ("Final answer: 5 cm", I("5", unit="cm"), "5 cm", C),
    ("Final answer: 5cm", I("5", unit="cm"), "5cm", C),
    ("Final answer: 5", I("5", unit="cm"), "5", C),
    ("Final answer: 5 m^2", I("5", unit="m^2"), "5 m^2", C),
    ("Final answer: 5 m²", I("5", unit="m^2"), "5 m²", C),
    ("Final answer: 5 km", I("5", unit="m^2"), "5 km", W),
    ("Final answer: 90°", I("90"), "90°", C),
    (r"Final answer: $90^\circ$", I("90"), r"$90^\circ$", C),
    (r"Final answer: 90^{\circ}", I("90"), r"90^{\circ}", C),
    ("Final answer: 90 degrees", I("90"), "90 degrees", C),
    ("Final answer: 50%", I("50"), "50%", C),
    (r"Final answer: 50\%", I("50"), r"50\%", C),
    ("Final answer: 50 percent", I("50"), "50 percent", C),
    ("Final answer: 5 million", I("5000000"), "5 million", C),
    ("Final answer: approximately 12", I("12"), "approximately 12", C),
    ("Final answer: ≈ 12", I("12"), "≈ 12", C),
    ("Final answer: about 12 apples", I("12"), "about 12 apples", C),
    (r"Final answer: \frac{24}{2}", I("12"), r"\frac{24}{2}", C),
    ("Final answer: 24/2", I("12"), "24/2", C),
    ("Final answer: 12 (since 3 × 4 = 12)", I("12"), "12 (since 3 × 4 = 12)", W),  # strict: no explanations
    ("Final answer: 7 apples and 2 pears", I("7"), "7 apples and 2 pears", W),
    ("Final answer: 0", I("0"), "0", C),
    ("Final answer: zero", I("0"), "zero", C),
    ("Final answer: none", I("0"), "none", W),
    ("Final answer: 1000000", I("1000000"), "1000000", C),
    ("Final answer: 1e6", I("1000000"), "1e6", C),
    ("Final answer: seven", I("8"), "seven", W),
    ("Final answer: 2^{3}", I("8"), "2^{3}", C),  # closed form, evaluated by math-verify
    (r"Final answer: \sqrt{64}", I("8"), r"\sqrt{64}", C),
    (r"Final answer: \sqrt{65}", I("8"), r"\sqrt{65}", W),
    # ---- floats: rounding to precision, optional relative tolerance
    ("Final answer: 1.2", FL("1.2", 1), "1.2", C),
    ("Final answer: 1.20", FL("1.2", 1), "1.20", C),
    ("Final answer: 1.24", FL("1.2", 1), "1.24", C),  # naive: string compare
    ("Final answer: 1.25", FL("1.2", 1), "1.25", W),  # half-up: 1.3
    ("Final answer: 1.15", FL("1.2", 1), "1.15", C),  # binary round(1.15, 1) is 1.1
    ("Final answer: 12", FL("1.2", 1), "12", W),  # naive: digits only
    ("Final answer: 1.3", FL("1.2", 1), "1.3", W),
    ("Final answer: 6/5", FL("1.2", 1), "6/5", C),
    ("Final answer: 1.2 m", FL("1.2", 1), "1.2 m", C),
    ("Final answer: 1/2", FL("0.5", 1), "1/2", C),
    (r"Final answer: \frac{1}{2}", FL("0.5", 1), r"\frac{1}{2}", C),
    (r"Final answer: \dfrac{1}{2}", FL("0.5", 1), r"\dfrac{1}{2}", C),
    (r"Final answer: -\frac{1}{2}", FL("-0.5", 1), r"-\frac{1}{2}", C),
    ("Final answer: .5", FL("0.5", 1), ".5", C),
    ("Final answer: 50%", FL("0.5", 1), "50%", C),
    (r"Final answer: \pi", FL("3.14", 2), r"\pi", C),
    ("Final answer: 3.1416", FL("3.14", 2), "3.1416", C),
    ("Final answer: 3.1", FL("3.14", 2), "3.1", W),
    (r"Final answer: \sqrt{2}", FL("1.41", 2), r"\sqrt{2}", C),
    (r"Final answer: 2\sqrt{2}", FL("1.41", 2), r"2\sqrt{2}", W),
    ("Final answer: 2.5", FL("2.5"), "2.5", C),
    ("Final answer: 2.50", FL("2.5"), "2.50", C),
    ("Final answer: 2.54", FL("2.5"), "2.54", C),  # no precision: the gold's own decimals
    ("Final answer: 2.4", FL("2"), "2.4", W),
    ("Final answer: 2.0", FL("2"), "2.0", C),
    ("Final answer: 101", FL("100.0", 1), "101", W),
    ("Final answer: 101", FL("100.0", 1), "101", C, {"rel_tol": 0.02}),
    ("Final answer: 103", FL("100.0", 1), "103", W, {"rel_tol": 0.02}),
    ("Final answer: \u22120.5", FL("-0.5", 1), "\u22120.5", C),
    ("Final answer: 0.5", FL("-0.5", 1), "0.5", W),
    ("Final answer: 1.5e0", FL("1.5", 1), "1.5e0", C),
    ("Final answer: 1.2", FL(1.2, 1.0), "1.2", C),  # precision stored as a float
    ("Final answer: 0.33", FL("0.333", 3), "0.33", W),
    ("Final answer: 1/3", FL("0.333", 3), "1/3", C),
    # ---- lists: element-wise, in order
    ("Final answer: [1, 2, 3]", L("[1, 2, 3]"), "[1, 2, 3]", C),
    ("Final answer: 1, 2, 3", L("[1, 2, 3]"), "1, 2, 3", C),
    ("Final answer: (1,2,3)", L("[1, 2, 3]"), "(1,2,3)", C),
    ("Final answer: [1, 3, 2]", L("[1, 2, 3]"), "[1, 3, 2]", W),  # order matters
    ("Final answer: [1, 2]", L("[1, 2, 3]"), "[1, 2]", W),
    ("Final answer: 1, 2 and 3", L("[1, 2, 3]"), "1, 2 and 3", C),
    ("Final answer: [1.0, 2, 3]", L("[1, 2, 3]"), "[1.0, 2, 3]", C),
    ("Final answer: [1, 2, 3]", L([1, 2, 3]), "[1, 2, 3]", C),  # a JSON list answer
    ("Final answer: Red, Blue", L(["red", "blue"]), "Red, Blue", C),
    ("Final answer: blue, red", L(["red", "blue"]), "blue, red", W),
    ("Final answer: [1/2, 1.25]", L("[0.5, 1.25]", precision=2), "[1/2, 1.25]", C),
    ("Final answer: 12", L("[1, 2]"), "12", W),
    # ---- text: case, articles, punctuation, number words
    ("Final answer: Quarter past.", T("quarter past"), "Quarter past", C),
    ("Final answer: quarter-past", T("quarter past"), "quarter-past", C),
    ("Final answer: 2", T("two"), "2", C),
    ("Final answer: two", T("2"), "two", C),
    ("Final answer: Cat", T("the cat"), "Cat", C),
    ("Final answer: Yes", T("Yes"), "Yes", C),
    ("Final answer: yes, it is", T("Yes"), "yes, it is", C),
    ("Final answer: No", T("Yes"), "No", W),
    ("Final answer: sey", T("Yes"), "sey", W),  # naive: math-verify reads both as E*s*y
    ("Final answer: Yes and no", T("Yes"), "Yes and no", W),
    ("Final answer: on", T("no"), "on", W),  # naive: math-verify: n*o == o*n
    ("Final answer: BA", T("AB"), "BA", W),  # naive: math-verify: A*B == B*A
    ("Final answer: AB", T("AB"), "AB", C),
    ("Final answer: five", T("5"), "five", C),
    (r"Final answer: \sqrt{3}/2", T(r"\frac{\sqrt{3}}{2}"), r"\sqrt{3}/2", C),
    (r"Final answer: \frac{1}{2}", T(r"\frac{\sqrt{3}}{2}"), r"\frac{1}{2}", W),
    ("Final answer: x^2 + 1", T("x^2+1"), "x^2 + 1", C),
    ("Final answer: 1+x^2", T("x^2+1"), "1+x^2", C),
    ("Final answer: x-1", T("x+1"), "x-1", W),  # naive: normalisation that drops operators
    ("Final answer: -3", T("3"), "-3", W),
    (r"Final answer: $2\pi$", T(r"2\pi"), r"$2\pi$", C),
    ("Final answer: Paris", T("paris"), "Paris", C),
    ("Final answer: London", T("paris"), "London", W),
    # ---- mathvista scoring: the official rules (lenient extraction)
    ("Final answer: 12.7", I("12"), "12.7", C, MV),  # official: str(int(float(x)))
    ("Final answer: 12.7", I("12"), "12.7", W),  # default
    ("Final answer: 1.25", FL("1.2", 1), "1.25", C, MV),  # official: round(1.25, 1) == 1.2
    ("Final answer: 1.2", FL("1.20", 2), "1.2", W, MV),  # official: compared as strings
    ("Final answer: 1.2", FL("1.20", 2), "1.2", C),  # default
    ("Final answer: [1, 2]", L("[1.0, 2.0]"), "[1, 2]", W, MV),
    ("Final answer: [1, 2]", L("[1.0, 2.0]"), "[1, 2]", C),
    ("Final answer: 1, 2", L("[1, 2]"), "1, 2", C, MV),
    ("Final answer: 8/12", FRAC, "8/12", C, MV),  # official: the nearest choice by edit distance
    ("Final answer: 8/12", FRAC, "8/12", W),  # default: names no choice
    ("Final answer: (B)", FRAC, "(B)", C, MV),
    ("Final answer: (B) 5/11", FRAC, "(B) 5/11", C, MV),  # official: the first (X) wins
    ("Final answer: yes", T("Yes"), "yes", W, MV),  # official: free-form text compared exactly
    ("", FRAC, None, FF, MV),
    ("7", I("7"), "7", C, MV),  # lenient by default in this mode
    ("Final answer: 1.24", FL("1.2", 1.0), "1.24", C, MV),
    ("Final answer: 1,000", I("1000"), "1,000", C, MV),
    ("Final answer: E", LETTERS, "E", C, MV),
    ("Final answer: quarter past eight", CLOCK, "quarter past eight", W, MV),
    ("Final answer: 8/11", MC("B", ["5/11", "8/11", "3/11"]), "8/11", C, MV),
    # ---- factorials: '!' after a digit is a factorial, in the gold and in responses (n <= 99 evaluated)
    ("Final answer: 6", T("3!"), "6", C),
    ("Final answer: 3", T("3!"), "3", W),  # naive: normalisation drops the '!'
    ("Final answer: 3!", T("3!"), "3!", C),
    ("Final answer: 6", I("3!"), "6", C),
    ("Final answer: 3", I("3!"), "3", W),
    (r"\boxed{3!}", I("6"), "3!", C),
    (r"\boxed{3!}", I("3"), "3!", W),  # naive: trailing punctuation stripped
    ("Final answer: 0!", I("1"), "0!", C),
    ("Final answer: 5! = 120", I("120"), "5! = 120", C),
    ("Final answer: 5! ways", I("120"), "5! ways", C),
    ("Final answer: 99!", I(str(math.factorial(99))), "99!", C),  # exact, 156 digits
    ("Final answer: 99!", I(str(math.factorial(99) + 1)), "99!", W),
    ("Final answer: 150!", T("150!"), "150!", C),  # past the cap: text, never computed
    ("Final answer: 150", T("150!"), "150", W),
    ("Final answer: 150!", I("150"), "150!", W),
    ("Final answer: 100000!", I("5"), "100000!", W),
    ("Final answer: 6", MC("3!", ["3!", "4!", "5!"]), "6", C),
    ("Final answer: (A) 6", MC("3!", ["3!", "4!", "5!"]), "(A) 6", C),
    ("Final answer: 3", MC("3!", ["3!", "4!", "5!"]), "3", W),
    ("Final answer: [3!, 4!]", L("[6, 24]"), "[3!, 4!]", C),
    ("Final answer: 3!", I("6"), "3!", C, MV),
    ("Final answer: 3!", T("3!"), "3!", C, MV),
    ("Final answer: 6", T("3!"), "6", W, MV),  # official: free-form text compared exactly
    ("Final answer: 3", T("3!"), "3", W, MV),
    # ---- integers exactly, at any size (floats lose them past 2**53)
    (f"Final answer: {BIG}", I(BIG), BIG, C),
    ("Final answer: 9007199254740992", I(BIG), "9007199254740992", W),  # naive: float() equal
    ("Final answer: 9,007,199,254,740,993", I(BIG), "9,007,199,254,740,993", C),
    (f"Final answer: {BIG}", I(int(BIG)), BIG, C),  # a JSON integer answer
    ("Final answer: 9007199254740992", I(int(BIG)), "9007199254740992", W),
    ("Final answer: 123456789012345678901234567890", I("123456789012345678901234567891"),
     "123456789012345678901234567890", W),
    ("Final answer: 1e20", I("100000000000000000000"), "1e20", C),
    ("Final answer: 1e20", I("100000000000000000001"), "1e20", W),
    ("Final answer: 1e3", I("1000"), "1e3", C),
    ("Final answer: 2^{60}", I("1152921504606846976"), "2^{60}", C),  # math-verify, an exact integer
    ("Final answer: 2^{60}", I("1152921504606846977"), "2^{60}", W),
    (f"Final answer: {BIG}", FL(BIG), BIG, C),
    ("Final answer: 9007199254740992", FL(BIG), "9007199254740992", W),  # integers, even in a float record
    ("Final answer: 12345678901234567.46", FL("12345678901234567.5", 1), "12345678901234567.46", C),
    ("Final answer: 12345678901234567.44", FL("12345678901234567.5", 1), "12345678901234567.44", W),
    ("Final answer: 9,007,199,254,740,993", MC(BIG, ["9007199254740992", BIG]), "9,007,199,254,740,993", C),
    (f"Final answer: [{BIG}, 1]", L(f"[{BIG}, 1]"), f"[{BIG}, 1]", C),
    ("Final answer: [9007199254740992, 1]", L(f"[{BIG}, 1]"), "[9007199254740992, 1]", W),
    (f"Final answer: {BIG}", I(BIG), BIG, C, MV),  # mmpo: a plain integer is compared exactly
    ("Final answer: 9007199254740992", I(BIG), "9007199254740992", W, MV),
    ("Final answer: 1e3", I("1000"), "1e3", C, MV),
    # ---- more than 26 choices: A..Z, then AA, AB, ... (as prompts label them)
    ("Final answer: AB", MANY, "AB", C),
    ("Final answer: (AB)", MANY, "(AB)", C),
    ("Final answer: (AB) c27", MANY, "(AB) c27", C),
    ("Final answer: AA", MANY, "AA", W),
    ("Final answer: (AB) c26", MANY, "(AB) c26", W),  # the label contradicts its text
    ("Final answer: c27", MANY, "c27", C),
    ("Final answer: B", MANY, "B", W),
    ("Final answer: ab", MANY, "ab", W),  # two-letter labels are capitals
    ("Final answer: c27", MC("AB", [f"c{i}" for i in range(30)]), "c27", C),  # gold given as its label
    ("Final answer: AB", MC("AB", ["AB", "BC", "CA"]), "AB", C),  # up to 26 choices "AB" is only text
    ("Final answer: AB", MC("BC", ["AB", "BC", "CA"]), "AB", W),
    ("Final answer: (AB)", MANY, "(AB)", C, MV),
    ("Final answer: AB", MANY, "AB", C, MV),
    ("Final answer: c27", MANY, "c27", C, MV),
    ("Final answer: (AA)", MANY, "(AA)", W, MV),
    # ---- duplicate choices: a letter whose text is the gold text is right, and so is the text
    ("Final answer: A", DUP, "A", C),
    ("Final answer: C", DUP, "C", C),  # naive: only the first "2" is the answer
    ("Final answer: B", DUP, "B", W),
    ("Final answer: 2", DUP, "2", C),  # naive: "names several choices"
    ("Final answer: (C) 2", DUP, "(C) 2", C),
    ("Final answer: (B) 2", DUP, "(B) 2", W),
    ("Final answer: 2.0", DUP, "2.0", C),
    ("Final answer: A", MC("C", ["2", "3", "2"]), "A", C),  # gold given as a letter: its text counts
    ("Final answer: C", MC("Yes", ["Yes", "No", "yes."]), "C", C),  # the same normalised text
    ("Final answer: B", MC("1/2", ["1/2", "0.5", "3"]), "B", W),  # equal values, different texts: distinct
    ("Final answer: C", DUP, "C", C, MV),
    ("Final answer: 2", DUP, "2", C, MV),
    ("Final answer: B", DUP, "B", W, MV),
    # ---- an integer answer with choices is a 0-based index (ScienceQA), when that is unambiguous
    ("Final answer: B", SQA, "B", C),
    ("Final answer: shark", SQA, "shark", C),
    ("Final answer: A", SQA, "A", W),  # naive: "1" compared as text
    ("Final answer: whale", SQA, "whale", W),
    ("Final answer: A", {**SQA, "answer": 0}, "A", C),
    ("Final answer: C", {"answer": 2, "choices": ["a", "b", "c"]}, "C", C),  # question_type inferred
    ("Final answer: 3", MC(3, ["2", "3", "4"]), "3", C),  # 3 is no index of 3 choices: the text "3"
    ("Final answer: B", MC(3, ["2", "3", "4"]), "B", C),
    ("Final answer: B", MC(1, ["0", "1", "2"]), "B", C),  # index 1 is the text "1": no ambiguity
    ("Final answer: B", SQA, "B", C, MV),
    ("Final answer: A", SQA, "A", W, MV),
    ("Final answer: shark", SQA, "shark", C, MV),
    # ---- intervals: the brackets are the answer (open and closed ends), ends by value
    ("Final answer: (-2, 1]", T("(-2,1]"), "(-2, 1]", C),
    ("Final answer: (-2,1)", T("(-2,1]"), "(-2,1)", W),  # naive: brackets dropped as punctuation
    ("Final answer: [-2,1]", T("(-2,1]"), "[-2,1]", W),  # naive
    ("Final answer: [-2,1)", T("(-2,1]"), "[-2,1)", W),  # both ends swapped
    ("Final answer: -2, 1", T("(-2,1]"), "-2, 1", W),  # no brackets: not an interval
    (r"\boxed{\left( -2, 1 \right]}", T("(-2,1]"), r"\left( -2, 1 \right]", C),
    ("Final answer: $(-2, 1.0]$", T("(-2,1]"), "$(-2, 1.0]$", C),  # ends by value
    (r"\boxed{[\frac{1}{2}, 3)}", T("[0.5,3)"), r"[\frac{1}{2}, 3)", C),
    (r"\boxed{(-\infty, 3]}", T(r"(-\infty,3]"), r"(-\infty, 3]", C),
    (r"\boxed{(-\infty, 3)}", T(r"(-\infty,3]"), r"(-\infty, 3)", W),
    ("Final answer: (-∞, 3]", T(r"(-\infty,3]"), "(-∞, 3]", C),
    (r"\boxed{(-\infty, -3]}", T(r"(-\infty,3]"), r"(-\infty, -3]", W),
    (r"\boxed{[0, +\infty)}", T(r"[0,\infty)"), r"[0, +\infty)", C),
    (r"\boxed{(-\infty, 0)}", T(r"[0,\infty)"), r"(-\infty, 0)", W),  # the sign of infinity counts
    (r"\boxed{(-\infty,1)\cup(2,\infty)}", T(r"(-\infty,1)\cup(2,\infty)"), r"(-\infty,1)\cup(2,\infty)", C),
    (r"\boxed{(2,\infty) \cup (-\infty,1)}", T(r"(-\infty,1)\cup(2,\infty)"), r"(2,\infty) \cup (-\infty,1)", C),
    (r"\boxed{(-\infty,1]\cup(2,\infty)}", T(r"(-\infty,1)\cup(2,\infty)"), r"(-\infty,1]\cup(2,\infty)", W),
    (r"\boxed{(-\infty,1)}", T(r"(-\infty,1)\cup(2,\infty)"), r"(-\infty,1)", W),  # one piece of two
    (r"\boxed{x \in [\sqrt{2}, 3)}", T(r"[2^{1/2}, 3)"), r"x \in [\sqrt{2}, 3)", C),  # ends through math-verify
    # a point is a pair in round brackets: it still matches itself, its value, a bare pair
    ("Final answer: (1, 2)", T("(1, 2)"), "(1, 2)", C),
    ("Final answer: (1,2)", T("(1, 2)"), "(1,2)", C),
    ("Final answer: (0.5, 2)", T("(1/2, 2)"), "(0.5, 2)", C),
    ("Final answer: 1, 2", T("(1, 2)"), "1, 2", C),
    ("Final answer: (2, 1)", T("(1, 2)"), "(2, 1)", W),
    ("Final answer: [1, 2]", T("(1, 2)"), "[1, 2]", W),  # square brackets: a closed interval
    ("Final answer: [-2, 1]", T("[-2, 1]"), "[-2, 1]", C),  # a closed interval as text (MathVerse's records)
    ("Final answer: (-2, 1)", T("[-2, 1]"), "(-2, 1)", W),
    # a list answer keeps its element-wise rule
    ("Final answer: (-2, 1)", L("[-2, 1]"), "(-2, 1)", C),
    # interval option texts are told apart by their brackets
    ("Final answer: B", IV, "B", C),
    ("Final answer: A", IV, "A", W),  # naive: all four options read as "-2 1"
    ("Final answer: (-2, 1]", IV, "(-2, 1]", C),
    ("Final answer: (-2, 1)", IV, "(-2, 1)", W),
    ("Final answer: [-2, 1.0)", IV, "[-2, 1.0)", W),  # by value: option D
    ("Final answer: (-2, 1.0]", IV, "(-2, 1.0]", C),
    ("Final answer: (B) (-2, 1]", IV, "(B) (-2, 1]", C),
    ("Final answer: (A) (-2, 1]", IV, "(A) (-2, 1]", W),  # the letter contradicts its text
    ("Final answer: -2, 1", IV, "-2, 1", W),  # names no interval
    # ---- safety: every input gets a verdict
    ("Final answer: 9^9^9^9^9", I("5"), "9^9^9^9^9", W),
    (r"\boxed{9^{9^{9^{9}}}}", T("5"), "9^{9^{9^{9}}}", W),
    (r"\boxed{2^{2^{30}}}", I("5"), "2^{2^{30}}", W),
    (r"\boxed{100000! + 1}", I("5"), "100000! + 1", W),
    ("Final answer: 5\x00", I("5"), "5\x00", W),
    (r"Final answer: \frac{1}{0}", I("5"), r"\frac{1}{0}", W),
    ("Final answer: " + "(" * 400 + "5" + ")" * 400, I("5"), "(" * 400 + "5" + ")" * 400, W),
    ("Final answer: " + "1" * 5000, I("5"), None, FF),  # an "answer" over 1000 characters
]


def _ids():
    return [f"{i:03d}-{c[0][:30]!r}" for i, c in enumerate(CASES)]


def test_table_is_large_enough():
    assert len(CASES) >= 200


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_case(case):
    response, record, extracted, verdict = case[:4]
    opts = case[4] if len(case) > 4 else {}
    v = check_answer(response, record, **opts)
    assert (v.extracted, v.verdict) == (extracted, verdict), v.reason
    lenient = opts.get("lenient", opts.get("scoring") == "mathvista")
    assert extract_answer(response, lenient=lenient) == extracted


@pytest.mark.parametrize("record, message", [
    ({"answer": 1, "choices": ["1", "2", "3"], "question_type": "multi_choice"},
     "1 is both a choice's text and the index of choice '2'"),
    ({"answer": 5, "choices": ["a", "b", "c"], "question_type": "multi_choice"}, "index 5 is out of range for 3"),
    ({"answer": -1, "choices": ["a", "b", "c"]}, "index -1 is out of range"),
    ({"answer": "c1", "choices": [f"c{i}" for i in range(703)]}, "703 choices; at most 702"),
])
def test_records_refused_rather_than_misjudged(record, message):
    from mmpo.errors import InputError

    for scoring in ("default", "mathvista"):
        with pytest.raises(InputError, match=message) as err:
            check_answer("Final answer: B", record, scoring=scoring)
        assert err.value.field in ("answer", "choices")


def test_702_choices_have_labels_up_to_zz():
    choices = [f"c{i}" for i in range(702)]
    assert check_answer("Final answer: ZZ", MC("c701", choices)).verdict == C
    assert check_answer("Final answer: (BA)", MC("c52", choices)).verdict == C  # 26 + 26: B, then A
    assert check_answer("Final answer: AZ", MC("c52", choices)).verdict == W  # AZ is c51
