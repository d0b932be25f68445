"""The built site in Debian's Chromium (Playwright, from file://): filters, URL state, sorting, links, escaping."""

import pytest

from browser_pages import chart_models, column, open_index, redraw, table_models
from site_fixtures import TINY_MODELS, XSS_NAME

pytestmark = pytest.mark.browser
GROUPNORM = {n for n, facts in TINY_MODELS.items() if facts[1] == "GroupNorm"}


def test_loads_from_file_url_without_console_errors(page, site):
    open_index(page, site)
    assert page.problems == []
    assert set(table_models(page)) >= set(TINY_MODELS)
    assert chart_models(page, "chart-params") >= set(TINY_MODELS)
    assert page.evaluate(
        "document.getElementById('chart-params').data.some(t => t.name === 'Pareto frontier' && t.x.length > 0)"
    )


def test_norm_filter_leaves_exactly_its_models_in_table_and_charts(page, site):
    open_index(page, site)
    assert set(table_models(page)) > GROUPNORM
    redraw(page, lambda: page.select_option("#f-norm", "GroupNorm"))
    assert set(table_models(page)) == GROUPNORM
    assert set(column(page, "norm")) == {"GroupNorm"}
    assert chart_models(page, "chart-params") == GROUPNORM
    assert chart_models(page, "chart-speed") == GROUPNORM
    assert "norm=GroupNorm" in page.url
    assert page.problems == []


def test_the_url_reproduces_a_filtered_view(page, browser, site):
    open_index(page, site)
    redraw(page, lambda: page.select_option("#f-family", "EfficientNet"))
    redraw(page, lambda: page.click("#leaderboard-head th[data-key='params'] button"))
    shared_url, shown = page.url, table_models(page)
    assert "family=EfficientNet" in shared_url and "sort=params" in shared_url
    other = browser.new_page()
    other.goto(shared_url)
    other.wait_for_selector("body[data-drawn]")
    assert table_models(other) == shown
    assert other.input_value("#f-family") == "EfficientNet"
    other.close()
    redraw(page, lambda: page.click("#reset"))
    assert "#" not in page.url and len(table_models(page)) > len(shown)


def test_sorting_by_a_column_both_ways(page, site):
    open_index(page, site)
    redraw(page, lambda: page.click("#leaderboard-head th[data-key='params'] button"))
    params = [float(v) for v in column(page, "params (M)")]
    assert params == sorted(params, reverse=True)
    assert page.get_attribute("th[data-key='params']", "aria-sort") == "descending"
    redraw(page, lambda: page.click("#leaderboard-head th[data-key='params'] button"))
    params = [float(v) for v in column(page, "params (M)")]
    assert params == sorted(params) and params[0] < params[-1]


def test_hardware_source_switch_never_mixes_sources(page, site):
    open_index(page, site)
    assert set(column(page, "source")) <= {"measured / measured", "measured"}
    reference = page.eval_on_selector(
        "#f-tg", "s => [...s.options].find(o => o.textContent.startsWith('reference')).value"
    )
    redraw(page, lambda: page.select_option("#f-tg", reference))
    headers = page.eval_on_selector_all("#leaderboard-head th", "ths => ths.map(t => t.textContent.trim())")
    assert "max-autotune infer/s" in headers  # the reference's compile modes replace the measured ones
    assert all(s in ("measured / reference", "reference", "measured") for s in column(page, "source"))


def test_sorting_by_source_groups_rows_by_what_they_hold(page, site):
    open_index(page, site)
    reference = page.eval_on_selector(
        "#f-tg", "s => [...s.options].find(o => o.textContent.startsWith('reference')).value"
    )
    redraw(page, lambda: page.select_option("#f-tg", reference))
    redraw(page, lambda: page.click("#leaderboard-head th[data-key='source'] button"))
    rank = {"measured / reference": 3, "measured": 2, "reference": 1}  # accuracy from measured, speed from reference
    ranks = [rank[s] for s in column(page, "source")]
    assert ranks == sorted(ranks, reverse=True) and len(set(ranks)) > 1


def test_a_model_page_opens_from_the_table_and_links_back(page, site):
    open_index(page, site, "#q=test_vit")
    page.click("#leaderboard-body tr[data-model='test_vit'] a")
    page.wait_for_url("**/models/test_vit.html")
    assert page.inner_text("h1") == "test_vit"
    page.click("#back-link")
    page.wait_for_selector("body[data-drawn]")
    assert set(table_models(page)) == {"test_vit"}  # the model by its exact name, not a search
    assert page.input_value("#f-q") == "" and page.inner_text("#f-model-name") == "test_vit"


def test_a_script_model_name_renders_as_text(page, site):
    open_index(page, site, "#q=alert")
    assert set(table_models(page)) == {XSS_NAME}  # at 160 and 192 px
    assert page.inner_text("#leaderboard-body tr td:first-child a") == XSS_NAME
    assert chart_models(page, "chart-params") == {XSS_NAME}
    page.click("#leaderboard-body tr td:first-child a")
    page.wait_for_selector("h1")
    assert page.inner_text("h1") == XSS_NAME
    assert page.problems == []  # no alert() dialog, no error


@pytest.mark.slow
def test_full_timm_site_loads_and_switches_hardware_without_errors(page, timm_site):
    _, site = timm_site
    open_index(page, site)
    assert len(chart_models(page, "chart-params")) > 800
    cpu = page.eval_on_selector("#f-tg", "s => [...s.options].find(o => o.textContent.includes('i7-12700H')).value")
    redraw(page, lambda: page.select_option("#f-tg", cpu))
    assert page.input_value("#f-prec") == page.eval_on_selector("#f-prec", "s => s.options[0].value")
    assert page.inner_text("#f-prec option:checked") == "fp32"  # the CPU files are fp32: the setting follows the group
    assert page.problems == []


ROWS_AT_EACH_EVENT = """(hash) => new Promise((resolve) => {
    const rows = () => [...document.querySelectorAll('#leaderboard-body tr')].map((r) => r.dataset.model);
    const seen = {};
    document.addEventListener('leaderboard:shown', () => { seen.shown = rows(); }, {once: true});
    document.addEventListener('leaderboard:drawn', () => { seen.drawn = rows(); resolve(seen); }, {once: true});
    location.hash = hash;
})"""


def test_an_off_screen_table_is_redrawn_after_the_charts_and_an_on_screen_one_with_them(browser, site):
    context = browser.new_context(viewport={"width": 1400, "height": 500})  # the table starts far below
    page = context.new_page()
    open_index(page, site)
    before = set(table_models(page))
    seen = page.evaluate(ROWS_AT_EACH_EVENT, "q=test_vit")
    assert set(seen["shown"]) == before != {"test_vit"}  # charts on screen first, the rows not yet
    assert set(seen["drawn"]) == {"test_vit"}
    page.locator("#leaderboard").scroll_into_view_if_needed()
    page.wait_for_function("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")
    seen = page.evaluate(ROWS_AT_EACH_EVENT, "q=test_resnet")
    assert set(seen["shown"]) == set(seen["drawn"]) == {"test_resnet"}  # in view: drawn before the charts
    context.close()
