"""The site's data layer: groups, the index payload and page names, on the tiny database (site_fixtures)."""

import pytest

from render.data import group_key, groups, page_name, sig4
from render.payload import index_payload
from site_fixtures import XSS_NAME, fill_tiny


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
