"""The models page (models.html#models=a,b): chosen models side by side across sources, environments,
settings and compile modes, in Debian's Chromium from file://; reached from the index's picks (see
test_site_filters_browser) and from a model page."""

from urllib.parse import unquote

import pytest
from bs4 import BeautifulSoup

from site_fixtures import XSS_NAME

pytestmark = pytest.mark.browser


def open_models(page, site, hash_: str) -> None:
    page.goto(site.joinpath("models.html").as_uri() + hash_)
    page.wait_for_selector("body[data-drawn]")


def redrawn(page, action) -> None:
    drawn = page.get_attribute("body", "data-drawn")
    action()
    page.wait_for_function(f"document.body.dataset.drawn !== '{drawn}'")


def columns(page, table: str) -> list[str]:
    return page.eval_on_selector_all(f"#{table}-head th", "ths => ths.map(t => t.textContent)")


def rows(page, table: str) -> list:
    """[setting, [cell text per model]] per row, in order (group heading rows: [label, []])."""
    return page.eval_on_selector_all(
        f"#{table}-body tr",
        """trs => trs.map(tr => [
        tr.firstElementChild.textContent, [...tr.querySelectorAll('td')].slice(1).map(td => td.textContent)])""",
    )


def first(table: list, setting: str) -> list:
    return next(cells for name, cells in table if name == setting)


def test_two_models_side_by_side_across_environments_and_modes(page, site):
    open_models(page, site, "#models=test_vit,test_resnet")
    assert columns(page, "m-throughput") == ["setting", "test_vit", "test_resnet"]
    table = rows(page, "m-throughput")
    groups = [name for name, cells in table if not cells]
    assert len(groups) == 2 and groups[0].startswith("measured") and groups[1].startswith("reference")
    assert first(table, "infer · eager · fp32 · NCHW · 160 px") == ["2800", "3300 1.18×"]
    assert first(table, "train · max-autotune · amp · NCHW · fast-norm · 160 px")[0] == "87,520"
    best = page.eval_on_selector_all("#m-throughput-body strong", "bold => bold.map(b => b.textContent)")
    assert "3300 1.18×" in best and "87,520" in best  # the faster model of each row
    assert first(rows(page, "m-facts"), "norm") == ["LayerNorm", "BatchNorm"]
    accuracy = rows(page, "m-accuracy")  # measured first, then the reference
    assert first(accuracy, "imagenet · 192 px") == ["50.9 (r160_in1k)", "48.4 (r160_in1k) 0.95×"]
    assert [cells for name, cells in accuracy if name == "imagenet · 192 px"][1] == [
        "41.984 (r160_in1k)",
        "42.376 (r160_in1k) 1.01×",
    ]
    assert page.problems == []


def test_models_are_added_and_removed_and_the_url_follows(page, site):
    open_models(page, site, "#models=test_vit")
    assert "one more model" in page.inner_text("#m-empty")
    page.fill("#m-add", "test_nfnet")
    redrawn(page, lambda: page.click("#m-add-button"))
    assert page.url.endswith("#models=test_vit,test_nfnet") and page.is_hidden("#m-empty")
    assert columns(page, "m-facts")[1:] == ["test_vit", "test_nfnet"]
    redrawn(page, lambda: page.click("#m-chosen button[data-remove='test_vit']"))
    assert page.url.endswith("#models=test_nfnet") and columns(page, "m-facts")[1:] == ["test_nfnet"]
    page.fill("#m-add", "resnet9000")
    page.click("#m-add-button")
    assert "No model named “resnet9000”" in page.inner_text("#m-empty")


def test_unknown_names_in_the_url_are_left_out(page, site):
    open_models(page, site, "#models=nope,test_vit,,test_vit")
    assert columns(page, "m-facts")[1:] == ["test_vit"]
    open_models(page, site, "")
    assert page.is_hidden("#m-views") and "two models or more" in page.inner_text("#m-empty")


def test_a_markup_model_name_is_text(page, site):
    open_models(page, site, "#models=test_vit," + "%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert columns(page, "m-facts")[1:] == ["test_vit", XSS_NAME]
    assert page.inner_text("#m-chosen").count(XSS_NAME) == 1
    assert page.problems == []  # no alert() dialog


def test_a_model_page_links_to_the_models_page(page, site):
    link = BeautifulSoup((site / "models" / "test_vit.html").read_text(), "html.parser").select_one(
        "#compare-models-link"
    )
    assert unquote(link["href"]) == "../models.html#models=test_vit"
    page.goto(site.joinpath("models", "test_vit.html").as_uri())
    page.click("#compare-models-link")
    page.wait_for_selector("body[data-drawn]")
    assert columns(page, "m-facts")[1:] == ["test_vit"]


def test_the_models_page_loads_no_chart_library(site):
    soup = BeautifulSoup((site / "models.html").read_text(), "html.parser")
    assert [s["src"] for s in soup.select("script[src]")] == [
        "assets/lb-core.js",
        "assets/lb-pick.js",
        "assets/lb-models.js",
    ]
