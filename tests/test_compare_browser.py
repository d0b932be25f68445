"""The compare page in Debian's Chromium (Playwright, from file://): defaults, ratios, URL state,
the index's link to it, low-fidelity groups and escaping."""

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

import render.build
from browser_pages import redraw
from site_fixtures import ENVIRONMENT, H200, ONLY_ON_CPU, XSS_NAME, built_site, fill_two_environments, throughput_group

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def smoke_site(tmp_path_factory):
    """The same data with the CPU's throughput group marked low-fidelity (a smoke sweep's), as the payload marks it."""

    def marking(data):
        payload = index_payload(data)
        throughput_group(payload, ENVIRONMENT["device"])["low_fidelity"] = True
        return payload

    index_payload = render.build.index_payload
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render.build, "index_payload", marking)
        return built_site(tmp_path_factory.mktemp("compare-smoke"), fill_two_environments)


def payload_of(site: Path) -> dict:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((site / "compare.html").read_text(), "html.parser")
    return json.loads(soup.select_one("script#leaderboard-data").string)


def keys(site: Path) -> dict:
    """Throughput group keys: the CPU, the H200 and the RTX 4090 reference."""
    payload = payload_of(site)
    return {
        name: throughput_group(payload, device)["key"]
        for name, device in (("cpu", ENVIRONMENT["device"]), ("h200", H200["device"]), ("reference", "RTX 4090"))
    }


def open_compare(page, site: Path, **state) -> None:
    page.goto(site.joinpath("compare.html").as_uri() + ("#" + urlencode(state) if state else ""))
    page.wait_for_selector("body[data-drawn]")


def hash_state(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).fragment).items()}


def table(page) -> list[dict]:
    """Rows of the comparison table: model, settings, ratio text."""
    return page.eval_on_selector_all(
        "#comparison-body tr",
        """rows => rows.map(r => ({
        model: r.dataset.model, settings: r.dataset.settings, ratio: r.querySelector('td.ratio').textContent}))""",
    )


def ratio_of(page, model: str, settings: str) -> str:
    return next(r["ratio"] for r in table(page) if r["model"] == model and r["settings"] == settings)


EAGER = "infer · eager · fp32 · NCHW · 160 px"


def test_defaults_to_the_two_largest_groups_and_draws_without_errors(page, two_env_site):
    open_compare(page, two_env_site)
    groups = sorted(
        (g for g in payload_of(two_env_site)["groups"] if g["kind"] == "throughput"), key=lambda g: -g["rows"]
    )
    assert page.input_value("#c-kind") == "throughput"
    assert (page.input_value("#c-a"), page.input_value("#c-b")) == (groups[0]["key"], groups[1]["key"])
    assert hash_state(page) == {"a": groups[0]["key"], "b": groups[1]["key"], "kind": "throughput"}
    assert re.match(r"\d+ settings? in both, \d+ only in A, \d+ only in B", page.inner_text("#c-counts"))
    assert page.problems == []


def test_ratio_counts_chart_and_sorting_of_two_environments(page, two_env_site):
    k = keys(two_env_site)
    open_compare(page, two_env_site, a=k["cpu"], b=k["h200"])
    assert ratio_of(page, "test_resnet", EAGER) == "2.000×"
    assert page.inner_text("#c-counts") == "10 settings in both, 2 only in A, 1 only in B · median B / A 2.000×"
    assert ONLY_ON_CPU not in {r["model"] for r in table(page)}
    assert table(page)[0]["model"] == "test_vit" and table(page)[0]["ratio"] == "3.000×"  # by ratio, largest first
    redraw(page, lambda: page.click("#comparison-head th[data-key='ratio'] button"))
    assert (
        page.get_attribute("th[data-key='ratio']", "aria-sort") == "ascending"
        and table(page)[-1]["model"] == "test_vit"
    )
    assert hash_state(page)["dir"] == "asc"
    chart = page.evaluate("""() => { const c = document.getElementById('chart-compare');
        return {names: c.data.map(t => t.name), models: c.data.flatMap(t => t.customdata || []), x: c.layout.xaxis.type}; }""")
    assert chart["names"][-1] == "B = A" and {"eager", "default"} <= set(chart["names"])
    assert "test_resnet" in chart["models"] and chart["x"] == "log"
    assert page.problems == []


def test_changing_b_and_the_filters_updates_the_url(page, two_env_site):
    k = keys(two_env_site)
    open_compare(page, two_env_site, a=k["cpu"], b=k["h200"])
    redraw(page, lambda: page.select_option("#c-b", k["reference"]))
    assert hash_state(page)["b"] == k["reference"] and hash_state(page)["a"] == k["cpu"]
    redraw(page, lambda: page.select_option("#c-b", k["h200"]))
    redraw(page, lambda: page.select_option("#c-mode", "default"))
    assert hash_state(page)["mode"] == "default"
    assert {r["settings"].split(" · ")[1] for r in table(page)} == {"default"}
    assert page.inner_text("#c-counts").startswith("5 settings in both, 1 only in A, 0 only in B")
    assert page.problems == []


def test_a_shared_link_restores_the_view(page, browser, two_env_site):
    k = keys(two_env_site)
    open_compare(page, two_env_site)
    redraw(page, lambda: page.select_option("#c-a", k["cpu"]))
    redraw(page, lambda: page.select_option("#c-b", k["h200"]))
    redraw(page, lambda: page.select_option("#c-bench", "infer"))
    shared, shown = page.url, table(page)
    other = browser.new_page()
    other.goto(shared)
    other.wait_for_selector("body[data-drawn]")
    assert (other.input_value("#c-a"), other.input_value("#c-b"), other.input_value("#c-bench")) == (
        k["cpu"],
        k["h200"],
        "infer",
    )
    assert table(other) == shown
    other.close()


def test_the_index_link_carries_its_throughput_group(page, two_env_site):
    k = keys(two_env_site)
    page.goto(two_env_site.joinpath("index.html").as_uri())
    page.wait_for_selector("body[data-drawn]")
    redraw(page, lambda: page.select_option("#f-tg", k["h200"]))
    page.click("#compare-link")
    page.wait_for_url("**/compare.html#*")
    page.wait_for_selector("body[data-drawn]")
    assert page.input_value("#c-kind") == "throughput" and page.input_value("#c-a") == k["h200"]
    assert page.input_value("#c-b") not in ("", k["h200"])
    assert page.problems == []


def test_a_script_model_name_renders_as_text(page, two_env_site):
    k = keys(two_env_site)
    open_compare(page, two_env_site, a=k["cpu"], b=k["h200"])
    assert page.inner_text(f"#comparison-body tr[data-model='{XSS_NAME}'] td:first-child a") == XSS_NAME
    assert page.problems == []  # no alert() dialog, no error


def test_a_low_fidelity_group_is_labelled_and_never_a_default(page, smoke_site):
    k = keys(smoke_site)
    open_compare(page, smoke_site)
    assert (page.input_value("#c-a"), page.input_value("#c-b")) == (k["reference"], k["h200"])
    apart = "o => o.parentElement.tagName === 'OPTGROUP' && o.parentElement.label.startsWith('Low fidelity')"
    assert page.eval_on_selector(f"#c-b option[value='{k['cpu']}']", apart)
    assert not page.eval_on_selector(f"#c-b option[value='{k['h200']}']", apart)
    redraw(page, lambda: page.select_option("#c-b", k["cpu"]))  # listed, so it can still be chosen
    assert hash_state(page)["b"] == k["cpu"]
    assert page.problems == []
