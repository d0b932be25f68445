"""Shared fixtures: cheap databases, the shared data folder, and the real command line."""
import pytest

from checkout import SHARED, invoke


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "leaderboard.db"


@pytest.fixture
def db(db_path):
    from db.schema import open_db

    return open_db(db_path)


@pytest.fixture
def timm_results():
    """timm's published CSVs in ../shared (CI has them beside the checkout; a user's clone may not)."""
    folder = SHARED / "timm-results"
    if not folder.is_dir():
        pytest.skip("../shared/timm-results is not beside this checkout")
    return folder


@pytest.fixture
def run_invoke(db_path):
    """`run_invoke("status")` runs the real CLI against this test's database."""
    return lambda *args, **kw: invoke(*args, db_path=kw.pop("db_path", db_path), **kw)
