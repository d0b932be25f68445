"""The site's data layer, and the small measured database the other site tests build from."""
import json
from pathlib import Path

import pytest

from db.store import save_measured
from db.timm_csv import import_file
from render.data import group_key, groups, page_name, sig4
from render.payload import index_payload

REFERENCE = Path(__file__).resolve().parent.parent / "db" / "reference"
XSS_NAME = "<script>alert(1)</script>"
ENVIRONMENT = {"device": "cpu: Test CPU", "device_type": "cpu", "device_count": 1, "torch": "2.14.1",
               "timm": "1.0.31", "python": "3.11.7", "host": "testhost", "platform": "Linux"}
# name: (family, norm, params, top-1 at 160 px, eager samples/s)
TINY_MODELS = {
    "test_efficientnet_gn": ("EfficientNet", "GroupNorm", 388_000, 47.1, 1900.0),
    "test_efficientnet": ("EfficientNet", "BatchNorm", 369_000, 46.2, 2100.0),
    "test_resnet": ("ResNet", "BatchNorm", 474_000, 47.6, 3300.0),
    "test_vit": ("ViT", "LayerNorm", 541_000, 50.1, 2800.0),
    "test_nfnet": ("NFNet", "NormFree", 542_000, 49.4, 1500.0),
    XSS_NAME: ("<b>Family</b>", "GroupNorm", 100_000, 10.0, 500.0),
}


def catalogue_row(name, family, norm, params) -> dict:
    """A `models` row as db.catalog.save_catalog stores it (written here without importing torch)."""
    return {"name": name, "family": family, "family_module": family.lower(), "norm": norm,
            "norms": json.dumps([norm]), "params": params, "gmacs": 0.05, "input_size": 160,
            "test_input_size": 192, "fixed_input_size": 0, "crop_pct": 0.95, "interpolation": "bicubic",
            "pretrained_tags": json.dumps(["r160_in1k"]), "has_weights": 1, "timm_version": "1.0.31",
            "updated_at": "2026-01-01T00:00:00+00:00"}


def fill_tiny(db) -> None:
    """Catalogued models with measured accuracy (160 and 192 px) and throughput (eager and
    default compile, inference), plus the reference CSVs as a second, separate source."""
    for name, (family, norm, params, top1, speed) in TINY_MODELS.items():
        db["models"].insert(catalogue_row(name, family, norm, params), pk="name", replace=True)
        for size, bonus in ((160, 0.0), (192, 0.8)):
            save_measured(db, "accuracy", {
                "model": name, "tag": "r160_in1k", "dataset": "imagenet", "img_size": size,
                "top1": top1 + bonus, "top5": top1 + 25, "precision": "fp32", "images": 50000,
                "environment": ENVIRONMENT})
        for mode, factor, compile_s in (("eager", 1.0, None), ("default", 1.4, 21.5)):
            save_measured(db, "throughput", {
                "model": name, "bench": "infer", "compile_mode": mode, "precision": "fp32", "channels_last": 0,
                "fast_norm": 0, "img_size": 160, "batch_size": 256, "samples_per_sec": speed * factor,
                "samples_per_sec_min": speed * factor * 0.98, "samples_per_sec_max": speed * factor * 1.01,
                "compile_s": compile_s, "peak_mem_mb": 120.0, "gmacs": 0.05, "environment": ENVIRONMENT})
    for csv_file in sorted(REFERENCE.glob("*.csv")):
        import_file(db, str(csv_file))


@pytest.fixture
def tiny_db(db):
    fill_tiny(db)
    return db


def test_groups_keep_sources_and_environments_apart(tiny_db):
    from render.data import load

    data = load(tiny_db)
    found = groups(data["throughput"], "throughput", data["environments"])
    assert [g["collection"] for g in found] == ["measured", "reference"]  # measured first
    assert "cpu: Test CPU" in found[0]["label"] and "torch 2.14.1" in found[0]["label"]
    assert "RTX 4090" in found[1]["label"]
    assert len({group_key(r) for r in data["throughput"]}) == 2


def test_payload_rows_point_at_their_own_group(tiny_db):
    from render.data import load

    data = load(tiny_db)
    payload = index_payload(data)
    tp, groups_ = payload["tp"], payload["groups"]
    assert len(tp["m"]) == len(data["throughput"])
    for i, model in enumerate(tp["m"]):
        row = data["throughput"][i]
        assert payload["models"]["name"][model] == row["model"]
        assert groups_[tp["g"][i]]["key"] == group_key(row)
    norms = dict(zip(payload["models"]["name"], (payload["labels"]["norm"][n] for n in payload["models"]["norm"])))
    assert norms["test_efficientnet_gn"] == "GroupNorm"
    assert norms["test_byobnet"] == "unknown"  # in the reference CSVs only, not catalogued
    assert payload["defaults"]["ds"] == "imagenet"
    assert groups_[payload["defaults"]["tg"]]["collection"] == "measured"


def test_page_names_are_plain_files_for_any_model_name():
    assert page_name("resnet50") == "resnet50.html"
    unsafe = page_name(XSS_NAME)
    assert unsafe.endswith(".html") and "<" not in unsafe and "/" not in unsafe
    assert page_name("../evil") != page_name("__evil") and "/" not in page_name("../evil")


def test_sig4_rounds_to_four_significant_digits():
    assert sig4(300560.67) == 300600
    assert sig4(47.123) == 47.12
    assert sig4(None) is None


def test_payload_accuracy_is_rounded_as_timms_tables_give_it(tiny_db):
    from render.data import load

    data = load(tiny_db)
    data["accuracy"][0].update(top1=50.199999999999996, top5=84.5321)  # 100 * correct / images, as measured
    acc = index_payload(data)["acc"]
    assert (acc["top1"][0], acc["top5"][0]) == (50.2, 84.532)


def test_the_payload_docstring_names_every_key_and_column_the_payload_has(tiny_db):
    """render/payload.py's docstring is the payload's one reference (lb-core.js points to it): it may
    not drift from what index_payload writes."""
    import re

    import render.payload
    from render.data import load

    payload = index_payload(load(tiny_db))
    documented = dict(re.findall(r"^    (\w+) +(.*(?:\n {8,}.*)*)", render.payload.__doc__, re.M))
    assert set(documented) == set(payload)
    for block in ("acc", "tp", "gmacs", "models"):
        missing = [column for column in payload[block] if not re.search(rf"(^|[ ,(]){column}\b", documented[block])]
        assert missing == [], block
