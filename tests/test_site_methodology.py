"""Sources on the site: named by file, never by this machine's paths; timm's tables linked where timm
publishes them; and the plotly.js bundle the site ships (vendored, checked, with its licence)."""

import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

import render.vendor as vendor
from db.timm_csv import import_file
from render.build import build_site
from render.filters import TIMM_RESULTS, file_name, source_href
from site_fixtures import fill_tiny

TIMM_ROWS = """model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation
resnet50.a1_in1k,224,81.2,18.8,95.1,4.9,25.56,0.950,bicubic
test_vit.r160_in1k,160,42.1,57.9,68.0,32.0,0.37,0.950,bicubic
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The tiny site plus a timm table imported from a local copy, in folders named so they can be spotted."""
    from db.schema import open_db

    folder = tmp_path_factory.mktemp("local-machine-folder")
    copy = folder / "downloads" / "results-imagenet.csv"
    copy.parent.mkdir()
    copy.write_text(TIMM_ROWS)
    db = open_db(folder / "sources.db")
    fill_tiny(db)
    import_file(db, str(copy))
    return Path(build_site(db, folder / "site")["out"])


def sources_table(site: Path) -> dict:
    soup = BeautifulSoup((site / "methodology.html").read_text(), "html.parser")
    return {tr.td.get_text(): tr for tr in soup.select("table.sources tbody tr")}


def test_no_page_shows_a_local_path(site):
    local = str(site.parent)
    for page in site.rglob("*.html"):
        assert local not in page.read_text(), page
    assert str(Path(__file__).resolve().parent.parent) not in (site / "methodology.html").read_text()  # db/reference


def test_sources_are_named_by_file_and_timm_tables_link_to_timm(site):
    rows = sources_table(site)
    timm = rows["timm:results-imagenet.csv"]
    assert (
        timm.a["href"]
        == TIMM_RESULTS + "results-imagenet.csv"
        == "https://github.com/huggingface/pytorch-image-models/blob/main/results/results-imagenet.csv"
    )
    reference = rows["reference:tiny-test-models-accuracy.csv"]
    assert "tiny-test-models-accuracy.csv" in reference.get_text() and reference.a is None
    assert rows["measured"].a is None


def test_model_pages_link_imported_rows_to_their_published_file(site):
    soup = BeautifulSoup((site / "models" / "resnet50.html").read_text(), "html.parser")
    assert [a["href"] for a in soup.select("table.accuracy a[href^='https://github.com']")] == [
        TIMM_RESULTS + "results-imagenet.csv"
    ]


def test_the_methodology_page_fits_in_a_phone_width_box(site):
    soup = BeautifulSoup((site / "methodology.html").read_text(), "html.parser")
    assert all(table.parent.get("class") == ["scroll"] for table in soup.select("main table"))


@pytest.mark.parametrize(
    "source, url, href",
    [
        (
            "timm:results-imagenet.csv",
            "/home/me/timm/results/results-imagenet.csv",
            TIMM_RESULTS + "results-imagenet.csv",
        ),
        (
            "timm:benchmark-infer.csv",
            "https://example.org/r/benchmark-infer.csv?raw=1",
            "https://example.org/r/benchmark-infer.csv?raw=1",
        ),
        ("reference:tiny.csv", "/work/db/reference/tiny.csv", ""),
        ("measured", None, ""),
        ("timm:results sketch#1.csv", "C:/timm/results sketch#1.csv", TIMM_RESULTS + "results%20sketch%231.csv"),
        ("timm:x.csv", "javascript:alert(1)", TIMM_RESULTS + "javascript%3Aalert%281%29"),  # never a script link
    ],
)
def test_source_href(source, url, href):
    assert source_href(source, url) == href


def test_file_name_drops_folders_and_queries():
    assert file_name("/tmp/a/results-imagenet.csv") == "results-imagenet.csv"
    assert file_name("https://raw.githubusercontent.com/x/results/results-sketch.csv?token=1") == "results-sketch.csv"
    assert file_name(None) == ""


def test_the_site_ships_the_vendored_plotly_bundle_and_its_licence(site):
    assets = site / "assets"
    assert (assets / "plotly.min.js").read_bytes() == (vendor.FOLDER / "plotly.min.js").read_bytes()
    assert "MIT License" in (assets / "plotly.js-LICENSE.txt").read_text()
    assert (assets / "plotly.min.js").read_text()[:200].count("plotly.js (gl2d - minified) v" + vendor.VERSION) == 1


def test_a_changed_vendored_file_stops_the_build(tmp_path, monkeypatch):
    copy = tmp_path / "vendor"
    shutil.copytree(vendor.FOLDER, copy)
    with open(copy / "plotly.min.js", "a") as bundle:
        bundle.write("\n// edited\n")
    monkeypatch.setattr(vendor, "FOLDER", copy)
    with pytest.raises(vendor.VendorError, match="python -m render.vendor"):
        vendor.vendored_files()


def test_the_registry_integrity_check_refuses_other_bytes():
    import base64
    import hashlib

    data = b"tarball"
    good = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    vendor.check_integrity(data, good)
    with pytest.raises(vendor.VendorError, match="integrity"):
        vendor.check_integrity(data + b"!", good)
