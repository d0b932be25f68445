"""The compare page, read through HTML selectors: built beside the index from the same payload,
its default pair of environments, the links to it, and the page when there is nothing to compare."""

import json
from pathlib import Path

from bs4 import BeautifulSoup

from db.store import save_measured
from render.build import build_site
from render.compare import compare_choices
from site_fixtures import ENVIRONMENT, throughput_result


def soup_of(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(), "html.parser")


def embedded(soup: BeautifulSoup, script_id: str):
    return json.loads(soup.select_one(f"script#{script_id}").string)


def test_compare_page_embeds_the_index_payload_and_local_scripts(two_env_site):
    page = soup_of(two_env_site / "compare.html")
    assert embedded(page, "leaderboard-data") == embedded(soup_of(two_env_site / "index.html"), "leaderboard-data")
    for control in ("c-kind", "c-a", "c-b", "c-bench", "c-mode", "c-swap", "chart-compare", "comparison"):
        assert page.select_one(f"#{control}") is not None, control
    sources = [s["src"] for s in page.select("script[src]")]
    assert sources == ["assets/plotly.min.js", "assets/lb-core.js", "assets/lb-a11y.js", "assets/lb-compare.js"]
    assert (two_env_site / "assets" / "lb-compare.js").is_file()


def test_compare_page_defaults_to_the_two_largest_throughput_groups(two_env_site):
    page = soup_of(two_env_site / "compare.html")
    payload = embedded(page, "leaderboard-data")
    choices = embedded(page, "compare-choices")
    largest = sorted((g for g in payload["groups"] if g["kind"] == "throughput"), key=lambda g: -g["rows"])
    assert choices["kind"] == "throughput"
    assert choices["pairs"]["throughput"] == {"a": largest[0]["key"], "b": largest[1]["key"]}
    assert [o["value"] for o in page.select("#c-kind option")] == ["throughput", "accuracy"]


def test_every_page_links_to_the_compare_pages(two_env_site):
    for path, root in (
        ("index.html", ""),
        ("methodology.html", ""),
        ("models/test_vit.html", "../"),
        ("models.html", ""),
    ):
        nav = soup_of(two_env_site / path).select_one(".site-header nav")
        assert nav.select_one(f"a[href='{root}compare.html']").get_text() == "Compare environments"
        assert nav.select_one(f"a[href='{root}models.html']").get_text() == "Compare models"
    link = soup_of(two_env_site / "index.html").select_one("#filters #compare-link")
    assert link["href"] == "compare.html" and link.get_text() == "Compare two environments"


def test_one_environment_says_there_is_nothing_to_compare(db, tmp_path):
    save_measured(db, "throughput", throughput_result("test_vit", "eager", 100.0, ENVIRONMENT))
    page = soup_of(Path(build_site(db, tmp_path / "site")["out"]) / "compare.html")
    assert "Only one environment stored: nothing to compare yet" in page.select_one("#compare-empty").get_text()
    assert page.select_one("script#leaderboard-data") is None and page.select_one("#c-a") is None


def group(kind: str, key: str, rows: int, low_fidelity: bool = False) -> dict:
    return {
        "key": key,
        "kind": kind,
        "rows": rows,
        "collection": key.split("@")[0],
        "label": key,
        "low_fidelity": low_fidelity,
    }


def test_defaults_are_the_two_largest_full_fidelity_groups():
    groups = [
        group("throughput", "measured@small", 10),
        group("throughput", "measured@smoke", 500, low_fidelity=True),
        group("throughput", "timm@4090", 300),
        group("throughput", "measured@h200", 20),
    ]
    assert compare_choices(groups) == {
        "kind": "throughput",
        "pairs": {"throughput": {"a": "timm@4090", "b": "measured@h200"}},
    }


def test_a_low_fidelity_group_is_never_a_default():
    groups = [
        group("throughput", "measured@h200", 20),
        group("throughput", "measured@smoke", 500, low_fidelity=True),
        group("accuracy", "measured@cpu", 5),
        group("accuracy", "timm", 900),
    ]
    # throughput has one full-fidelity group: accuracy is shown first, throughput still offered without a B
    assert compare_choices(groups) == {
        "kind": "accuracy",
        "pairs": {"throughput": {"a": "measured@h200", "b": None}, "accuracy": {"a": "timm", "b": "measured@cpu"}},
    }


def test_no_kind_with_two_groups_means_nothing_to_compare():
    assert compare_choices([group("throughput", "measured@cpu", 5), group("accuracy", "measured@cpu", 5)]) is None
    assert compare_choices([]) is None
