"""Progress that tells the truth: an ETA from what each kind of job costs, a live line that ticks,
a line per job with its time off a terminal, and a Ctrl-C that says what was kept."""

import io
import os
import re
import signal
import subprocess
import sys
import time

import sqlite_utils

import jobs.progress as progress_module
from checkout import make_project
from jobs.progress import Progress, cost_key
from jobs.sweep import Job

TWO_VITS = """\
leaderboard:
  db: lb.db
  sweeps:
    compiles:
      models: [test_vit, test_vit2, test_vit3, test_vit4]
      throughput: {benches: [infer], compile_modes: [default], precision: fp32, batch_size: 2,
                   warmup_steps: 1, steps: 2, repeats: 2}
"""


def job(key: str, mode: str) -> Job:
    return Job(
        key, "throughput", "test_vit", {"model": "test_vit", "bench": "infer", "compile_mode": mode, "device": "cpu"}
    )


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_eta_adds_up_what_each_kind_of_job_costs(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    jobs = [job("e1", "eager"), job("c1", "default"), job("e2", "eager"), job("c2", "default"), job("e3", "eager")]
    progress = Progress(jobs, stream=io.StringIO())
    assert progress.eta() is None  # nothing known yet
    for key, seconds in (("e1", 2.0), ("c1", 20.0)):
        progress.started(next(j for j in jobs if j.key == key), "cpu")
        clock.now += seconds
        progress.finished(next(j for j in jobs if j.key == key), "cpu", "done", None)
    assert progress.eta() == 2 * 2.0 + 20.0  # two eager jobs and one compile left, not 3 x the mean (11 s)
    progress.started(jobs[3], "cpu")
    clock.now += 5.0
    assert progress.eta() == 2 * 2.0 + 15.0  # the running compile has 15 s to go


def test_one_heavy_model_does_not_skew_the_estimate_of_every_job_left(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    jobs = [job(f"c{i}", "default") for i in range(6)]
    progress = Progress(jobs, stream=io.StringIO())
    for one, seconds in zip(jobs, (20.0, 22.0, 120.0)):  # the third, a test_maxvit, compiles for 2 minutes
        progress.started(one, "cpu")
        clock.now += seconds
        progress.finished(one, "cpu", "done", None)
    assert progress.eta() == 3 * 22.0  # the median compile; a mean (54 s) would say 162 s


def test_the_eta_counts_jobs_that_overlap_as_compile_workers_run_them(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    jobs = [job(f"c{i}", "default") for i in range(6)]
    progress = Progress(jobs, stream=io.StringIO(), slots=1)  # one GPU, and a compile worker beside it
    for pair in (jobs[0:2], jobs[2:4]):  # two jobs at a time, each 10 s (compile, then a turn on the GPU)
        for lane, one in zip(("gpu0", "gpu0+1"), pair):
            progress.started(one, lane)
        clock.now += 10.0
        for lane, one in zip(("gpu0", "gpu0+1"), pair):
            progress.finished(one, lane, "done", None)
    assert progress.eta() == 10.0  # the last two jobs, side by side: not 2 x 10 s on "one slot"


def test_earlier_sweeps_seed_the_first_estimate():
    jobs = [job("e1", "eager"), job("c1", "default")]
    past = {cost_key("throughput", jobs[0].spec): [3.0, 4.0, 5.0], cost_key("throughput", jobs[1].spec): [30.0]}
    assert Progress(jobs, stream=io.StringIO(), past_costs=past).eta() == 34.0
    assert Progress(jobs, stream=io.StringIO(), slots=2, past_costs=past).eta() == 17.0


def test_a_jobs_own_earlier_time_beats_its_kinds(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)

    def compile_job(model):
        return Job(
            model, "throughput", model, {"model": model, "bench": "infer", "compile_mode": "default", "device": "cpu"}
        )

    past = {
        cost_key("throughput", compile_job(m).spec): [s]
        for m, s in (("test_vit", 10.0), ("test_resnet", 12.0), ("test_maxvit", 100.0))
    }
    assert Progress([compile_job("test_maxvit")], stream=io.StringIO(), past_costs=past).eta() == 100.0
    progress = Progress([compile_job("test_vit"), compile_job("test_convnext")], stream=io.StringIO(), past_costs=past)
    assert progress.eta() == 10.0 + 12.0  # a model never run here: its kind's median in earlier sweeps
    progress.started(compile_job("test_vit"), "cpu")
    clock.now += 30.0
    progress.finished(compile_job("test_vit"), "cpu", "done", None)
    assert progress.eta() == 30.0  # then this sweep's own median of the kind


def test_off_a_terminal_each_finished_job_is_a_line_with_its_time():
    stream = io.StringIO()
    progress = Progress([job("e1", "eager")], stream=stream)
    progress.started(job("e1", "eager"), "cpu")
    progress.finished(job("e1", "eager"), "cpu", "failed", "ValueError: no")
    assert stream.getvalue().startswith("[1/1] failed throughput test_vit infer eager in 0.")
    assert stream.getvalue().rstrip().endswith("s: ValueError: no")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_the_line_ticks_every_second_while_a_job_runs(monkeypatch):
    monkeypatch.setattr(progress_module, "TICK_S", 0.05)
    stream = Terminal()
    progress = Progress([job("e1", "eager")], stream=stream)
    progress.started(job("e1", "eager"), "cpu")
    drawn = stream.getvalue().count("\r")
    time.sleep(0.5)
    assert stream.getvalue().count("\r") >= drawn + 3  # redrawn with no job starting or ending
    assert "cpu: throughput test_vit infer eager (0:00:00)" in stream.getvalue()
    progress.close()


def test_a_long_count_is_a_line_per_tenth_off_a_terminal_and_a_live_line_on_one(monkeypatch):
    from jobs.progress import CountProgress

    log = io.StringIO()
    counting = CountProgress("catalogued", stream=log)
    for done in range(0, 101, 4):
        counting.update(done, 100, failed=done // 50)
    counting.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("catalogued 100/100 (2 failed) | elapsed 0:00:00 ETA 0:00:00")

    monkeypatch.setattr(progress_module, "TICK_S", 0.05)
    terminal = Terminal()
    counting = CountProgress("catalogued", stream=terminal)
    counting.update(3, 10, failed=0)
    time.sleep(0.3)
    counting.close()
    assert terminal.getvalue().count("\r\033[Kcatalogued 3/10 (0 failed)") >= 3 and terminal.getvalue().endswith("\n")


def test_ctrl_c_says_what_was_kept_and_the_next_run_resumes(tmp_path, monkeypatch):
    project = make_project(tmp_path, monkeypatch, TWO_VITS)
    command = [sys.executable, "-m", "invoke", "eval-all", "--sweep", "compiles", "--no-site"]
    sweep = subprocess.Popen(
        command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and sweep.poll() is None and not started_jobs(project / "lb.db"):
        time.sleep(0.1)
    time.sleep(1.0)  # into the first compile
    os.killpg(sweep.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    output = sweep.communicate(timeout=120)[0]
    assert sweep.returncode == 130, output
    assert "Traceback" not in output and "leaked" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("Interrupted: ") and last.endswith("Run the same command again to resume."), output

    status = subprocess.run([sys.executable, "-m", "invoke", "status"], cwd=project, capture_output=True, text=True)
    assert re.search(r"^interrupted +1$", status.stdout, re.M), status.stdout  # its sweep died mid-job
    resumed = subprocess.run(command + ["--dry-run"], cwd=project, capture_output=True, text=True)
    done = (
        sqlite_utils.Database(project / "lb.db")
        .execute("SELECT count(*) FROM jobs WHERE status = 'done'")
        .fetchone()[0]
    )
    assert f"{done} already done, {4 - done} to run" in resumed.stdout, resumed.stdout


def started_jobs(db_path) -> int:
    try:
        return (
            sqlite_utils.Database(db_path)
            .execute("SELECT count(*) FROM jobs WHERE started_at IS NOT NULL")
            .fetchone()[0]
        )
    except Exception:  # not created yet
        return 0


def test_a_run_whose_claim_another_sweep_took_leaves_the_count_with_a_line_saying_so():
    stream = io.StringIO()
    progress = Progress([job("a", "eager"), job("b", "eager")], stream=stream, slots=1)
    progress.started(job("a", "eager"), "cpu")
    progress.lost_to_another_sweep(job("a", "eager"), "cpu")
    assert (progress.total, progress.elsewhere, progress.current) == (1, 1, {})
    assert (
        "[-] not stored: throughput test_vit infer eager: another sweep took it over while it ran here"
        in stream.getvalue()
    )


def test_a_slot_waiting_for_its_device_says_for_whom_in_the_line_and_once_in_the_log():
    stream = io.StringIO()
    progress = Progress([job("a", "eager")], stream=stream, slots=1)
    progress.device_wait("cpu", "pid 42 (python -m invoke eval-all) since 10:02:11")
    assert "cpu waits for pid 42 (python -m invoke eval-all) since 10:02:11" in progress.line()
    assert (
        stream.getvalue() == "[~] cpu waits for its device, held by pid 42 (python -m invoke eval-all) since 10:02:11\n"
    )
    progress.device_wait("cpu", None)
    progress.started(job("a", "eager"), "cpu")
    assert "waits" not in progress.line() and "cpu: throughput test_vit infer eager" in progress.line()
