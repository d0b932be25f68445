"""The built site, read through HTML selectors: pages, escaping, downloads, atomic builds, publishing."""

import csv
import errno
import gzip
import json
import multiprocessing
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from render import build as build_module
from render.build import SiteError, build_site
from render.data import page_name
from render.publish import publish_branch, publish_folder
from site_fixtures import TINY_MODELS, XSS_NAME, fill_tiny


def soup_of(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(), "html.parser")


def payload_of(site: Path) -> dict:
    return json.loads(soup_of(site / "index.html").select_one("script#leaderboard-data").string)


@pytest.fixture
def tiny_site(db, tmp_path):
    """The tiny site of this test's own database, for tests that count its rows or build again into it
    (the tests that only read the site share conftest's `site`)."""
    fill_tiny(db)
    summary = build_site(db, tmp_path / "site")
    return Path(summary["out"])


def test_index_has_filters_charts_table_and_local_plotly(site):
    soup = soup_of(site / "index.html")
    for control in (
        "f-ag",
        "f-ds",
        "f-tg",
        "f-bench",
        "f-prec",
        "f-layout",
        "f-modes",
        "f-norm",
        "f-family",
        "f-size",
        "f-q",
        "f-color",
        "reset",
    ):
        assert soup.select_one(f"#{control}") is not None, control
    assert {o["value"] for o in soup.select("#f-norm option")} >= {"", "GroupNorm", "BatchNorm", "LayerNorm"}
    assert soup.select_one("#chart-params") and soup.select_one("#chart-speed") and soup.select_one("table#leaderboard")
    sources = [s["src"] for s in soup.select("script[src]")]
    assert "assets/plotly.min.js" in sources and not any(s.startswith(("http:", "https:", "//")) for s in sources)
    assert (site / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    assert soup.select_one("link[rel=stylesheet]")["href"] == "assets/site.css"


def test_index_data_holds_every_model_and_result(tiny_site, db):
    payload = payload_of(tiny_site)
    assert set(TINY_MODELS) <= set(payload["models"]["name"])
    assert len(payload["acc"]["m"]) == db["accuracy"].count
    assert len(payload["tp"]["m"]) == db["throughput"].count
    measured = [g for g in payload["groups"] if g["collection"] == "measured"]
    assert [g["kind"] for g in measured] == ["accuracy", "throughput"]


def test_model_page_shows_results_facts_environment_and_links_back(site):
    soup = soup_of(site / "models" / "test_efficientnet_gn.html")
    assert soup.select_one("h1").get_text() == "test_efficientnet_gn"
    facts = {
        dt.get_text(): dd.get_text(" ", strip=True)
        for dt, dd in zip(soup.select(".facts dt"), soup.select(".facts dd"))
    }
    assert facts["norm"] == "GroupNorm" and facts["family"].startswith("EfficientNet")
    accuracy = [
        [td.get_text() for td in r.select("td")] for r in soup.select("table.accuracy tbody tr:not(.result-group)")
    ]
    assert sorted((r[8], int(r[2])) for r in accuracy) == [  # measured here and the reference figures
        ("measured", 160),
        ("measured", 192),
        ("reference:tiny-test-models-accuracy.csv", 160),
        ("reference:tiny-test-models-accuracy.csv", 192),
    ]
    throughput = [
        [td.get_text() for td in r.select("td")] for r in soup.select("table.throughput tbody tr:not(.result-group)")
    ]
    assert sorted(r[1] for r in throughput if r[15] == "measured") == ["default", "eager"]
    assert len(throughput) == 2 + 6  # + the reference: 3 compile modes x infer/train
    assert any(r[10] == "21.5" for r in throughput)  # compile time of the compiled run
    env = next(r for r in soup.select("table.environments tbody tr") if "cpu: Test CPU" in r.get_text())
    assert env["id"].startswith("env-") and "2.14.1" in env.get_text() and "testhost" in env.get_text()
    measured = soup.select_one("table.throughput tr.result-group th")  # the measured group comes first
    assert measured.get_text().startswith("measured") and measured.select_one(f"a[href='#{env['id']}']")
    assert soup.select_one("#back-link")["href"] == "../index.html#model=test_efficientnet_gn"
    assert soup.select_one(".facts a")["href"].startswith("../index.html#family=EfficientNet")


def test_model_page_lists_failed_jobs_and_where_to_read_their_tracebacks(db, tmp_path):
    fill_tiny(db)
    model, other_model = list(TINY_MODELS)[:2]
    db["jobs"].insert(
        {
            "key": "abcdef1234567890",
            "kind": "throughput",
            "model": model,
            "status": "failed",
            "spec": json.dumps({"bench": "train", "compile_mode": "max-autotune"}),
            "attempts": 2,
            "error": "RuntimeError: <b>triton</b> failed",
            "traceback": "Traceback ...",
            "finished_at": "2026-11-28T10:00:00+00:00",
        }
    )
    site = Path(build_site(db, tmp_path / "site")["out"])
    page = soup_of(site / "models" / page_name(model))
    row = page.select_one("table.failed tbody tr")
    cells = [td.get_text(" ", strip=True) for td in row.select("td")]
    assert cells[:5] == ["abcdef123456", "throughput", "train max-autotune", "RuntimeError: <b>triton</b> failed", "2"]
    assert "invoke status --job JOB" in page.select_one("#failed + p").get_text(" ", strip=True)
    other = soup_of(site / "models" / page_name(other_model))
    assert other.select_one("table.failed") is None


def test_uncatalogued_model_page_says_unknown(site):
    soup = soup_of(site / "models" / "test_byobnet.html")  # reference CSVs only
    facts = {
        dt.get_text(): dd.get_text(" ", strip=True)
        for dt, dd in zip(soup.select(".facts dt"), soup.select(".facts dd"))
    }
    assert facts["family"] == "unknown" and facts["norm"] == "unknown"
    assert "reference:tiny-test-models-throughput.csv" in soup.select_one("table.throughput").get_text()


def test_script_in_a_model_name_renders_as_text_everywhere(site):
    index = (site / "index.html").read_text()
    assert XSS_NAME not in index and "<b>Family</b>" not in index
    assert XSS_NAME in payload_of(site)["models"]["name"]  # still the real name, as data
    page = site / "models" / page_name(XSS_NAME)
    soup = soup_of(page)
    assert soup.select_one("h1").get_text() == XSS_NAME
    assert not any("alert(1)" in (s.string or "") for s in soup.select("script"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.read_text()


def test_downloads_hold_every_row_and_reimport(tiny_site, db, tmp_path):
    from db.schema import open_db
    from db.timm_csv import import_file

    with open(tiny_site / "data" / "leaderboard-throughput.csv") as f:
        assert len(list(csv.DictReader(f))) == db["throughput"].count
    assert len(json.loads((tiny_site / "data" / "leaderboard-accuracy.json").read_text())) == db["accuracy"].count
    again = open_db(tmp_path / "again.db")
    import_file(again, str(tiny_site / "data" / "leaderboard-accuracy.csv"))
    assert again["accuracy"].count == db["accuracy"].count
    links = {a["href"] for a in soup_of(tiny_site / "methodology.html").select("#downloads ~ p a")}
    assert "data/leaderboard-accuracy.csv" in links and "data/leaderboard-throughput.json" in links


def test_methodology_lists_every_source(site):
    text = soup_of(site / "methodology.html").select_one("table.sources").get_text()
    for source in ("measured", "reference:tiny-test-models-accuracy.csv", "reference:tiny-test-models-throughput.csv"):
        assert source in text


def test_failed_build_leaves_the_previous_site(tiny_site, db, monkeypatch):
    before = (tiny_site / "index.html").read_text()

    def broken(*args):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(build_module, "render_pages", broken)
    with pytest.raises(RuntimeError):
        build_site(db, tiny_site)
    assert (tiny_site / "index.html").read_text() == before
    assert sorted(p.name for p in tiny_site.parent.iterdir()) == [
        "leaderboard.db",
        "leaderboard.db-shm",
        "leaderboard.db-wal",
        "site",
    ]


def test_failed_model_page_leaves_the_previous_site(tiny_site, db, monkeypatch):
    before = (tiny_site / "models" / "test_vit.html").read_text()

    def broken(data, names, threshold):
        if multiprocessing.parent_process() is not None:  # only in the forked renderer
            raise RuntimeError("model page exploded")
        return iter(())

    monkeypatch.setattr(build_module, "model_contexts", broken)
    with pytest.raises(RuntimeError, match="model pages failed"):
        build_site(db, tiny_site)
    assert (tiny_site / "models" / "test_vit.html").read_text() == before
    assert not [p for p in tiny_site.parent.iterdir() if p.name.startswith(".site.")]


@pytest.mark.parametrize(
    "error, message",
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "assets/plotly.min.js"),
            "no room to write assets/plotly.min.js: the disk is full. Free space (df -h {parent}) or pass --out on another disk.",
        ),
        (
            OSError(errno.EROFS, "Read-only file system", "index.html"),
            "index.html cannot be written (Read-only file system): make {parent} writable, or pass --out with a writable folder.",
        ),
    ],
)
def test_a_disk_that_refuses_the_site_is_one_line_and_the_previous_site_stays(
    tiny_site, db, monkeypatch, error, message
):
    """The write patched at its boundary (tests run as root, whom a read-only folder does not stop)."""
    before = (tiny_site / "index.html").read_text()

    def refused(*args):
        raise error

    monkeypatch.setattr(build_module, "write_assets", refused)
    with pytest.raises(SiteError) as stopped:
        build_site(db, tiny_site)
    assert str(stopped.value) == message.format(parent=tiny_site.parent)
    assert (tiny_site / "index.html").read_text() == before
    assert not [p for p in tiny_site.parent.iterdir() if p.name.startswith(".site.")]


def test_build_refuses_a_folder_it_did_not_make(db, tmp_path, run_invoke):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(SiteError, match="not built by `invoke build`"):
        build_site(db, foreign)
    result = run_invoke("build", "--out", foreign)
    assert result.returncode == 1 and "not built by `invoke build`" in result.stderr
    assert (foreign / "keep.txt").read_text() == "mine"


def test_invoke_build_reports_what_it_built(db, db_path, tmp_path, run_invoke):
    fill_tiny(db)
    result = run_invoke("build", "--out", tmp_path / "www")
    assert result.returncode == 0, result.stderr
    assert "model pages from" in result.stdout and (tmp_path / "www" / "index.html").is_file()


def test_publish_to_a_folder_and_to_a_git_branch(site, tmp_path):
    publish_folder(site, tmp_path / "public")
    assert (tmp_path / "public" / "index.html").read_text() == (site / "index.html").read_text()
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    publish_branch(site, "gh-pages", repo)
    files = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "--name-only", "gh-pages"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "index.html" in files and "assets/plotly.min.js" in files and "models/test_vit.html" in files
    assert "nothing to commit" in publish_branch(site, "gh-pages", repo)
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""  # the working tree of the repository was not touched


def test_serve_serves_the_built_site(site, run_invoke):
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "serve", "--port", "0", "--out", str(site)],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(url + "methodology.html", timeout=10) as response:
            assert b"Methodology" in response.read()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_without_a_site_says_build_first(tmp_path, run_invoke):
    result = run_invoke("serve", "--out", tmp_path / "nothing")
    assert result.returncode == 1 and "run `invoke build` first" in result.stderr


@pytest.mark.slow
def test_full_timm_site_has_a_page_per_model_and_a_light_index(timm_site):
    db, site = timm_site
    models = {r[0] for r in db.conn.execute("SELECT model FROM accuracy UNION SELECT model FROM throughput")}
    assert len(list((site / "models").glob("*.html"))) == len(models) > 1400
    payload = payload_of(site)
    assert len(payload["tp"]["m"]) == db["throughput"].count and len(payload["acc"]["m"]) == db["accuracy"].count
    # the page-weight goal, checked on bytes (deterministic), not on time
    index_bytes = sum(
        len(gzip.compress(p.read_bytes()))
        for p in [site / "index.html", *(site / "assets").glob("*.css"), *(site / "assets").glob("lb-*.js")]
    )
    assert index_bytes < 300_000
    labels = [g["label"] for g in payload["groups"] if g["kind"] == "throughput"]
    assert "timm published · RTX 4090 · torch 2.4.0 · CUDA 12.4" in labels and len(labels) == len(set(labels))


def test_publishing_refuses_the_checked_out_branch_and_continues_a_remotes(tiny_site, tmp_path):
    site = Path(shutil.copytree(tiny_site, tmp_path / "site-copy"))  # changed below: the shared site stays as it is

    def git(repo, *args):
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "notes.txt").write_text("mine")
    git(work, "add", "notes.txt")
    git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "work")
    head = git(work, "rev-parse", "HEAD")
    with pytest.raises(
        SiteError,
        match="Branch main is checked out in .*: publishing would replace the files you "
        "work on. Publish to a branch of its own, e.g. --branch gh-pages.",
    ):
        publish_branch(site, "main", work)
    assert git(work, "rev-parse", "HEAD") == head and git(work, "status", "--porcelain") == ""

    published = git(work, "rev-parse", publish_branch(site, "gh-pages", work).split(" as ")[1].split(":")[0])
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(work), str(clone)], check=True)  # origin/gh-pages, no local branch
    (site / "extra.txt").write_text("a change to publish")
    commit = publish_branch(site, "gh-pages", clone).split(" as ")[1].split(":")[0]
    assert git(clone, "rev-parse", f"{commit}^") == published  # continues the remote's history: a fast-forward


def test_serve_does_not_follow_a_link_out_of_the_site(tiny_site, tmp_path):
    import threading
    from functools import partial
    from http.server import ThreadingHTTPServer

    from render.publish import SiteHandler

    site = Path(shutil.copytree(tiny_site, tmp_path / "site-copy"))
    (tmp_path / "secret.txt").write_text("outside")
    (site / "leak.txt").symlink_to(tmp_path / "secret.txt")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SiteHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        with urllib.request.urlopen(url + "index.html", timeout=10) as page:
            assert page.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "leak.txt", timeout=10)
        assert refused.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
