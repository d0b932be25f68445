"""The index's speed-ups, FLOP/s, legends and colours, and the click-through to model pages and back,
in Debian's Chromium at 1400×900 (file://)."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from browser_pages import column, open_index, redraw, table_models

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    yield page
    context.close()


def reference_view(page, site, extra: str = "") -> None:
    """The index from a fresh load, showing the RTX 4090 reference figures (and `extra` settings)."""
    payload = json.loads(
        BeautifulSoup((site / "index.html").read_text(), "html.parser").select_one("script#leaderboard-data").string
    )
    key = next(g["key"] for g in payload["groups"] if g["kind"] == "throughput" and g["collection"] == "reference")
    page.goto("about:blank")
    open_index(page, site, "#" + "&".join(p for p in (f"tg={key}", extra) if p))


def show_speedups(page) -> None:
    """Scroll to the speed-up dot plots, drawn once they are near the viewport, and wait for them."""
    page.locator("#speedups").scroll_into_view_if_needed()
    page.wait_for_selector("#speedups[data-drawn]")


def row_cell(page, model: str, header: str, size: int = 160) -> str:
    sizes, names = column(page, "img size"), table_models(page)
    return next(v for n, s, v in zip(names, sizes, column(page, header)) if n == model and s == str(size))


def traces(page, chart: str) -> list[dict]:
    return page.evaluate(f"""() => document.getElementById('{chart}').data.map(t => ({{
        name: t.name, group: t.legendgroup || null, showlegend: t.showlegend !== false, x: t.x, customdata: t.customdata || [],
        color: t.marker && t.marker.color, symbol: t.marker && t.marker.symbol}}))""")


def point_traces(page, chart: str) -> list[dict]:
    """The traces holding a main chart's points (one per colour, legend group 'results'), not its frontier."""
    return [t for t in traces(page, chart) if t["group"] == "results"]


def point_colours(page, chart: str) -> dict:
    """Model → marker colour of its points in a chart."""
    return {model: t["color"] for t in point_traces(page, chart) for model in t["customdata"]}


def point_position(page, chart: str, model: str) -> tuple[float, float]:
    """Where a model's first point is drawn in the viewport (scrolled to), from the chart's own axes."""
    page.locator(f"#{chart}").scroll_into_view_if_needed()
    return page.evaluate(
        """([id, name]) => {
        const gd = document.getElementById(id), L = gd._fullLayout;
        const t = gd.data.find((t) => (t.customdata || []).includes(name) && t.name !== 'Pareto frontier');
        const i = t.customdata.indexOf(name), box = gd.getBoundingClientRect();
        const xa = L[(t.xaxis || 'x').replace('x', 'xaxis')], ya = L[(t.yaxis || 'y').replace('y', 'yaxis')];
        return [box.left + xa._offset + xa.c2p(xa.d2c(t.x[i])), box.top + ya._offset + ya.c2p(ya.d2c(t.y[i]))];
    }""",
        [chart, model],
    )


def test_reference_speedups_in_the_table_and_the_dot_plots(page, site):
    reference_view(page, site)
    assert row_cell(page, "test_vit", "reduce-overhead vs default") == "1.88×"  # 274,008 / 146,050
    assert row_cell(page, "test_vit", "max-autotune vs default") == "2.06×"
    assert row_cell(page, "test_vit", "% of peak (reduce-overhead)") == "16.6%"  # 27.4 TFLOP/s of 165.2
    assert row_cell(page, "test_vit", "TFLOP/s (reduce-overhead)") == "27.4"
    show_speedups(page)
    for chart in ("chart-speedup-infer", "chart-speedup-train"):
        plotted = traces(page, chart)
        assert [t["name"] for t in plotted] == ["reduce-overhead", "max-autotune"]  # modes as colours, no baseline
        assert len({t["color"] for t in plotted}) == 2
        title = page.evaluate(f"document.getElementById('{chart}').layout.xaxis.title.text")
        assert title == "× default samples/s (no eager figure)"
        assert page.evaluate(f"document.getElementById('{chart}').layout.showlegend") is True
    infer = next(t for t in traces(page, "chart-speedup-infer") if t["name"] == "reduce-overhead")
    assert round(infer["x"][infer["customdata"].index("test_vit")], 2) == 1.88
    assert page.problems == []


def test_the_table_follows_the_bench_there_and_back(page, site):
    reference_view(page, site)
    assert row_cell(page, "test_vit", "default infer/s") == "146,100"
    train = page.eval_on_selector("#f-bench", "s => [...s.options].find(o => o.textContent === 'train').value")
    infer = page.input_value("#f-bench")
    redraw(page, lambda: page.select_option("#f-bench", train))
    assert row_cell(page, "test_vit", "default train/s") == "38,320"
    redraw(page, lambda: page.select_option("#f-bench", infer))  # a setting seen before: figures kept for it
    assert row_cell(page, "test_vit", "default infer/s") == "146,100"


def test_measured_speedups_are_over_eager_and_hover_carries_the_figures(page, site):
    open_index(page, site)
    assert row_cell(page, "test_vit", "default vs eager") == "1.40×"
    show_speedups(page)
    title = page.evaluate("document.getElementById('chart-speedup-infer').layout.xaxis.title.text")
    assert title == "× eager samples/s"
    assert traces(page, "chart-speedup-train") == []  # measured: inference only, said in the empty plot
    hovers = page.evaluate("""() => document.getElementById('chart-speed').data.filter((t) => t.legendgroup === 'results')
        .flatMap((t) => t.customdata.map((m, i) => m === 'test_vit' ? t.text[i] : null)).filter((h) => h)""")
    assert any("default: 3920/s · 1.40× eager · compile 21.5 s · peak 120 MB · 0.392 TFLOP/s" in h for h in hovers)


def legend(page) -> list[dict]:
    """The main charts' shared HTML legend: one dict per entry."""
    return page.evaluate("""() => [...document.querySelectorAll('#chart-legend li')].map((li) => ({
        group: li.dataset.group, text: li.textContent, colour: li.dataset.colour || null, symbol: li.dataset.symbol || null}))""")


def test_every_marker_symbol_and_colour_has_a_legend_entry(page, site):
    reference_view(page, site)
    entries = legend(page)
    symbols = {e["text"]: e["symbol"] for e in entries if e["group"] == "mode"}
    assert list(symbols) == ["default", "reduce-overhead", "max-autotune"]
    drawn_symbols = {symbol for t in point_traces(page, "chart-speed") for symbol in t["symbol"]}
    assert drawn_symbols == set(symbols.values()) and len(set(symbols.values())) == 3
    colours = {e["text"]: e["colour"] for e in entries if e["group"] == "colour"}
    assert {"EfficientNet", "ViT", "ResNet", "NFNet"} <= set(colours) and len(set(colours.values())) == len(colours)
    for chart in ("chart-params", "chart-speed"):  # every point's colour is explained
        assert set(point_colours(page, chart).values()) <= set(colours.values())
    assert [e["text"] for e in entries if e["group"] == "frontier"] == ["Pareto frontier"]
    assert "Pareto frontier" in {t["name"] for t in traces(page, "chart-speed")}
    # each mode's marker in the legend is the shape plotly draws for it
    drawn = page.evaluate("""() => [...document.querySelectorAll('#chart-legend li[data-group=mode] svg')]
        .map((svg) => svg.innerHTML)""")
    assert len(set(drawn)) == 3


def test_the_legend_follows_the_colouring_and_the_modes_in_view(page, site):
    reference_view(page, site)
    redraw(page, lambda: page.select_option("#f-color", "norm"))
    entries = legend(page)
    assert page.text_content("#chart-legend .legend-title") == "norm"
    assert {"LayerNorm", "BatchNorm"} <= {e["text"] for e in entries if e["group"] == "colour"}
    redraw(page, lambda: page.locator("#f-modes label", has_text="max-autotune").locator("input").uncheck())
    assert [e["text"] for e in legend(page) if e["group"] == "mode"] == ["default", "reduce-overhead"]
    assert page.problems == []


def test_a_family_keeps_its_colour_in_both_charts_and_under_filters(page, site):
    open_index(page, site)
    params, speed = point_colours(page, "chart-params"), point_colours(page, "chart-speed")
    assert params["test_efficientnet"] == speed["test_efficientnet"] != params["test_vit"] == speed["test_vit"]
    assert params["test_efficientnet"] == params["test_efficientnet_gn"]  # one family, one colour
    redraw(page, lambda: page.select_option("#f-norm", "LayerNorm"))  # only ViT left in view
    assert point_colours(page, "chart-params")["test_vit"] == params["test_vit"]
    redraw(page, lambda: page.select_option("#f-norm", "GroupNorm"))
    assert point_colours(page, "chart-speed")["test_efficientnet_gn"] == params["test_efficientnet_gn"]


def test_a_points_hover_label_wears_its_legend_colour(page, site):
    warnings = []
    page.on("console", lambda m: warnings.append(m.text) if "color" in m.text.lower() else None)
    open_index(page, site)
    colours = {e["text"]: e["colour"] for e in legend(page) if e["group"] == "colour"}
    for chart in ("chart-params", "chart-speed"):
        x, y = point_position(page, chart, "test_vit")
        page.mouse.move(x, y)
        page.wait_for_selector(f"#{chart} .hovertext")
        fill = page.eval_on_selector(f"#{chart} .hovertext path", "p => getComputedStyle(p).fill")
        assert fill == "rgb({}, {}, {})".format(*(int(colours["ViT"][i : i + 2], 16) for i in (1, 3, 5)))
        page.mouse.move(1, 1)
    assert warnings == [] and page.problems == []  # no "Invalid color specifier" from plotly


def test_a_chart_point_opens_its_model_page_keeping_the_settings(page, site):
    reference_view(page, site, "bench=train")
    show_speedups(page)
    x, y = point_position(page, "chart-speedup-infer", "test_vit")
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_url("**/models/test_vit.html#*")
    state = parse_qs(urlsplit(page.url).fragment)
    assert state["tg"][0].startswith("reference@") and state["bench"] == ["train"]
    back = parse_qs(urlsplit(page.get_attribute("#back-link", "href")).fragment)
    assert back["model"] == ["test_vit"] and back["bench"] == ["train"] and back["tg"] == state["tg"]
    page.click("#back-link")
    page.wait_for_selector("body[data-drawn]")
    assert set(table_models(page)) == {"test_vit"} and page.input_value("#f-bench") == page.eval_on_selector(
        "#f-bench", "s => [...s.options].find(o => o.textContent === 'train').value"
    )


def test_params_chart_points_open_model_pages_too(page, site):
    open_index(page, site)
    x, y = point_position(page, "chart-params", "test_resnet")
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_url("**/models/test_resnet.html")


def test_the_leaderboard_link_finds_exactly_the_model_not_a_substring(page, site):
    reference_view(page, site, "q=test_vit")
    assert set(table_models(page)) == {"test_vit", "test_vit2", "test_vit3"}  # what a search finds
    reference_view(page, site, "model=test_vit")
    assert set(table_models(page)) == {"test_vit"}
    assert page.is_visible("#f-model-only") and page.inner_text("#f-model-name") == "test_vit"
    redraw(page, lambda: page.click("#f-model-clear"))
    assert len(set(table_models(page))) > 3 and not page.is_visible("#f-model-only")


def test_a_model_pages_row_link_opens_the_index_at_that_rows_setting(page, site):
    page.goto(site.joinpath("models", "test_vit.html").as_uri())
    link = page.locator("table.throughput tbody").nth(1).locator("tr:not(.result-group)").nth(4).locator("a.index-link")
    link.click()
    page.wait_for_selector("body[data-drawn]")
    assert set(table_models(page)) == {"test_vit"}
    assert page.inner_text("#f-bench option:checked") == "train" and page.inner_text("#f-prec option:checked") == "amp"
    assert page.eval_on_selector_all(
        "#f-modes input:checked", "boxes => boxes.map(b => b.parentElement.textContent.trim())"
    ) == ["reduce-overhead"]
    assert row_cell(page, "test_vit", "reduce-overhead vs default") == "2.26×"  # 86,652 / 38,321 in training


def test_the_dot_plots_wait_until_they_are_scrolled_near(browser, site):
    context = browser.new_context(viewport={"width": 1400, "height": 400})
    page = context.new_page()
    open_index(page, site)
    page.wait_for_timeout(300)  # time enough for a draw that was not deferred
    assert page.get_attribute("#speedups", "data-drawn") is None and page.evaluate(
        "!document.getElementById('chart-speedup-infer').data"
    )
    show_speedups(page)
    assert [t["name"] for t in traces(page, "chart-speedup-infer")] == ["default"]
    context.close()
