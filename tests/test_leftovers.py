"""A sweep killed with kill -9 leaves nothing behind: its job server and jobs die at once, and the
next sweep removes its temporary folder."""

import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from checkout import ROOT
from db.claims import process_alive as alive
from jobs.executors.base import JOB_FOLDER_PREFIX
from jobs.executors.local import LocalExecutor, Slot

# A sweep-like process: a local executor whose job server starts (preloading what argv[1] lists),
# then either idles or runs one job (argv[2]: "module:function"), as `invoke eval-all` does.
SWEEP = """
import sys, time
from jobs.executors.local import LocalExecutor, Slot
from jobs.sweep import Job
preload = [m for m in sys.argv[1].split(",") if m]
executor = LocalExecutor([Slot("cpu")], timeout_s=600, preload=preload,
                         job_functions={"throughput": sys.argv[2]} if len(sys.argv) > 2 else None)
executor.start()
print(executor.server.process.pid, executor.workdir, flush=True)
if len(sys.argv) > 2:
    executor.run([Job("k", "throughput", "busy", {"pid_file": sys.argv[3]})], lambda j, s: None, lambda j, s, r: None)
time.sleep(600)
"""

# A job that starts a grandchild, then computes in C for many seconds: Python runs no signal
# handler meanwhile, so only a SIGKILL from outside ends it (or its group) before it returns.
BUSY_JOB = """
import hashlib, os, subprocess, sys
def spawn_and_compute(spec):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(spec["pid_file"], "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    hashlib.pbkdf2_hmac("sha256", b"key", b"salt", 50_000_000)  # ~15 s in C
    return {"status": "done"}
"""


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    """This test's own temp folder, for the sweeps it starts and for this process's executors."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def start_sweep(temp_dir, *args) -> tuple[subprocess.Popen, int, str]:
    """A sweep-like process: (it, its job server's pid, its job folder)."""
    env = {**os.environ, "TMPDIR": str(temp_dir), "PYTHONPATH": os.pathsep.join([str(temp_dir.parent), str(ROOT)])}
    sweep = subprocess.Popen(
        [sys.executable, "-c", SWEEP, *map(str, args)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    server, folder = sweep.stdout.readline().split()
    return sweep, int(server), folder


def kill_9(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()


def gone_within(seconds: float, *pids: int) -> bool:
    deadline = time.monotonic() + seconds
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not any(map(alive, pids))


def kill_if_alive(*pids: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_sweep_killed_while_its_server_imports_takes_the_server_with_it(temp_dir):
    sweep, server, _ = start_sweep(temp_dir, "torch,timm")  # seconds of imports
    time.sleep(0.5)
    assert alive(server)
    kill_9(sweep)
    try:
        assert gone_within(2, server)
    finally:
        kill_if_alive(server)


def test_a_job_computing_in_c_dies_at_once_with_its_killed_sweep(temp_dir):
    """The server SIGKILLs every job's group itself when its parent dies: a job busy in C code would
    run its own SIGTERM handler only once it returns (seconds later here; never in a hung CUDA call)."""
    (temp_dir.parent / "busy_job.py").write_text(BUSY_JOB)
    pid_file = temp_dir.parent / "job.pids"
    sweep, server, _ = start_sweep(temp_dir, "", "busy_job:spawn_and_compute", pid_file)
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    job, grandchild = map(int, pid_file.read_text().split())
    time.sleep(0.2)  # well into its computation
    kill_9(sweep)
    try:
        assert gone_within(2, server, job, grandchild)
    finally:
        kill_if_alive(server, job, grandchild)


def test_the_next_sweep_removes_a_killed_sweeps_folder_and_keeps_a_live_ones(temp_dir):
    killed, killed_server, killed_folder = start_sweep(temp_dir, "")
    live, live_server, live_folder = start_sweep(temp_dir, "")
    being_made = temp_dir / f"{JOB_FOLDER_PREFIX}being-made"  # no owner lock yet: not ours to judge
    being_made.mkdir()
    kill_9(killed)
    try:
        assert os.path.isdir(killed_folder)
        executor = LocalExecutor([Slot("cpu")], timeout_s=60, preload=[])
        assert not os.path.exists(killed_folder)
        assert os.path.isdir(live_folder) and being_made.is_dir()
        executor.close()
        assert not executor.workdir.exists()
    finally:
        kill_9(live)
        kill_if_alive(killed_server, live_server)
