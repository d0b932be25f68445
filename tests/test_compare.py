"""The compare page, read through HTML selectors: built beside the index from the same payload,
its default pair of environments, the links to it, and the page when there is nothing to compare."""
import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from db.store import save_measured
from render.build import build_site
from render.compare import compare_choices
from test_site_data import ENVIRONMENT, TINY_MODELS, fill_tiny

H200 = {**ENVIRONMENT, "device": "NVIDIA H200", "device_type": "cuda", "cuda": "12.8", "host": "gpuhost"}
ONLY_ON_CPU = "test_nfnet"
SPEED_UP = {"test_vit": 3.0}  # on the H200, against the CPU; every other model: 2.0


def throughput(name: str, mode: str, speed: float, environment: dict, size: int = 160) -> dict:
    return {"model": name, "bench": "infer", "compile_mode": mode, "precision": "fp32", "channels_last": 0,
            "fast_norm": 0, "img_size": size, "batch_size": 256, "samples_per_sec": speed,
            "samples_per_sec_min": speed, "samples_per_sec_max": speed, "compile_s": None,
            "peak_mem_mb": 120.0, "gmacs": 0.05, "environment": environment}


def fill_two_environments(db) -> None:
    """fill_tiny (its CPU and the RTX 4090 reference), plus the same inference settings on an H200:
    2x the CPU's figures (test_vit 3x), test_nfnet missing, and test_resnet at 192 px on the H200 only.
    CPU (A) against H200 (B): 10 settings in both, 2 only in A, 1 only in B."""
    fill_tiny(db)
    for name, (*_, speed) in TINY_MODELS.items():
        if name == ONLY_ON_CPU:
            continue
        for mode, factor in (("eager", 1.0), ("default", 1.4)):
            save_measured(db, "throughput", throughput(name, mode, speed * factor * SPEED_UP.get(name, 2.0), H200))
    save_measured(db, "throughput", throughput("test_resnet", "eager", 5000.0, H200, size=192))


def throughput_group(payload: dict, device: str) -> dict:
    return next(g for g in payload["groups"] if g["kind"] == "throughput" and device in g["label"])


def soup_of(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(), "html.parser")


def embedded(soup: BeautifulSoup, script_id: str):
    return json.loads(soup.select_one(f"script#{script_id}").string)


@pytest.fixture
def two_env_site(db, tmp_path):
    fill_two_environments(db)
    return Path(build_site(db, tmp_path / "site")["out"])


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
    for path, root in (("index.html", ""), ("methodology.html", ""), ("models/test_vit.html", "../"), ("models.html", "")):
        nav = soup_of(two_env_site / path).select_one(".site-header nav")
        assert nav.select_one(f"a[href='{root}compare.html']").get_text() == "Compare environments"
        assert nav.select_one(f"a[href='{root}models.html']").get_text() == "Compare models"
    link = soup_of(two_env_site / "index.html").select_one("#filters #compare-link")
    assert link["href"] == "compare.html" and link.get_text() == "Compare two environments"


def test_one_environment_says_there_is_nothing_to_compare(db, tmp_path):
    save_measured(db, "throughput", throughput("test_vit", "eager", 100.0, ENVIRONMENT))
    page = soup_of(Path(build_site(db, tmp_path / "site")["out"]) / "compare.html")
    assert "Only one environment stored: nothing to compare yet" in page.select_one("#compare-empty").get_text()
    assert page.select_one("script#leaderboard-data") is None and page.select_one("#c-a") is None


def group(kind: str, key: str, rows: int, low_fidelity: bool = False) -> dict:
    return {"key": key, "kind": kind, "rows": rows, "collection": key.split("@")[0], "label": key,
            "low_fidelity": low_fidelity}


def test_defaults_are_the_two_largest_full_fidelity_groups():
    groups = [group("throughput", "measured@small", 10), group("throughput", "measured@smoke", 500, low_fidelity=True),
              group("throughput", "timm@4090", 300), group("throughput", "measured@h200", 20)]
    assert compare_choices(groups) == {"kind": "throughput", "pairs": {"throughput": {"a": "timm@4090", "b": "measured@h200"}}}


def test_a_low_fidelity_group_is_never_a_default():
    groups = [group("throughput", "measured@h200", 20), group("throughput", "measured@smoke", 500, low_fidelity=True),
              group("accuracy", "measured@cpu", 5), group("accuracy", "timm", 900)]
    # throughput has one full-fidelity group: accuracy is shown first, throughput still offered without a B
    assert compare_choices(groups) == {"kind": "accuracy", "pairs": {
        "throughput": {"a": "measured@h200", "b": None}, "accuracy": {"a": "timm", "b": "measured@cpu"}}}


def test_no_kind_with_two_groups_means_nothing_to_compare():
    assert compare_choices([group("throughput", "measured@cpu", 5), group("accuracy", "measured@cpu", 5)]) is None
    assert compare_choices([]) is None
