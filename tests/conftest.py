"""Shared fixtures: cheap databases, the shared data folder, the real command line, the sites that
tests only read (built once a session: no test writes into them) and one Chromium to read them."""

import shutil
from pathlib import Path

import pytest

import jobs  # noqa: F401 (registers the result kinds: db/ and render/ need them and cannot import jobs/)
from checkout import REFERENCE, SHARED, invoke

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "leaderboard.db"


@pytest.fixture
def db(db_path):
    from db.schema import open_db

    return open_db(db_path)


def shared_timm_results() -> Path:
    """timm's published CSVs in ../shared (CI has them beside the checkout; a user's clone may not)."""
    folder = SHARED / "timm-results"
    if not folder.is_dir():
        pytest.skip("../shared/timm-results is not beside this checkout")
    return folder


@pytest.fixture
def timm_results():
    return shared_timm_results()


@pytest.fixture
def run_invoke(db_path):
    """`run_invoke("status")` runs the real CLI against this test's database."""
    return lambda *args, **kw: invoke(*args, db_path=kw.pop("db_path", db_path), **kw)


# --- the built sites, and one Chromium to read them ---------------------------------------------


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, launched once for every browser test (each gets a context of its own)."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install -y chromium` (CI's .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors, uncaught exceptions and dialogs (alert())."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
    yield page
    context.close()


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The tiny site (site_fixtures.fill_tiny)."""
    from site_fixtures import built_site, fill_tiny

    return built_site(tmp_path_factory.mktemp("tiny-site"), fill_tiny)


@pytest.fixture(scope="session")
def two_env_site(tmp_path_factory):
    """The tiny site with a second environment to compare (site_fixtures.fill_two_environments)."""
    from site_fixtures import built_site, fill_two_environments

    return built_site(tmp_path_factory.mktemp("two-environments"), fill_two_environments)


@pytest.fixture(scope="session")
def timm_site(tmp_path_factory):
    """(database, site) of every timm results file plus the reference figures (over 1,400 model pages)."""
    from db.schema import open_db
    from db.timm_csv import import_file
    from render.build import build_site

    csv_files = sorted(shared_timm_results().glob("*.csv")) + sorted(REFERENCE.glob("*.csv"))
    folder = tmp_path_factory.mktemp("timm-site")
    db = open_db(folder / "timm.db")
    for path in csv_files:
        import_file(db, str(path))
    return db, Path(build_site(db, folder / "site")["out"])


@pytest.fixture(scope="session")
def history_page_url(tmp_path_factory):
    """file:// URL of test_vit's page, whose history has a regression (infer) and an improvement (train)."""
    from db.schema import open_db
    from db.store import save_measured
    from render.build import build_site
    from site_fixtures import OLD_TORCH, throughput_run

    folder = tmp_path_factory.mktemp("history")
    db = open_db(folder / "lb.db")
    save_measured(db, "throughput", throughput_run(100.0, env=OLD_TORCH))
    save_measured(db, "throughput", throughput_run(110.0))
    save_measured(db, "throughput", throughput_run(80.0))  # a regression on the same environment
    save_measured(db, "throughput", throughput_run(300.0, bench="train"))
    save_measured(db, "throughput", throughput_run(330.0, bench="train"))  # +10%: an improvement
    build_site(db, folder / "site")
    return (folder / "site" / "models" / "test_vit.html").as_uri()
