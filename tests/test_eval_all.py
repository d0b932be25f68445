"""`invoke eval-all` through the real command line: smoke sweep, resume after kill -9, queue flags."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import sqlite_utils

from checkout import SWEEPS_YAML, invoke, make_project


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with our tasks.py and an invoke.yaml holding two small sweeps."""
    return make_project(tmp_path, monkeypatch, SWEEPS_YAML)


def inline_options():
    """A campaign's options for an executor double that is given its jobs (no sweep to plan)."""
    from jobs.campaign import Options
    from jobs.sweep import Narrowing

    return Options(sweep_name="tiny", sweep={}, narrowing=Narrowing(), data=None, executor="inline", ray_address=None,
                   device="cpu", timeout_s=60)  # fmt: skip


def jobs_table(path):
    return {r["model"]: r for r in sqlite_utils.Database(path)["jobs"].rows}


def test_a_campaign_runs_on_any_executor_and_skips_what_is_stored(db):
    """run_campaign needs only the Executor interface: here a double that runs jobs in this process."""
    from job_doubles import InlineExecutor
    from jobs.campaign import run_campaign
    from jobs.sweep import Job

    jobs = [
        Job("k1", "throughput", "m1", {"model": "m1"}),
        Job("k2", "throughput", "m2", {"model": "m2", "behaviour": "fail"}),
    ]
    options = inline_options()
    executors, said = [], []

    def make(options, target):
        executors.append(InlineExecutor(jobs))
        return executors[-1]

    summary = run_campaign(db, options, say=said.append, make=make)
    assert (summary.done, [f["model"] for f in summary.failed]) == (1, ["m2"])
    assert said[1:] == [
        "throughput: 2 jobs, 2 to run\ntotal: 2 jobs; 0 already done, 2 to run (0 interrupted before), 0 failed before",
        "Accuracy jobs skipped: no dataset configured. Pass --data-dir /path/to/imagenet/val or set "
        "leaderboard.data_dir in invoke.yaml.",
    ]
    assert run_campaign(db, options, say=said.append, make=make) is None  # nothing left to run
    assert said[-2].endswith(
        "total: 2 jobs; 1 already done, 0 to run (0 interrupted before), 1 failed before "
        "(pass --retry-failed to run them again)"
    )
    assert all(e.started and e.closed for e in executors) and db["throughput"].count == 1


def test_dry_run_prints_the_plan_and_runs_nothing(project):
    result = invoke("eval-all", "--dry-run", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "throughput: 72 jobs, 72 to run" in result.stdout  # 18 models x 2 benches x eager, default on a CPU
    assert "reduce-overhead not measured on cpu: it is default there" in result.stdout
    assert (
        "max-autotune not measured on cpu: the sweep measures eager, default on a cpu; "
        "--compile-mode max-autotune asks for it."
    ) in result.stdout
    assert "Accuracy jobs skipped: no dataset configured. Pass --data-dir" in result.stdout
    narrowed = invoke(
        "eval-all",
        "--dry-run",
        "--models",
        "test_vit*",
        "--bench",
        "infer",  # a job timeout
        "--compile-mode",
        "eager",
        "--compile-mode",
        "max-autotune",
        "--timeout",
        "1",  # shorter than
        cwd=project,
    )  # planning: planning has its own
    assert narrowed.returncode == 0, narrowed.stderr
    assert "throughput: 10 jobs, 10 to run" in narrowed.stdout  # eager and max-autotune
    assert "Compile workers on a CPU" not in narrowed.stdout
    spelled_as_bench = invoke("eval-all", "--dry-run", "--model", "test_vit", "--models", "test_resnet", cwd=project)
    assert "throughput: 8 jobs, 8 to run" in spelled_as_bench.stdout  # --model adds to --models: 2 x 2 x 2
    workers = invoke("eval-all", "--dry-run", "--models", "test_vit", "--compile-workers", "1", cwd=project)
    assert "Compile workers on a CPU share the cores being measured" in workers.stdout  # they bias its figures
    assert sqlite_utils.Database(project / "lb.db")["jobs"].count == 0


def test_bad_flags_are_one_line_errors(project):
    for args, message, code in [
        (("--sweep", "nope"), "Unknown sweep 'nope': choose one of broken, default, smoke, tiny", 2),
        (("--executor", "slurm"), "--executor 'slurm' is not one of local, ray.", 2),
        (("--models", "test_resnett"), "Unknown model 'test_resnett'", 1),
        (("--data-dir", project / "missing"), f"No dataset at {project / 'missing'}: pass --data-dir", 1),
        (("--device", "tpu"), "--device 'tpu' is not cpu or cuda.", 2),
        (("--timeout", "abc"), "Bad --timeout 'abc': pass the seconds a job may run, e.g. --timeout 1800.", 2),
        (("--timeout", "-5"), "Bad --timeout '-5': pass the seconds", 2),
    ]:
        result = invoke("eval-all", "--dry-run", *args, cwd=project)
        assert result.returncode == code and message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_failed_jobs_are_retried_only_when_asked_and_force_reruns_done_ones(project):
    first = invoke("eval-all", "--sweep", "broken", cwd=project)
    assert first.returncode == 1
    assert "1 jobs failed:" in first.stdout and "Input height (8)" in first.stdout
    again = invoke("eval-all", "--sweep", "broken", cwd=project)
    assert "1 failed before (pass --retry-failed to run them again)" in again.stdout
    assert jobs_table(project / "lb.db")["test_vit"]["attempts"] == 1
    retried = invoke("eval-all", "--sweep", "broken", "--retry-failed", cwd=project)
    assert retried.returncode == 1
    assert jobs_table(project / "lb.db")["test_vit"]["attempts"] == 2

    assert invoke("eval-all", "--sweep", "tiny", "--no-site", cwd=project).returncode == 0
    shutil.rmtree(project / "site")  # built by the sweeps above
    nothing_left = invoke("eval-all", "--sweep", "tiny", cwd=project)
    assert "1 already done, 0 to run" in nothing_left.stdout
    assert f"Site built: {project / 'site' / 'index.html'}" in nothing_left.stdout  # it builds the site all the same
    forced = invoke("eval-all", "--sweep", "tiny", "--force", cwd=project)
    assert "1 jobs run: 1 done, 0 failed." in forced.stdout
    db = sqlite_utils.Database(project / "lb.db")
    runs = list(db["throughput"].rows_where(order_by="created_at"))
    assert len(runs) == 2 and runs[0]["series"] == runs[1]["series"]  # the forced re-run added a run
    done = [r for r in db["jobs"].rows if r["status"] == "done"]
    assert len(done) == 1 and done[0]["attempts"] == 2 and done[0]["result_id"] == runs[1]["id"]


def test_a_failed_job_keeps_its_traceback_and_status_says_where_to_read_it(project):
    assert invoke("eval-all", "--sweep", "broken", "--no-site", cwd=project).returncode == 1
    job = jobs_table(project / "lb.db")["test_vit"]
    assert job["error"].startswith("AssertionError: Input height (8)")
    assert job["traceback"].startswith("Traceback (most recent call last)")
    assert "throughput_measure.py" in job["traceback"] and "line" in job["traceback"]
    status = invoke("status", cwd=project).stdout
    assert "invoke status --job JOB" in status and job["key"][:12] in status
    details = invoke("status", "--job", job["key"][:8], cwd=project)
    assert details.returncode == 0, details.stderr
    assert f"key: {job['key']}" in details.stdout and "traceback:" in details.stdout
    assert "throughput_measure.py" in details.stdout
    unknown = invoke("status", "--job", "zzz", cwd=project)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "No job with a key starting 'zzz': pass a key from invoke status's job column."


def wait_for_done_jobs(db_path, count, process, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if db_path.exists():
            try:
                if (
                    sqlite_utils.Database(db_path)
                    .execute("SELECT count(*) FROM jobs WHERE status = 'done'")
                    .fetchone()[0]
                    >= count
                ):
                    return
            except Exception:  # tables not created yet
                pass
        time.sleep(0.2)
    raise AssertionError("the sweep did not get going")


def processes_in(folder) -> list[int]:
    """Processes whose working directory is `folder` (the sweep's workers start there)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/cwd") == str(folder):
                found.append(int(pid))
        except OSError:
            pass
    return found


def wait_until_no_process_runs_in(folder, timeout=30):
    deadline = time.monotonic() + timeout
    while processes_in(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_in(folder), f"left running: {processes_in(folder)}"


@pytest.mark.slow
def test_smoke_sweep_killed_mid_run_resumes_and_runs_every_job_exactly_once(project):
    db_path = project / "lb.db"
    command = [sys.executable, "-m", "invoke", "eval-all", "--sweep", "smoke"]
    sweep = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_done_jobs(db_path, 3, sweep)
    os.kill(sweep.pid, signal.SIGKILL)
    sweep.wait()
    wait_until_no_process_runs_in(project)  # the job server and the job running then exit too

    interrupted = jobs_table(db_path)
    done_before = {m for m, r in interrupted.items() if r["status"] == "done"}
    assert 3 <= len(done_before) < 18

    resumed = invoke("eval-all", "--sweep", "smoke", cwd=project)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(done_before)} already done" in resumed.stdout
    final = jobs_table(db_path)
    assert len(final) == 18 and {r["status"] for r in final.values()} == {"done"}
    assert all(final[m]["attempts"] == 1 for m in done_before)  # finished work is never redone
    db = sqlite_utils.Database(db_path)
    rows = list(db["throughput"].rows)
    assert len(rows) == 18 and len({r["model"] for r in rows}) == 18
    assert {r["source"] for r in rows} == {"measured"} and all(r["samples_per_sec"] > 0 for r in rows)
    assert all(r["job_key"] == final[r["model"]]["key"] for r in rows)
    models = {m["name"]: m for m in db["models"].rows}  # catalogued while planning, for the site
    assert len(models) == 18 and models["test_efficientnet_gn"]["norm"] == "GroupNorm"

    assert f"Site built: {project / 'site' / 'index.html'}" in resumed.stdout
    assert "test_vit3" in (project / "site" / "index.html").read_text()

    status = invoke("status", cwd=project)
    assert re.search(r"^done\s+18$", status.stdout, re.M)


@pytest.mark.slow
def test_accuracy_jobs_run_from_a_configured_dataset_and_checkpoint_folder(project):
    from imagenet_fixtures import make_labelled_dataset, save_checkpoint

    checkpoints = project / "weights"
    checkpoint = save_checkpoint("test_resnet", checkpoints / "test_resnet.r160_in1k.safetensors")
    folder, class_map = make_labelled_dataset(project / "data", "test_resnet", checkpoint, count=6)
    (project / "invoke.yaml").write_text(
        SWEEPS_YAML
        + f"""\
    acc:
      models: [test_resnet]
      accuracy: {{img_sizes: [160], batch_size: 4, workers: 0}}
  checkpoint_dir: {checkpoints}
  class_map: {class_map}
"""
    )
    no_data = invoke("eval-all", "--sweep", "acc", cwd=project)
    assert no_data.returncode == 0 and "Accuracy jobs skipped: no dataset configured" in no_data.stdout

    result = invoke("eval-all", "--sweep", "acc", "--data-dir", folder, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    row = next(sqlite_utils.Database(project / "lb.db")["accuracy"].rows)
    assert (row["model"], row["tag"], row["img_size"], row["top1"], row["images"]) == (
        "test_resnet",
        "r160_in1k",
        160,
        100.0,
        6,
    )
    assert row["weights"].endswith("test_resnet.r160_in1k.safetensors") and row["source"] == "measured"


def test_a_campaigns_options_are_built_by_name_only():
    """eval-all's many flags reach the campaign by name: a positional call (where a reordering would go
    unnoticed) is refused."""
    from types import SimpleNamespace

    from jobs.campaign import Options
    from jobs.sweep import Narrowing

    with pytest.raises(TypeError):
        Options("tiny", {}, Narrowing(), None, "local", None, "cpu", 60)
    with pytest.raises(TypeError):
        Options.from_flags(SimpleNamespace(), "default", ["test_vit"])


def test_a_database_that_cannot_take_a_result_stops_the_sweep_in_one_line_keeping_the_result(db, db_path, monkeypatch):
    """SQLite says the disk is full while a finished job is stored (the call patched at that boundary):
    the sweep stops with one line naming the cause and an export file holding the result, which
    import-results stores once there is room."""
    import sqlite3

    from db import queue
    from db.errors import LeaderboardError
    from db.timm_csv import import_file
    from job_doubles import InlineExecutor
    from jobs.campaign import run_campaign
    from jobs.sweep import Job

    jobs = [Job("k1", "throughput", "m1", {"model": "m1"}), Job("k2", "throughput", "m2", {"model": "m2"})]
    options = inline_options()
    real = queue.record_result

    def disk_full_at_the_second(db, job, result, owner=None):
        if job.key == "k2":
            raise sqlite3.OperationalError("database or disk is full")
        return real(db, job, result, owner)

    monkeypatch.setattr(queue, "record_result", disk_full_at_the_second)
    with pytest.raises(LeaderboardError) as stopped:
        run_campaign(db, options, say=lambda line: None, make=lambda options, target: InlineExecutor(jobs))
    kept = next(db_path.parent.glob("leaderboard-throughput-unstored-*.json"))
    assert str(stopped.value) == (
        f"Cannot store throughput m2 in {db_path}: its disk is full. The sweep stopped; the jobs stored before "
        f"stay, this job's result is kept in {kept} (invoke import-results {kept} stores it). Free space or "
        "repair the database, then run the same command again."
    )
    assert [r["model"] for r in db["throughput"].rows] == ["m1"]
    monkeypatch.setattr(queue, "record_result", real)
    assert import_file(db, str(kept)) == ("throughput", 1)
    stored = {r["model"]: r for r in db["throughput"].rows}
    assert set(stored) == {"m1", "m2"} and stored["m2"]["source"] == "measured" and stored["m2"]["job_key"] == "k2"


class DamagingExecutor:
    """The inline double, damaging the database file just before its last job finishes."""

    def __init__(self, jobs, damage):
        from job_doubles import InlineExecutor

        self.inline, self.damage = InlineExecutor(jobs), damage

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def plan(self, *args):
        return self.inline.plan(*args)

    def run(self, jobs, on_start, on_finish, on_wait=None):
        from job_doubles import behave

        for i, job in enumerate(jobs):
            if on_start(job, "inline") is not False:
                if i == len(jobs) - 1:
                    self.damage()
                on_finish(job, "inline", behave(job.spec))


@pytest.mark.parametrize(
    "what, damage",
    [
        (
            "was truncated or overwritten while the sweep ran: it is no longer a database",
            lambda path: os.truncate(path, 0),
        ),
        (
            "was truncated or overwritten while the sweep ran: it is no longer a database",
            lambda path: path.write_bytes(os.urandom(65536)),
        ),
        ("was replaced by another file while the sweep ran", lambda path: os.replace(other_database(path), path)),
    ],
)
def test_a_database_damaged_during_a_sweep_stops_it_in_one_line_keeping_every_run_it_measured(tmp_path, what, damage):
    """Truncated, overwritten or replaced under a running sweep: it says so instead of "3 done", exits
    non-zero (a LeaderboardError), and keeps this sweep's runs in a file import-results reads."""
    from db.errors import LeaderboardError
    from db.schema import open_db
    from db.timm_csv import import_file
    from jobs.campaign import run_campaign
    from jobs.sweep import Job

    path = tmp_path / "lb.db"
    jobs = [Job(f"k{i}", "throughput", f"m{i}", {"model": f"m{i}"}) for i in range(3)]
    options = inline_options()
    with pytest.raises(LeaderboardError) as stopped:
        run_campaign(
            open_db(path),
            options,
            say=lambda line: None,
            make=lambda options, target: DamagingExecutor(jobs, lambda: damage(path)),
        )
    message = str(stopped.value)
    assert message.startswith(f"{path} {what}. The sweep stopped; the 3 runs it measured are kept in "), message
    kept = message.split("kept in ")[1].split(" (invoke import-results")[0]
    restored = open_db(tmp_path / "restored.db")
    assert import_file(restored, kept) == ("throughput", 3)
    assert sorted(r["model"] for r in restored["throughput"].rows) == ["m0", "m1", "m2"]


def other_database(path):
    other = path.with_name("other.db")
    sqlite_utils.Database(other)["t"].insert({"x": 1})
    return other
