"""Shared fixtures: cheap databases, the shared data folder, and the real command line."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import jobs  # noqa: F401 (registers the result kinds: db/ and render/ need them and cannot import jobs/)

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REFERENCE = ROOT / "db" / "reference"


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


def invoke(*args, db_path=None, env=None, cwd=ROOT, timeout=600):
    """Run `invoke ARGS...` as a user would; returns the CompletedProcess (text)."""
    full_env = {**os.environ, **(env or {})}
    if db_path is not None:
        full_env["INVOKE_LEADERBOARD_DB"] = str(db_path)
    command = [sys.executable, "-m", "invoke", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def make_project(tmp_path, monkeypatch, invoke_yaml: str):
    """A project folder as a user has one: our tasks.py and an invoke.yaml; no database settings
    leaking in from the environment."""
    for variable in ("INVOKE_LEADERBOARD_DB", "INVOKE_LEADERBOARD_JOB_TIMEOUT"):
        monkeypatch.delenv(variable, raising=False)
    shutil.copy(ROOT / "tasks.py", tmp_path / "tasks.py")
    (tmp_path / "invoke.yaml").write_text(invoke_yaml)
    return tmp_path


@pytest.fixture
def run_invoke(db_path):
    """`run_invoke("status")` runs the real CLI against this test's database."""
    return lambda *args, **kw: invoke(*args, db_path=kw.pop("db_path", db_path), **kw)
