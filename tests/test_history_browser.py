"""A model page's history in Debian's Chromium (Playwright, from file://): one chart per setting, every run in
its table, the flagged run marked (conftest's history_page_url)."""

import pytest

pytestmark = pytest.mark.browser


def test_each_setting_gets_a_chart_and_a_table_of_every_run(page, history_page_url):
    page.goto(history_page_url)
    page.wait_for_selector("#history-chart-1 .main-svg")
    captions = page.eval_on_selector_all(".history-setting figcaption", "f => f.map(c => c.textContent)")
    assert captions == ["throughput: infer · eager · fp32 · 160 px", "throughput: train · eager · fp32 · 160 px"]
    traces = page.evaluate("() => document.getElementById('history-chart-0').data.map(t => [t.name, t.y])")
    assert traces == [["cpu: Test CPU", [100, 110, 80]]]  # one device: one line, in version then time order
    flags = page.eval_on_selector_all(".history-table tbody tr", "rows => rows.map(r => r.className)")
    assert flags == ["", "", "regression", "", "improvement"]
    assert "▼ regression -27.3%" in page.text_content(".history-table tr.regression")
    # readable without the picture, as the index's charts are (lb-a11y.js)
    assert page.get_attribute("#history-chart-0", "role") == "img"
    text = page.eval_on_selector(
        "#history-chart-0", "e => document.getElementById(e.getAttribute('aria-describedby')).textContent"
    )
    assert text == "cpu: Test CPU: 3 points."  # one series (categorical axes: no extents)
    assert page.problems == []
