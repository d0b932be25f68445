"""Sweeps sharing a database: each job claimed by one sweep, run once, one job per device at a time,
and a killed sweep's claim taken over (db/claims.py, jobs/executors/device_locks.py)."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlite_utils

from checkout import ROOT, invoke, make_project
from db.claims import LEASE_S, claim, new_owner, owner_alive
from db.queue import enqueue, start
from jobs.executors.device_locks import DeviceLock
from jobs.sweep import Job

MODELS = [
    "test_vit",
    "test_resnet",
    "test_convnext",
    "test_efficientnet",
    "test_mambaout",
    "test_nfnet",
    "test_byobnet",
    "test_coatnet",
]
SHARED_YAML = f"""\
leaderboard:
  db: lb.db
  sweeps:
    shared:
      models: {MODELS}
      throughput: {{benches: [infer], compile_modes: [eager], precision: fp32, batch_size: 2,
                   warmup_steps: 0, steps: 1, repeats: 1}}
"""


def jobs(n=3):
    return [Job(f"k{i}", "throughput", f"m{i}", {"model": f"m{i}"}) for i in range(n)]


def test_a_job_is_claimed_by_one_sweep_only(db):
    enqueue(db, jobs(), "s")
    first, second = new_owner(), new_owner()
    assert start(db, "k0", first) and not start(db, "k0", second)
    row = db["jobs"].get("k0")
    assert (row["status"], row["owner"], row["attempts"]) == ("running", first, 1)
    assert owner_alive(row["owner"], row["lease_expires"])  # this process, lease fresh


def test_a_second_sweep_leaves_live_claims_alone_and_takes_over_dead_ones(db):
    enqueue(db, jobs(), "s")
    start(db, "k0", new_owner())  # a live sweep (this process)
    claim(db, "k1", f"{os.uname().nodename}:999999999:dead", "t")  # a sweep whose process is gone
    later = enqueue(db, jobs(), "s")
    assert later.held == 1 and [j.key for j in later.to_run] == ["k1", "k2"] and later.resumed == 1
    assert db["jobs"].get("k0")["status"] == "running"  # not re-queued under its owner's feet
    assert db["jobs"].get("k1")["status"] == "queued"


def test_a_killed_sweep_not_yet_reaped_holds_nothing(db):
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    zombie.kill()
    time.sleep(0.5)  # killed, and deliberately not waited for: a zombie until its parent reaps it
    owner = f"{os.uname().nodename}:{zombie.pid}:x"
    assert not owner_alive(owner, time.time() + LEASE_S)
    zombie.wait()


def test_a_claim_lapses_when_its_owner_stops_renewing_it():
    assert not owner_alive("elsewhere:1:x", time.time() - 1)
    assert owner_alive("elsewhere:1:x", time.time() + LEASE_S)  # another host: trusted until it lapses


def test_a_device_is_held_by_one_process_at_a_time(tmp_path):
    mine = DeviceLock("gpu0", tmp_path)
    assert mine.try_acquire()
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            f"""
import sys; sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from jobs.executors.device_locks import DeviceLock
print(DeviceLock("gpu0", Path({str(tmp_path)!r})).try_acquire(), DeviceLock("gpu1", Path({str(tmp_path)!r})).try_acquire())
""",
        ],
        capture_output=True,
        text=True,
    )
    assert other.stdout.split() == ["False", "True"], other.stderr
    mine.release()
    assert DeviceLock("gpu0", tmp_path).try_acquire()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project whose invoke.yaml holds an eight-job sweep."""
    return make_project(tmp_path, monkeypatch, SHARED_YAML)


def launch(project) -> subprocess.Popen:
    command = [sys.executable, "-m", "invoke", "eval-all", "--sweep", "shared", "--no-site"]
    return subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def done_jobs(db_path) -> int:
    try:
        return sqlite_utils.Database(db_path).execute("SELECT count(*) FROM jobs WHERE status = 'done'").fetchone()[0]
    except Exception:  # not created yet
        return 0


def test_three_sweeps_and_a_kill_run_every_job_exactly_once_one_at_a_time_per_device(project):
    db_path = project / "lb.db"
    sweeps = [launch(project) for _ in range(3)]
    deadline = time.monotonic() + 300
    while done_jobs(db_path) < 2 and time.monotonic() < deadline and sweeps[0].poll() is None:
        time.sleep(0.1)
    os.kill(sweeps[0].pid, signal.SIGKILL)  # one sweep dies mid-campaign, maybe holding a job
    outputs = [s.communicate(timeout=300)[0] for s in sweeps[1:]]
    assert all(s.returncode == 0 for s in sweeps[1:]), outputs
    finish = invoke("eval-all", "--sweep", "shared", "--no-site", cwd=project)  # takes over what the killed one held
    assert finish.returncode == 0, finish.stdout + finish.stderr

    db = sqlite_utils.Database(db_path)
    job_rows = list(db["jobs"].rows)
    assert len(job_rows) == len(MODELS) and {r["status"] for r in job_rows} == {"done"}
    runs = list(db["throughput"].rows)
    assert sorted(r["model"] for r in runs) == sorted(MODELS)  # every job measured once: no run twice
    assert sum(r["attempts"] for r in job_rows) <= len(MODELS) + 1  # only the killed sweep's job ran again
    assert any("taken by another sweep" in out or "running in another sweep" in out for out in outputs)
    intervals = sorted((r["started_at"], r["finished_at"]) for r in job_rows)
    for (_, finished), (started, _) in zip(intervals, intervals[1:]):
        assert started >= finished  # the CPU ran one job at a time, whichever sweep it came from


@pytest.fixture
def world_readable_tmp():
    """A folder another user can reach (pytest's tmp_path sits in a folder only its user may enter)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="second-user-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second user")
def test_a_second_user_shares_the_device_locks_and_an_older_private_folder_is_one_line(world_readable_tmp):
    """The first user's sweep makes the lock folder and files everyone's, whatever its umask; a folder
    another user made for themselves alone is a one-line error, not a traceback."""

    def as_nobody(folder: Path) -> str:
        read, write = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            try:
                outcome = f"taken {DeviceLock('gpu0', folder).try_acquire()}"
            except Exception as e:
                outcome = f"{type(e).__name__}: {e}"
            os.write(write, outcome.encode())
            os._exit(0)
        os.close(write)
        os.waitpid(child, 0)
        with os.fdopen(read) as pipe:
            return pipe.read()

    tmp_path = world_readable_tmp
    old_umask = os.umask(0o077)  # a user who keeps everything private
    try:
        shared = tmp_path / "shared" / "locks"
        mine = DeviceLock("gpu0", shared)
        assert mine.try_acquire()
        mine.release()
    finally:
        os.umask(old_umask)
    (tmp_path / "shared").chmod(0o755)
    assert (
        oct(shared.stat().st_mode & 0o7777) == "0o1777"
        and oct((shared / "gpu0.lock").stat().st_mode & 0o777) == "0o666"
    )
    assert as_nobody(shared) == "taken True"

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o755)  # made by an older version under a umask of 022: nobody may not add a file
    assert as_nobody(private).startswith(
        f"LeaderboardError: Cannot open the device lock {private / 'gpu0.lock'} "
        "(Permission denied): another user's sweep made it for them alone."
    )


def test_a_sweep_that_lost_its_claim_stores_nothing_and_the_job_stays_the_other_sweeps(db):
    """Sweep A frozen past its lease while running a job; sweep B took the claim and stored its run.
    When A wakes up with its own result, done or failed, nothing of it is written."""
    from db.queue import LOST, record_result

    enqueue(db, jobs(2), "s")
    frozen, other = new_owner(), new_owner()
    for key in ("k0", "k1"):
        assert start(db, key, frozen)
    db.execute("UPDATE jobs SET lease_expires = 0")  # A stopped renewing: its claims lapsed
    for key in ("k0", "k1"):
        assert start(db, key, other)
    job0, job1 = jobs(2)
    assert record_result(db, job0, measured_run("m0", 12.21), other) == "done"

    assert record_result(db, job0, measured_run("m0", 17.68), frozen) == LOST  # A wakes with its own run
    assert record_result(db, job1, {"status": "failed", "error": "killed"}, frozen) == LOST
    assert [r["samples_per_sec"] for r in db["throughput"].rows] == [12.21]  # stored once: B's
    row0, row1 = db["jobs"].get("k0"), db["jobs"].get("k1")
    assert (row0["status"], row0["owner"], row1["status"], row1["owner"]) == ("done", other, "running", other)
    assert row0["result_id"] == next(db["throughput"].rows)["id"] and row1["error"] is None


def measured_run(model: str, samples_per_sec: float) -> dict:
    return {
        "status": "done",
        "kind": "throughput",
        "model": model,
        "bench": "infer",
        "compile_mode": "eager",
        "precision": "fp32",
        "img_size": 8,
        "samples_per_sec": samples_per_sec,
        "environment": {"device": "cpu: test", "device_type": "cpu", "device_count": 1, "torch": "x", "timm": "y"},
    }


def running_job_of(db_path, pid: int) -> str | None:
    try:
        rows = (
            sqlite_utils.Database(db_path)
            .execute("SELECT key FROM jobs WHERE status = 'running' AND owner LIKE ?", [f"%:{pid}:%"])
            .fetchall()
        )
    except Exception:  # not created yet
        return None
    return rows[0][0] if rows else None


def freeze_while_running(sweep: subprocess.Popen, db_path) -> str:
    """SIGSTOP `sweep` at a moment it holds a running job (checked once it is stopped, so it cannot
    finish the job meanwhile); that job's key."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and sweep.poll() is None:
        if running_job_of(db_path, sweep.pid):
            os.kill(sweep.pid, signal.SIGSTOP)
            key = running_job_of(db_path, sweep.pid)
            if key:
                return key
            os.kill(sweep.pid, signal.SIGCONT)  # it recorded the job as we stopped it: the next one
        time.sleep(0.02)
    raise AssertionError("the sweep never held a running job")


def test_a_sweep_frozen_past_its_lease_stores_nothing_for_the_job_another_sweep_took_over(project, tmp_path):
    """Sweep A is frozen (SIGSTOP) while running a job, past its lease; sweep B, a second host's view
    of the same database (device locks of its own), takes the job over and runs the rest. When A
    wakes, its run of that job is not stored: every job is stored once."""
    db_path = project / "lb.db"
    frozen = launch(project)
    key = freeze_while_running(frozen, db_path)
    try:
        with sqlite3.connect(db_path, timeout=30) as conn:  # its lease lapses while it is frozen
            conn.execute("UPDATE jobs SET lease_expires = 0 WHERE key = ?", [key])
        host_b = tmp_path / "host-b"
        host_b.mkdir()
        other = invoke("eval-all", "--sweep", "shared", "--no-site", cwd=project, env={"TMPDIR": str(host_b)})
        assert other.returncode == 0, other.stdout + other.stderr
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    woken = frozen.communicate(timeout=300)[0]
    assert frozen.returncode == 0, woken
    db = sqlite_utils.Database(db_path)
    assert sorted(r["model"] for r in db["throughput"].rows) == sorted(MODELS)  # every job stored once
    assert {r["status"] for r in db["jobs"].rows} == {"done"}
    assert db["jobs"].get(key)["owner"].split(":")[1] != str(frozen.pid)  # B's run of it is the one kept
    assert "[-] not stored: throughput" in woken


HOLD_THE_DEVICE = """
import sys, time
from pathlib import Path
from jobs.executors.device_locks import DeviceLock
lock = DeviceLock(sys.argv[1], Path(sys.argv[2]))
assert lock.try_acquire()
print("held", flush=True)
time.sleep(float(sys.argv[3]))
"""


def hold_device(device: str, folder: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_DEVICE, device, str(folder), str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_waiting_sweep_names_who_holds_the_device_and_how_to_free_it_when_stopped(tmp_path):
    holder = hold_device("gpu0", tmp_path, 60)
    try:
        waiter = DeviceLock("gpu0", tmp_path)
        assert not waiter.try_acquire()
        assert waiter.holder().startswith(f"pid {holder.pid} (python -c ") and " since " in waiter.holder()
        os.kill(holder.pid, signal.SIGSTOP)
        time.sleep(0.2)
        assert waiter.holder().endswith(
            f", stopped (Ctrl-Z or SIGSTOP): `kill -CONT {holder.pid}` lets it "
            f"finish, `kill {holder.pid}` frees the device"
        )
    finally:
        holder.kill()
        holder.wait()
    assert waiter.try_acquire()  # the kernel dropped the killed holder's lock


def test_the_executor_says_its_slot_waits_and_for_whom_then_runs(tmp_path):
    from jobs.executors.device_locks import LOCK_FOLDER
    from jobs.executors.local import LocalExecutor, Slot

    holder = hold_device("cpu", LOCK_FOLDER, 2)
    said, done = [], []
    try:
        doubles = {"throughput": "job_doubles:behave"}
        with LocalExecutor([Slot("cpu")], timeout_s=60, job_functions=doubles, preload=[]) as executor:
            executor.run(
                [Job("k", "throughput", "m", {"model": "m"})],
                lambda job, slot: None,
                lambda job, slot, result: done.append(result["status"]),
                lambda slot, who: said.append((slot, who)),
            )
    finally:
        holder.kill()
        holder.wait()
    assert said[0][0] == "cpu" and said[0][1].startswith(f"pid {holder.pid} (python -c ")
    assert said[-1] == ("cpu", None) and len(said) == 2 and done == ["done"]  # told once, not at every poll


def test_status_lists_the_devices_held_now_and_by_whom(tmp_path, db, run_invoke):
    import uuid

    from jobs.executors.device_locks import LOCK_FOLDER, held_devices

    let_go = DeviceLock("free", tmp_path)  # a lock file whose holder let go
    assert let_go.try_acquire()
    let_go.release()
    holder = hold_device("gpu0", tmp_path, 60)
    device = f"test-{uuid.uuid4().hex[:8]}"  # on the real lock folder, under a name no sweep uses
    real = hold_device(device, LOCK_FOLDER, 60)
    try:
        held = held_devices(tmp_path)
        assert list(held) == ["gpu0"] and held["gpu0"].startswith(f"pid {holder.pid} (python -c ")
        status = run_invoke("status")
        assert status.returncode == 0, status.stderr
        assert f"device {device} of this host: held by pid {real.pid} (python -c " in status.stdout
    finally:
        for process in (holder, real):
            process.kill()
            process.wait()
        (LOCK_FOLDER / f"{device}.lock").unlink(missing_ok=True)
