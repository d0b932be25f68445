"""This checkout's folders, and its command line run as a user runs it: plain helpers for any test module."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"  # CI has it beside the checkout; a user's clone may not
REFERENCE = ROOT / "db" / "reference"

# An invoke.yaml with two small sweeps: "tiny" (one job that runs) and "broken" (one that fails).
SWEEPS_YAML = """\
leaderboard:
  db: lb.db
  sweeps:
    tiny:
      models: [test_resnet]
      throughput: {benches: [infer], compile_modes: [eager], precision: fp32, batch_size: 2,
                   warmup_steps: 0, steps: 1, repeats: 1}
    broken:
      models: [test_vit]
      throughput: {benches: [infer], compile_modes: [eager], img_size: 8, batch_size: 2, warmup_steps: 0,
                   steps: 1, repeats: 1}
"""


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
