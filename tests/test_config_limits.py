"""The project's invoke.yaml is the user's own file, read by every command: a file too large, or one
whose YAML aliases expand to billions of values, is one line (exit 2) before anything expands it."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from db.errors import UsageError
from jobs.settings import project_settings

ROOT = Path(__file__).resolve().parent.parent
# Each level refers to the one before nine times: 9**9 (387 million) values once expanded.
ALIAS_BOMB = "leaderboard:\n  sweeps:\n    a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"    {chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def project(tmp_path, text: str) -> Path:
    (tmp_path / "invoke.yaml").write_text(text)
    return tmp_path


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    started = time.monotonic()
    with pytest.raises(UsageError, match=r"expands to more than 100,000 values through YAML aliases \(& and \*\)"):
        project_settings(project(tmp_path, ALIAS_BOMB))
    assert time.monotonic() - started < 5  # expanding it takes minutes and gigabytes


def test_a_config_file_over_64_kb_is_refused(tmp_path):
    lines = "".join(f"    sweep{i}: {{models: [test_vit]}}\n" for i in range(3000))
    with pytest.raises(
        UsageError, match=r"invoke.yaml is \d+ KB: every command reads it, so it may hold at most 64 KB"
    ):
        project_settings(project(tmp_path, "leaderboard:\n  sweeps:\n" + lines))


def test_aliases_within_reason_are_read(tmp_path):
    text = (
        "leaderboard:\n  sweeps:\n"
        "    one: {models: [test_vit], throughput: &fast {benches: [infer], compile_modes: [eager]}}\n"
        "    two: {models: [test_resnet], throughput: *fast}\n"
    )
    sweeps = project_settings(project(tmp_path, text))["sweeps"]
    assert (
        sweeps["two"]["throughput"] == sweeps["one"]["throughput"] == {"benches": ["infer"], "compile_modes": ["eager"]}
    )


def test_every_command_refuses_the_bomb_in_one_line(tmp_path):
    shutil.copy(ROOT / "tasks.py", project(tmp_path, ALIAS_BOMB) / "tasks.py")
    started = time.monotonic()
    ran = subprocess.run(
        [sys.executable, "-m", "invoke", "status"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 2 and "expands to more than 100,000 values" in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1 and time.monotonic() - started < 30
