"""Speed-ups, achieved FLOP/s and % of peak: the data (render/speedups.py, render/devices.py), the
index's payload, the model pages (grouped by hardware / source) and the methodology page."""

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from checkout import REFERENCE
from db.timm_csv import import_file
from render.data import group_key, load
from render.devices import DEVICES, achieved_tflops, device_of, peak_tflops
from render.payload import index_payload
from render.speedups import annotate, speedups
from site_fixtures import fill_tiny

# The tiny-test-model reference (RTX 4090, amp): samples/s of test_vit by (bench, compile mode).
TEST_VIT = {
    ("infer", "default"): 146050.34,
    ("infer", "reduce-overhead"): 274007.61,
    ("infer", "max-autotune"): 300560.67,
    ("train", "default"): 38321.33,
    ("train", "reduce-overhead"): 86652.08,
    ("train", "max-autotune"): 87518.73,
}


def reference_rows(data: dict, model: str = "test_vit") -> dict:
    return {
        (r["bench"], r["compile_mode"]): r
        for r in data["throughput"]
        if r["model"] == model and r["source"].startswith("reference:")
    }


@pytest.fixture
def reference_data(db):
    """Only `invoke import-results db/reference`: no catalogue, so no GMACs."""
    for csv_file in sorted(REFERENCE.glob("*.csv")):
        import_file(db, str(csv_file))
    data = load(db)
    annotate(data)
    return data


@pytest.fixture
def tiny_data(db):
    fill_tiny(db)
    data = load(db)
    annotate(data)
    return data


def test_reference_speedups_are_over_default_where_no_eager_figure_exists(reference_data):
    rows = reference_rows(reference_data)
    assert {k: r["samples_per_sec"] for k, r in rows.items()} == TEST_VIT
    assert f"{rows['infer', 'reduce-overhead']['speedup']:.2f}" == "1.88"  # 274,008 / 146,050
    assert f"{rows['infer', 'max-autotune']['speedup']:.2f}" == "2.06"
    assert f"{rows['train', 'reduce-overhead']['speedup']:.2f}" == "2.26"  # 86,652 / 38,321
    assert rows["infer", "default"]["speedup"] == 1.0
    assert {r["speedup_base"] for r in rows.values()} == {"default"}


def test_measured_speedups_are_over_eager(tiny_data):
    measured = {
        r["compile_mode"]: r
        for r in tiny_data["throughput"]
        if r["model"] == "test_resnet" and r["source"] == "measured"
    }
    assert measured["default"]["speedup"] == pytest.approx(1.4) and measured["default"]["speedup_base"] == "eager"
    assert measured["eager"]["speedup"] == 1.0


def throughput_row(model, mode, sps, bench="infer", source="measured"):
    return {
        "model": model,
        "compile_mode": mode,
        "samples_per_sec": sps,
        "bench": bench,
        "precision": "fp32",
        "img_size": 224,
        "source": source,
        "environment_id": "env1",
        "channels_last": 0,
    }


def test_no_speedup_without_the_baseline_figure_or_a_second_mode():
    rows = [
        throughput_row("a", "eager", 100.0),
        throughput_row("a", "default", 150.0),
        throughput_row("b", "default", 300.0),  # b has no eager figure: none
        throughput_row("c", "default", 50.0, bench="train"),
    ]  # the only mode of its setting
    ratios, bases, per_setting = speedups(rows, [(group_key(r), r["bench"], r["precision"], "NCHW") for r in rows])
    assert ratios == [1.0, 1.5, None, None] and bases == ["eager", "eager", None, None]
    assert {setting[1]: mode for setting, mode in per_setting.items()} == {"infer": "eager", "train": None}


def test_achieved_flops_count_two_per_mac_and_three_passes_for_training():
    assert achieved_tflops(0.05, 274007.61, "infer") == pytest.approx(27.4007561)  # 2 × 0.05e9 × 274,008 / 1e12
    assert achieved_tflops(0.05, 1000.0, "train") == pytest.approx(3 * achieved_tflops(0.05, 1000.0, "infer"))
    assert achieved_tflops(None, 1000.0, "infer") is None


@pytest.mark.parametrize(
    "name, label",
    [
        ("NVIDIA GeForce RTX 4090", "RTX 4090"),
        ("RTX 4090", "RTX 4090"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA H200 NVL", "H200 NVL"),
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("NVIDIA A100 80GB PCIe", "A100"),
        ("NVIDIA L4", "L4"),
        ("RTX 3090", "RTX 3090"),
        ("NVIDIA GeForce RTX 4090 Laptop GPU", None),
        ("NVIDIA GeForce RTX 4090 D", None),
        ("RTX 5090", None),
        ("cpu: Intel Core i7-12700H", None),
        (None, None),
    ],
)
def test_device_names_match_whole_as_torch_and_timm_spell_them(name, label):
    device = device_of(name)
    assert (device.label if device else None) == label


def test_peaks_are_dense_per_precision_and_never_guessed():
    one_4090 = {"device": "RTX 4090", "device_count": 1}
    assert peak_tflops(one_4090, "amp") == 165.2 == peak_tflops(one_4090, "amp_bf16")  # tensor cores, FP32 accumulate
    assert peak_tflops(one_4090, "fp32") == 82.6
    assert peak_tflops({"device": "NVIDIA H200"}, "amp_bf16") == pytest.approx(989.5)  # 1,979 with sparsity, halved
    assert peak_tflops(one_4090, "int8") is None and peak_tflops(one_4090, None) is None
    assert peak_tflops({"device": "RTX 4090", "device_count": 2}, "amp") is None
    assert peak_tflops({"device": "cpu: Test CPU"}, "fp32") is None
    assert all(d.source.startswith("https://") and set(d.tflops) == {"fp32", "fp16", "bf16"} for d in DEVICES)


def test_tflops_and_percent_of_peak_per_result(tiny_data):
    fast = reference_rows(tiny_data)["infer", "reduce-overhead"]  # catalogued: 0.05 GMACs at 160 px
    assert f"{fast['tflops']:.2f}" == "27.40" and f"{fast['peak_pct']:.1f}" == "16.6"  # of the 4090's 165.2
    cpu = next(r for r in tiny_data["throughput"] if r["source"] == "measured")
    assert cpu["tflops"] > 0 and cpu["peak_pct"] is None  # a CPU has no peak in the table


def test_no_flops_without_gmacs(reference_data):
    fast = reference_rows(reference_data)["infer", "reduce-overhead"]  # not catalogued: GMACs unknown
    assert fast["tflops"] is None and fast["peak_pct"] is None and fast["speedup"] is not None


def test_index_payload_carries_speedups_peaks_and_the_flop_convention(tiny_data):
    payload = index_payload(tiny_data)
    tp, labels, groups = payload["tp"], payload["labels"], payload["groups"]
    vit = next(
        i
        for i, m in enumerate(tp["m"])
        if payload["models"]["name"][m] == "test_vit"
        and labels["compile"][tp["c"][i]] == "reduce-overhead"
        and labels["bench"][tp["b"][i]] == "infer"
    )
    assert tp["x"][vit] == 1.876
    bases = {
        (groups[g]["collection"], labels["bench"][b], labels["compile"][c])
        for g, b, p, _layout, c in payload["figures"]["bases"]
    }
    assert bases == {
        ("measured", "infer", "eager"),
        ("reference", "infer", "default"),
        ("reference", "train", "default"),
    }
    assert [(groups[g]["collection"], labels["precision"][p], peak) for g, p, peak in payload["figures"]["peaks"]] == [
        ("reference", "amp", 165.2)
    ]
    assert payload["figures"]["flops"] == {"infer": 2, "train": 6}


def soup_of(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(), "html.parser")


def model_page_groups(site: Path, model: str, kind: str = "throughput") -> list[tuple[str, list]]:
    """(heading, rows as cell texts) per hardware / source group of a model page's table."""
    page = soup_of(site / "models" / f"{model}.html")
    return [
        (
            body.select_one("tr.result-group").get_text(" ", strip=True),
            [[td.get_text(strip=True) for td in tr.select("td")] for tr in body.select("tr:not(.result-group)")],
        )
        for body in page.select(f"table.{kind} tbody")
    ]


def test_model_page_groups_results_by_hardware_and_source(site):
    groups = model_page_groups(site, "test_vit")
    assert [heading.split(" · ")[0] for heading, _ in groups] == ["measured", "reference"]
    assert "cpu: Test CPU" in groups[0][0] and "RTX 4090" in groups[1][0]
    assert [{row[15] for row in rows} for _, rows in groups] == [  # never interleaved
        {"measured"},
        {"reference:tiny-test-models-throughput.csv"},
    ]
    reference = groups[1][1]
    assert [(r[0], r[1]) for r in reference] == [
        ("infer", "default"),
        ("infer", "reduce-overhead"),
        ("infer", "max-autotune"),
        ("train", "default"),
        ("train", "reduce-overhead"),
        ("train", "max-autotune"),
    ]
    assert reference[1][8] == "1.88× default" and reference[0][8] == ""  # the baseline has no speed-up of its own
    assert reference[1][13] == "27.4" and reference[1][14] == "16.6%"
    assert [heading.split(" · ")[0] for heading, _ in model_page_groups(site, "test_vit", "accuracy")] == [
        "measured",
        "reference (environment not published)",
    ]


def test_model_page_links_keep_the_rows_setting_and_find_exactly_the_model(site):
    page = soup_of(site / "models" / "test_vit.html")
    link = page.select("table.throughput tbody")[1].select("tr:not(.result-group)")[4].select_one("a.index-link")
    state = parse_qs(urlsplit(link["href"]).fragment)
    assert state["tg"][0].startswith("reference@") and state["model"] == ["test_vit"]
    assert (state["bench"], state["prec"], state["layout"], state["modes"]) == (
        ["train"],
        ["amp"],
        ["NCHW · fast-norm"],
        ["reduce-overhead"],
    )
    assert page.select_one("#back-link")["href"] == "../index.html#model=test_vit"
    assert page.select_one("script[src='../assets/lb-model.js']") is not None  # keeps the index's settings


def test_methodology_explains_speedups_flops_and_cites_each_peak(site):
    page = soup_of(site / "methodology.html")
    text = page.select_one("#speedups").find_next("ul").get_text(" ", strip=True)
    assert "2 × GMACs × samples/s" in text and "6 × GMACs × samples/s" in text and "default" in text
    rows = {tr.select("td")[0].get_text(): tr for tr in page.select("table.peaks tbody tr")}
    assert set(rows) == {d.label for d in DEVICES}
    assert rows["RTX 4090"].select_one("a")["href"] == next(d.source for d in DEVICES if d.label == "RTX 4090")
    assert [td.get_text() for td in rows["H200 SXM"].select("td")[1:4]] == ["67", "989.5", "989.5"]
