"""Every page on a phone (390×844) and a desktop (1400×900) in Debian's Chromium, from file://: no
horizontal page overflow, charts stacked on the phone under their wrapping legend, accessible chart
names and text alternatives, table captions, a sticky table header and a visible keyboard focus."""

from pathlib import Path

import pytest

from site_fixtures import XSS_NAME

pytestmark = pytest.mark.browser
PHONE, DESKTOP = (390, 844), (1400, 900)
PAGES = [
    "index.html",
    "models/test_vit.html",
    "compare.html",
    "methodology.html",
    "models.html#models=test_vit,test_resnet",
]


def open_at(browser, site: Path, path: str, size: tuple):
    """A page at a viewport size, once drawn (pages with a script count their draws in body[data-drawn])."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.goto(site.joinpath(path.split("#")[0]).as_uri() + ("#" + path.split("#")[1] if "#" in path else ""))
    if page.query_selector("script[src$='lb-view.js'], script[src$='lb-compare.js'], script[src$='lb-models.js']"):
        page.wait_for_selector("body[data-drawn]")
    return page


@pytest.fixture
def at(browser):
    pages = []

    def opener(site, path, size):
        pages.append(open_at(browser, site, path, size))
        return pages[-1]

    yield opener
    for page in pages:
        page.context.close()


def box(page, selector: str) -> dict:
    return page.eval_on_selector(selector, "e => e.getBoundingClientRect().toJSON()")


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("path", PAGES)
def test_no_page_is_wider_than_the_screen(at, site, path, size):
    page = at(site, path, size)
    assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
    assert page.problems == []


def test_phone_charts_stack_full_width_below_their_wrapping_legend(at, site):
    page = at(site, "index.html", PHONE)
    legend, params, speed = box(page, "#chart-legend"), box(page, "#chart-params"), box(page, "#chart-speed")
    assert speed["top"] >= params["bottom"] and params["right"] <= PHONE[0]
    assert legend["bottom"] <= params["top"] and legend["right"] <= PHONE[0]
    entries = page.eval_on_selector_all(
        "#chart-legend li", "items => items.map((i) => i.getBoundingClientRect().right)"
    )
    assert len(entries) >= 5 and max(entries) <= PHONE[0]  # the entries wrap onto more lines, none off screen
    assert page.evaluate("document.getElementById('chart-params')._fullLayout.showlegend") is False


def test_desktop_charts_sit_side_by_side_under_one_legend(at, site):
    page = at(site, "index.html", DESKTOP)
    legend, params, speed = box(page, "#chart-legend"), box(page, "#chart-params"), box(page, "#chart-speed")
    assert speed["top"] == params["top"] and speed["left"] >= params["right"]
    assert legend["bottom"] <= params["top"] and legend["right"] > speed["left"]  # above both, spanning them
    assert page.get_attribute("#chart-legend", "aria-label") == "Legend of both charts"


@pytest.mark.parametrize(
    "path, chart", [("index.html", "chart-params"), ("index.html", "chart-speed"), ("compare.html", "chart-compare")]
)
def test_charts_have_a_name_and_a_text_alternative(at, site, path, chart):
    page = at(site, path, DESKTOP)
    assert page.get_attribute(f"#{chart}", "role") == "img"
    name = page.eval_on_selector(
        f"#{chart}", "e => document.getElementById(e.getAttribute('aria-labelledby')).textContent"
    )
    assert name and name == page.inner_text(f"figure:has(#{chart}) figcaption")
    text = page.eval_on_selector(
        f"#{chart}", "e => document.getElementById(e.getAttribute('aria-describedby')).textContent"
    )
    assert " points" in text and " to " in text  # series, point counts and axis extents


def test_the_text_alternative_follows_the_filters(at, site):
    page = at(site, "index.html", DESKTOP)
    described = "() => document.getElementById('chart-params-text').textContent"
    assert "12 points" in page.evaluate(described)  # 6 models at 160 and 192 px
    drawn = page.get_attribute("body", "data-drawn")
    page.select_option("#f-family", "ViT")
    page.wait_for_function(f"document.body.dataset.drawn !== '{drawn}'")
    assert "2 points" in page.evaluate(described) and "test_vit" in page.evaluate(described)


def test_the_text_alternative_names_models_as_they_are(at, site):
    page = at(site, "index.html#q=alert", DESKTOP)
    assert XSS_NAME in page.text_content("#chart-params-text")  # text, never parsed as markup
    assert page.problems == []


@pytest.mark.parametrize(
    "path, table",
    [
        ("index.html", "leaderboard"),
        ("compare.html", "comparison"),
        ("models.html#models=test_vit,test_resnet", "m-throughput"),
    ],
)
def test_tables_have_captions(at, site, path, table):
    page = at(site, path, PHONE)
    assert len(page.text_content(f"#{table} > caption")) > 20  # (innerText is empty while the box is off screen)


def test_the_table_header_stays_in_view_while_rows_scroll(at, site):
    page = at(site, "index.html", PHONE)
    reference = page.eval_on_selector(
        "#f-ag", "s => [...s.options].find(o => o.textContent.startsWith('reference')).value"
    )
    drawn = page.get_attribute("body", "data-drawn")
    page.select_option("#f-ag", reference)  # 13 models at two sizes: longer than the phone's table box
    page.wait_for_function(f"document.body.dataset.drawn !== '{drawn}'")
    scroller = "#leaderboard-body >> xpath=ancestor::div[contains(@class, 'table-scroll')]"
    # as a reader scrolls down to it (off screen, the table is not laid out)
    page.eval_on_selector(
        scroller,
        "e => new Promise(done => { e.scrollIntoView(); requestAnimationFrame(() => requestAnimationFrame(done)); })",
    )
    assert page.eval_on_selector(scroller, "e => e.scrollHeight > e.clientHeight")
    page.eval_on_selector(scroller, "e => { e.scrollTop = 300; }")
    assert abs(box(page, "#leaderboard-head th")["top"] - box(page, scroller)["top"]) <= 1
    assert box(page, "#leaderboard-body tr")["top"] < box(page, scroller)["top"]  # the first rows scrolled away


def test_keyboard_focus_on_a_sort_button_is_visible(at, site):
    page = at(site, "index.html", DESKTOP)
    page.focus("#view-json")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('th') !== null")
    outline = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; })()"
    )
    assert outline[0] != "none" and float(outline[1].rstrip("px")) >= 2


def drawn_trace_types(page) -> list:
    """[asked, drawn] trace type per trace of every chart on the page."""
    page.wait_for_selector(".js-plotly-plot .main-svg")
    return page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(gd =>
        gd._fullData.map(t => [gd.data[t.index].type || 'scatter', t.type]))""")


def test_the_vendored_plotly_bundle_draws_every_trace_type_the_index_asks_for(at, site):
    """A trace type missing from the partial bundle would be drawn silently as a plain SVG scatter
    (the compare page draws only `scatter`, which the index draws too)."""
    types = drawn_trace_types(at(site, "index.html", DESKTOP))
    assert {asked for asked, _ in types} >= {"scatter", "scattergl"}
    assert all(asked == drawn for asked, drawn in types)


def test_the_vendored_bundle_draws_history_charts_with_error_bars(browser, history_page_url):
    page = browser.new_page()
    page.goto(history_page_url)
    types = drawn_trace_types(page)
    assert types and all(asked == drawn for asked, drawn in types)
    assert page.evaluate("document.getElementById('history-chart-0')._fullData[0].error_y.visible")
    page.close()
