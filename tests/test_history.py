"""History: changes between consecutive runs flagged (status and site), each figure across environments."""

import json

import pytest
from bs4 import BeautifulSoup

from db.history import change_between, change_threshold, latest_changes
from db.report import status_report
from db.store import save_measured
from render.build import build_site
from site_fixtures import OLD_TORCH, throughput_run


@pytest.mark.parametrize(
    "before,after,spread,flag",
    [
        (100.0, 80.0, 0.01, "regression"),
        (100.0, 120.0, 0.01, "improvement"),
        (100.0, 97.0, 0.01, None),  # within the 5% threshold
        (100.0, 90.0, 0.06, None),  # 10% down, but the repeats' ranges overlap: noise, not a change
    ],
)
def test_a_change_is_flagged_beyond_the_threshold_and_the_measured_spread(before, after, spread, flag):
    change = change_between(
        "throughput", throughput_run(before, spread=spread), throughput_run(after, spread=spread), 0.05
    )
    assert (change.direction if change else None) == flag


def test_accuracy_has_no_spread_and_is_judged_on_top1():
    change = change_between("accuracy", {"top1": 40.0}, {"top1": 30.0}, 0.05)
    assert (change.direction, change.percent) == ("regression", "-25.0%")


@pytest.mark.parametrize("value", ["abc", "0", "1.5", "-0.1", None])
def test_a_bad_threshold_is_a_one_line_error_naming_the_fix(value):
    from db.errors import LeaderboardError

    with pytest.raises(LeaderboardError, match=r"Bad change threshold .*--threshold 0.05"):
        change_threshold(value)


def test_status_lists_the_regression_of_a_measurements_latest_run(db):
    save_measured(db, "throughput", throughput_run(100.0))
    save_measured(db, "throughput", throughput_run(80.0))
    save_measured(db, "throughput", throughput_run(500.0, compile_mode="default"))  # one run: nothing to compare
    [change] = latest_changes(db)
    assert (change.direction, change.percent, change.after["samples_per_sec"]) == ("regression", "-20.0%", 80.0)
    report = status_report(db)
    line = next(ln for ln in report.splitlines() if ln.startswith("throughput  test_vit"))
    assert line.split() == [
        "throughput",
        "test_vit",
        "infer",
        "eager",
        "160",
        "100.0",
        "80.0",
        "-20.0%",
        "regression",
        line.split()[-1],
    ]
    assert "changes beyond 5% between a measurement's last two runs" in report
    assert "changes beyond" not in status_report(db, threshold=0.25)


def test_status_threshold_flag_is_checked_at_the_command_line(run_invoke):
    result = run_invoke("status", "--threshold", "abc")
    assert result.returncode == 2  # a bad flag value: a usage error
    assert result.stderr.strip() == (
        "Bad change threshold 'abc': pass a fraction between 0 and 1, e.g. --threshold 0.05."
    )


def model_page(db, tmp_path, name="test_vit") -> BeautifulSoup:
    build_site(db, tmp_path / "site")
    return BeautifulSoup((tmp_path / "site" / "models" / f"{name}.html").read_text(), "html.parser")


def test_model_page_shows_each_figure_across_environments_and_runs(db, tmp_path):
    save_measured(db, "throughput", throughput_run(100.0, env=OLD_TORCH))
    save_measured(db, "throughput", throughput_run(110.0))
    save_measured(db, "throughput", throughput_run(80.0))  # a re-run on the same environment: a regression
    save_measured(db, "throughput", throughput_run(300.0, compile_mode="default"))  # one point: no history
    page = model_page(db, tmp_path)

    [setting] = json.loads(page.select_one("#history-data").string)
    assert setting["title"] == "infer · eager · fp32 · 160 px" and setting["unit"] == "samples/s"
    points = [(p["torch"], p["v"], p["flag"]) for p in setting["points"]]
    assert points == [("2.4.1", 100.0, None), ("2.14.1", 110.0, None), ("2.14.1", 80.0, "regression")]
    [flagged] = page.select("ul.changes li")
    assert flagged["class"] == ["regression"]
    assert "regression -27.3%" in flagged.text and "110.00 → 80.00 samples/s" in flagged.text
    # the results table shows the latest run of each measurement
    shown = [td.text for td in page.select("table.throughput tbody tr td:nth-of-type(7)")]  # samples/s
    assert sorted(shown) == ["100.0", "300.0", "80.0"]


def test_a_model_measured_once_has_no_history_section(db, tmp_path):
    save_measured(db, "throughput", throughput_run(100.0))
    page = model_page(db, tmp_path)
    assert page.select_one("#history") is None and page.select_one("#history-data") is None


def test_the_threshold_comes_from_the_build(db, tmp_path):
    save_measured(db, "throughput", throughput_run(100.0))
    save_measured(db, "throughput", throughput_run(80.0))
    build_site(db, tmp_path / "site", threshold=0.3)
    page = BeautifulSoup((tmp_path / "site" / "models" / "test_vit.html").read_text(), "html.parser")
    assert page.select("ul.changes li") == [] and "more than\n  30%" in page.select_one("#history + p").text
