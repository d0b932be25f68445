"""A model page's history in Debian's Chromium (Playwright, from file://): one chart per setting, every run in
its table, the flagged run marked. Chromium is launched by test_site_browser's fixtures."""
import pytest

from db.schema import open_db
from db.store import save_measured
from render.build import build_site
from test_history import OLD_TORCH, run
from test_site_browser import browser, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def model_page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("history")
    db = open_db(folder / "lb.db")
    save_measured(db, "throughput", run(100.0, env=OLD_TORCH))
    save_measured(db, "throughput", run(110.0))
    save_measured(db, "throughput", run(80.0))  # a regression on the same environment
    save_measured(db, "throughput", run(300.0, bench="train"))
    save_measured(db, "throughput", run(330.0, bench="train"))  # +10%: an improvement
    build_site(db, folder / "site")
    return (folder / "site" / "models" / "test_vit.html").as_uri()


def test_each_setting_gets_a_chart_and_a_table_of_every_run(page, model_page):
    page.goto(model_page)
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
    text = page.eval_on_selector("#history-chart-0", "e => document.getElementById(e.getAttribute('aria-describedby')).textContent")
    assert text == "cpu: Test CPU: 3 points."  # one series (categorical axes: no extents)
    assert page.problems == []
