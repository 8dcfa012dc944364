"""The inspector as a user sees it: the generated site opened from disk in headless chromium.

Checks what the page shows, not how it is built: images load, a filter narrows the list, search
finds a pair (and a word inside a rejected chain), pages turn across chunks, predictions show
direct and CoT side by side, the gained/lost view lists the right pids, the report's plot loads.
"""

from __future__ import annotations

import re

import pytest

from mmpo.inspector.run import write_inspector


@pytest.fixture(scope="module")
def site(small_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    write_inspector([small_run.root], out, chunk_size=4)   # several chunks for 13 pairs
    return out


@pytest.fixture
def page(browser, site):
    page = browser.new_page()
    page.set_default_timeout(10_000)   # a page that never shows what is waited for fails in seconds
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda req: errors.append(f"network request {req.url}")
            if not req.url.startswith("file://") else None)
    page.errors = errors

    def open_view(fragment: str):
        page.goto((site / "index.html").as_uri() + "#" + fragment)
        page.wait_for_selector("#view :is(.card, .panel, .report, .error, #count)")
        return page

    page.open = open_view
    yield page
    assert errors == [], errors   # no script error, no network
    page.close()


def wait_text(page, selector, text):
    """Wait until `selector` shows exactly `text` (the view may be redrawing meanwhile)."""
    page.wait_for_function("([sel, text]) => document.querySelector(sel)?.textContent === text",
                           arg=[selector, text])


def wait_value(page, selector, value):
    page.wait_for_function("([sel, v]) => document.querySelector(sel)?.value === v", arg=[selector, value])


def shown_pids(page):
    page.wait_for_function("document.querySelector('#list') && !(document.querySelector('#list .status')"
                           "?.textContent === 'Loading…')")
    return page.eval_on_selector_all("#list .card", "cards => cards.map(c => c.dataset.pid)")


def image_loaded(page, selector):
    page.wait_for_function("sel => { const i = document.querySelector(sel); return i && i.complete; }",
                           arg=selector)
    return page.eval_on_selector(selector, "img => img.naturalWidth")


def test_pairs_page_image_filters_search_and_pages(page, small_run):
    page.open("pairs")
    assert page.text_content("#count") == "13 pairs"
    assert len(shown_pids(page)) == 13
    assert image_loaded(page, "#list .card img") == 64   # synth images are 64 px wide
    first = page.locator("#list .card").first
    assert first.locator(".chosen .verdict").text_content() == "correct"
    assert first.locator(".rejected .verdict").text_content() == "incorrect"
    assert first.locator(".question > pre").text_content() == small_run.records[0]["question"]

    # A filter narrows the list: the format subset holds the 3 format pairs.
    page.select_option("#f-subset", "digits_pairs_vqa_format_rules")
    wait_text(page, "#count", "3 of 13 pairs")
    assert all(v == "format_failure" for v in page.locator("#list .rejected .verdict").all_text_contents())
    assert sorted(set(shown_pids(page))) == [small_run.pids[1], small_run.pids[5]]
    page.select_option("#f-subset", "")
    page.select_option("#f-bucket", "51-75%")
    wait_text(page, "#count", "3 of 13 pairs")
    assert set(shown_pids(page)) == {small_run.pids[3]}
    page.select_option("#f-bucket", "")

    # Search finds a pair by pid, and a word of a rejected chain once "in texts too" is ticked.
    page.fill("#search", small_run.pids[3])
    wait_text(page, "#count", "3 of 13 pairs")
    assert set(shown_pids(page)) == {small_run.pids[3]}
    page.fill("#search", "zebra")
    wait_text(page, "#count", "0 of 13 pairs")
    page.check("#deep")
    wait_text(page, "#count", "1 of 13 pairs")
    assert shown_pids(page) == [small_run.pids[5]]
    assert "zebra" in page.locator("#list .rejected pre").text_content()
    assert "q=zebra" in page.url and "deep=1" in page.url   # the state is in the link

    # Reopening the link shows the same list.
    page.open(page.url.split("#", 1)[1])
    wait_text(page, "#count", "1 of 13 pairs")
    # A link with a filter value the data does not have shows everything, not an empty list.
    page.open("pairs?subset=no-such-subset")
    wait_text(page, "#count", "13 pairs")
    assert page.input_value("#f-subset") == ""


def test_samples_grouped_by_prompt_with_pass_rate(page, small_run):
    page.open("samples?page=0")
    assert page.text_content("#count") == "6 prompts"
    cards = page.locator("#list .card")
    assert cards.count() == 6 and shown_pids(page) == small_run.pids
    assert re.search(r"2/4 \(50%\)", cards.nth(0).locator(".pass").text_content())
    assert cards.nth(0).locator(".resp").count() == 4
    assert cards.nth(1).locator(".resp .verdict").all_text_contents() == [
        "correct", "format_failure", "incorrect", "incorrect"]
    page.select_option("#f-bucket", "100%")
    wait_text(page, "#count", "1 of 6 prompts")
    assert shown_pids(page) == [small_run.pids[2]]


def test_predictions_side_by_side_and_filters(page, small_run):
    page.open("predictions?eval=1")
    assert page.input_value("#eval") == "mpo"
    card = page.locator("#list .card").first
    assert card.locator(".side h4").all_inner_texts()[0].startswith("direct")
    assert card.locator(".mode-cot .verdict").text_content() == "incorrect"
    assert card.locator(".mode-direct .verdict").text_content() == "correct"
    assert image_loaded(page, "#list .card img") == 64
    page.select_option("#f-v_cot", "correct")
    wait_text(page, "#count", "4 of 6 questions")
    assert shown_pids(page) == small_run.test_pids[1:5]
    page.select_option("#eval", "base")   # another eval opens unfiltered
    wait_value(page, "#eval", "base")
    wait_text(page, "#count", "6 questions")
    # base answers the same in both modes except where CoT alone is right (records 1 and 2).
    page.check("#x-differ")
    wait_text(page, "#count", "2 of 6 questions")
    assert shown_pids(page) == small_run.test_pids[1:3]


def test_gained_and_lost_list_the_right_pids(page, small_run):
    page.open("gained")
    page.wait_for_selector("#gained")
    assert page.input_value("#ga") == "base" and page.input_value("#gb") == "mpo"
    assert page.input_value("#gm") == "cot"
    gained = page.eval_on_selector_all("#gained li[data-pid]", "li => li.map(x => x.textContent)")
    lost = page.eval_on_selector_all("#lost li[data-pid]", "li => li.map(x => x.textContent)")
    assert gained == small_run.gained and lost == small_run.lost
    assert "6 questions in both (CoT): 2 gained" in page.text_content("#gl-summary")
    # Swapping the two evals swaps the lists.
    page.select_option("#ga", "mpo")
    page.wait_for_function("document.querySelector('#gl-summary')?.textContent.includes('wrong in mpo, right in mpo')")
    page.select_option("#gb", "base")
    page.wait_for_function("document.querySelector('#gl-summary')?.textContent.includes('wrong in mpo, right in base')")
    assert page.eval_on_selector_all("#gained li[data-pid]", "li => li.map(x => x.textContent)") == small_run.lost
    # A pid links to that question's predictions.
    page.click(f"#gained li[data-pid='{small_run.lost[0]}'] a")
    wait_text(page, "#count", "1 of 6 questions")
    assert shown_pids(page) == small_run.lost


def test_report_and_overview(page):
    page.open("report")
    assert image_loaded(page, ".report figure img") > 100
    assert page.locator(".report table").count() >= 1
    assert "Direct vs chain-of-thought accuracy" in page.text_content(".report")
    page.open("overview")
    assert page.locator("#tabs a").all_text_contents() == [
        "Overview", "Pairs (13)", "Samples (6)", "Predictions (2)", "Gained / lost", "Report"]


@pytest.fixture(scope="module")
def bench_site(small_run, bench_eval, tmp_path_factory):
    import _bench_eval
    import mmpo.benchmarks as benchmarks

    out = tmp_path_factory.mktemp("bench-site")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(benchmarks, "get_benchmark", lambda name: _bench_eval.FakeReader())
        write_inspector([bench_eval, small_run.root / "eval" / "base"], out)
    return out


def test_a_benchmark_eval_shows_its_metric_groups_and_fields(browser, bench_site):
    page = browser.new_page()
    page.set_default_timeout(10_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto((bench_site / "index.html").as_uri() + "#predictions?eval=0")
    page.wait_for_selector("#bench")
    assert page.text_content("#bench-title") == "POPE (pope, rules)"
    assert page.text_content("#bench-primary") == "f1 (%): direct 40.0% (n=6) · CoT 80.0% (n=6)"
    by = page.eval_on_selector_all("#bench .bench-by tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    assert by == [["adversarial", "3", "0.0%", "0.0%"], ["random", "3", "50.0%", "100.0%"]]
    assert "accuracy" in page.text_content("#bench .bench-metrics")
    wait_text(page, "#count", "6 questions")
    card = page.locator("#list .card").first
    assert card.locator(".mode-direct dl.fields dt").all_text_contents() == ["gold", "pred", "subset"]
    assert card.locator(".mode-direct dl.fields dd").all_text_contents() == ["yes", "yes", "random"]
    assert card.locator(".mode-direct .score").text_content() == "score 1"
    # The breakdown is a filter; the last adversarial question has an unparsed judge reply in CoT.
    page.select_option("#f-g_subset", "adversarial")
    wait_text(page, "#count", "3 of 6 questions")
    last = page.locator("#list .card").nth(2)
    assert last.locator(".mode-cot .flag").text_content() == "judge reply unparsed"
    assert last.locator(".mode-cot .score").text_content() == "score –"
    assert "I cannot decide." in last.locator(".mode-cot dl.fields").text_content()
    # The overview names the benchmark and its primary metric next to the accuracies.
    page.goto((bench_site / "index.html").as_uri() + "#overview")
    page.wait_for_selector("#evals")
    cells = page.eval_on_selector_all("#evals tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    assert cells[0][:7] == ["pope-mpo", "POPE", "6", "50.0%", "83.3%", "40.0% f1", "80.0% f1"]
    assert cells[1][1] == "–" and cells[1][5:7] == ["–", "–"]
    assert errors == [], errors
    page.close()
