"""The working folder never changes the database or the site: Invoke finds tasks.py in a parent folder,
and invoke.yaml's relative paths (and the defaults) are the project folder's, wherever invoke runs."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cwd: Path, *args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def test_a_subfolder_uses_the_projects_database_and_site(tmp_path, monkeypatch):
    monkeypatch.delenv("INVOKE_LEADERBOARD_DB", raising=False)
    shutil.copy(ROOT / "tasks.py", tmp_path / "tasks.py")
    (tmp_path / "invoke.yaml").write_text("leaderboard:\n  db: lb.db\n")
    imported = run(tmp_path, "import-results", ROOT / "db" / "reference")
    assert imported.returncode == 0, imported.stderr
    deeper = tmp_path / "notes" / "deeper"
    deeper.mkdir(parents=True)

    status = run(deeper, "status")
    assert status.returncode == 0 and "No database" not in status.stderr, status.stderr
    built = run(deeper, "build")
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "index.html").is_file() and not (deeper / "site").exists()
    assert not (deeper / "lb.db").exists() and sorted(p.name for p in deeper.iterdir()) == []


def test_a_path_given_in_the_shell_stays_relative_to_the_working_folder(tmp_path):
    shutil.copy(ROOT / "tasks.py", tmp_path / "tasks.py")
    here = tmp_path / "here"
    here.mkdir()
    env = {**os.environ, "INVOKE_LEADERBOARD_DB": "mine.db"}
    imported = run(here, "import-results", ROOT / "db" / "reference", env=env)
    assert imported.returncode == 0, imported.stderr
    assert (here / "mine.db").is_file() and not (tmp_path / "mine.db").exists()
