import pytest

from mmpo.data.prompts import build_prompt, strip_short_answer_instructions


def test_cot_prompt_strips_short_answer_instruction():
    rec = {"question": "How many bars? Answer the question using a single word or phrase."}
    p = build_prompt(rec, "cot")
    assert p.startswith("Your task is to answer the question below.")
    assert "single word" not in p and p.endswith("How many bars?")


def test_direct_prompt_lists_choices_and_asks_for_letter():
    rec = {"question": "Which bar is tallest?", "choices": ["red", "blue"]}
    p = build_prompt(rec, "direct")
    assert "(A) red\n(B) blue" in p and p.endswith("given choices directly.")


def test_unknown_style():
    with pytest.raises(ValueError, match="style"):
        build_prompt({"question": "q"}, "chatty")


def test_strip_keeps_other_text():
    assert strip_short_answer_instructions("Hint: x.\nQ? Answer directly.") == "Hint: x.\nQ?"


def test_strip_mathvista_hints():
    hint = ("Hint: Please answer the question requiring an integer answer and provide the final value, "
            "e.g., 1, 2, 3, at the end.\nQuestion: How many cubes?")
    assert strip_short_answer_instructions(hint) == "Question: How many cubes?"
    mc = ("Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\n"
          "Question: Which is larger?")
    assert strip_short_answer_instructions(mc) == "Question: Which is larger?"
