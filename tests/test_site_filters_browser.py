"""The index's filters in Debian's Chromium (from file://): ranges, the toy-model switch, search with
-negation, all restored from the URL; sorting with missing values; the empty state; picking models
to compare; what "This view" downloads carry."""

import csv
import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from browser_pages import chart_models, column, open_index, redraw, table_models
from site_fixtures import TINY_MODELS, XSS_NAME

pytestmark = pytest.mark.browser
TOYS = {n for n in TINY_MODELS if n.startswith("test_")}


def hash_state(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).fragment).items()}


def type_range(page, key: str, low: str, high: str) -> None:
    """Type a range's bounds as a user does; the view redraws once they settle."""

    def typing():
        page.fill(f"#f-{key}-min", low)
        page.fill(f"#f-{key}-max", high)

    redraw(page, typing)


def test_a_params_range_keeps_only_models_inside_it_in_table_and_charts(page, site):
    open_index(page, site)
    type_range(page, "params", "0.4", "0.55")
    inside = {n for n, facts in TINY_MODELS.items() if 0.4 <= facts[2] / 1e6 <= 0.55}
    assert set(table_models(page)) == inside and inside == {"test_resnet", "test_vit", "test_nfnet"}
    assert chart_models(page, "chart-params") == inside
    assert hash_state(page)["params"] == "0.4..0.55"
    assert page.problems == []


def test_open_ended_ranges_on_top1_and_throughput(page, site):
    open_index(page, site, "#top1=49..")
    assert set(table_models(page)) == {"test_vit", "test_nfnet"}  # 50.1/50.9 and 49.4/50.2
    assert page.input_value("#f-top1-min") == "49" and page.input_value("#f-top1-max") == ""
    # samples/s: the fastest shown mode (default = 1.4 x eager); rows without throughput leave
    open_index(page, site, "#sps=..2700")
    assert set(table_models(page)) == {"test_efficientnet_gn", "test_nfnet", XSS_NAME}  # default: 2,660, 2,100, 700
    assert all(size == "160" for size in column(page, "img size"))  # the 192 px rows have no throughput


def test_every_filter_comes_back_from_a_shared_url(page, browser, site):
    open_index(page, site)
    type_range(page, "gmacs", "0.01", "")
    redraw(page, lambda: page.check("#f-toys"))
    redraw(page, lambda: page.fill("#f-q", "family -vit"))
    shared, shown = page.url, table_models(page)
    assert shown == [XSS_NAME]  # the only model that is no toy; at 160 px, where its GMACs are known
    other = browser.new_page()
    open_index(other, site, "#" + urlsplit(shared).fragment)
    assert table_models(other) == shown
    assert other.is_checked("#f-toys") and other.input_value("#f-q") == "family -vit"
    assert other.input_value("#f-gmacs-min") == "0.01"
    other.close()


def test_hiding_the_toy_models_and_negated_search(page, site):
    open_index(page, site)
    redraw(page, lambda: page.check("#f-toys"))
    assert set(table_models(page)) == {XSS_NAME}
    assert hash_state(page)["toys"] == "hide"
    redraw(page, lambda: page.uncheck("#f-toys"))
    redraw(page, lambda: page.fill("#f-q", "-efficientnet -alert"))
    assert set(table_models(page)) == TOYS - {"test_efficientnet", "test_efficientnet_gn"}


def test_sorting_by_params_keeps_rows_without_a_figure_last_both_ways(page, site):
    open_index(page, site)
    for _ in range(2):  # descending, then ascending
        redraw(page, lambda: page.click("#leaderboard-head th[data-key='gmacs'] button"))
        gmacs = column(page, "GMACs")
        filled = [g for g in gmacs if g]
        assert filled and gmacs[: len(filled)] == filled  # the 192 px rows (no GMACs at that size) come last


def test_an_unknown_filter_value_says_what_emptied_the_view_and_clears_it(page, site):
    open_index(page, site, "#norm=Nope")
    assert table_models(page) == []
    assert page.is_visible("#empty-state")
    assert "norm “Nope”" in page.inner_text("#empty-state .empty-text")
    redraw(page, lambda: page.click("#empty-state .empty-clear"))
    assert "norm" not in hash_state(page) and set(table_models(page)) >= TOYS
    assert page.is_hidden("#empty-state")
    assert page.problems == []


def test_the_empty_state_names_the_filter_that_left_nothing_and_resets(page, site):
    open_index(page, site, "#family=ViT&params=5..")
    assert "params (M) from 5 to any" in page.inner_text("#empty-state .empty-text")
    redraw(page, lambda: page.click("#empty-state .empty-reset"))
    assert "#" not in page.url and page.is_hidden("#empty-state")


def test_picked_models_go_to_the_models_page_in_the_url(page, site):
    open_index(page, site)
    assert page.is_hidden("#pick-bar")
    redraw(page, lambda: page.check("#leaderboard-body tr[data-model='test_vit'] input.pick"))
    redraw(page, lambda: page.check(f"#leaderboard-body tr[data-model='{XSS_NAME}'] input.pick"))
    assert page.inner_text("#pick-bar .pick-names") == f"test_vit, {XSS_NAME}"
    # a model's two rows (160 and 192 px) share one pick
    assert page.eval_on_selector_all("tr[data-model='test_vit'] input.pick", "boxes => boxes.every(b => b.checked)")
    page.click("#pick-bar .pick-link")
    page.wait_for_url(lambda url: "/models.html#models=" in url)
    page.wait_for_selector("body[data-drawn]")
    assert page.eval_on_selector_all("#m-facts-head th a", "links => links.map(a => a.textContent)") == [
        "test_vit",
        XSS_NAME,
    ]
    assert page.problems == []


def download(page, button: str) -> str:
    with page.expect_download() as info:
        page.click(button)
    return open(info.value.path()).read()


def test_view_downloads_carry_every_setting_of_the_view(page, site):
    open_index(page, site, "#family=ViT")
    records = list(csv.DictReader(io.StringIO(download(page, "#view-csv"))))
    assert {r["model"] for r in records} == {"test_vit"}
    row = next(r for r in records if r["img_size"] == "160")
    assert (row["bench"], row["precision"], row["layout"], row["dataset"]) == ("infer", "fp32", "NCHW", "imagenet")
    assert (row["eager_samples_per_sec"], row["eager_batch_size"], row["default_compile_s"]) == ("2800", "256", "21.5")
    assert "Test CPU" in row["throughput_source"] and "Test CPU" in row["accuracy_source"]
    as_json = json.loads(download(page, "#view-json"))
    assert {r["bench"] for r in as_json} == {"infer"} and len(as_json) == len(records)
