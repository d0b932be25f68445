"""Isolated job processes: crashes and hangs fail alone, slots get their own GPU, results return."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from checkout import ROOT
from db.claims import process_alive as alive
from db.errors import LeaderboardError
from db.queue import enqueue
from jobs.campaign import run_jobs
from jobs.executors.local import LocalExecutor, Slot, local_slots
from jobs.progress import Progress
from jobs.sweep import Job, detect_target, visible_gpus

DOUBLES = {"throughput": "job_doubles:behave"}


def job(name, **spec):
    return Job(key=f"key-{name}", kind="throughput", model=name, spec={"model": name, **spec})


def collect(executor, jobs):
    results, slots = {}, {}
    executor.run(jobs, lambda j, s: slots.setdefault(j.model, s), lambda j, s, r: results.setdefault(j.model, r))
    return results, slots


def test_segfault_and_hang_fail_alone_while_the_others_finish(db, capsys):
    jobs = [job("ok1"), job("crash", behaviour="segfault"), job("ok2"), job("stuck", behaviour="hang"), job("ok3")]
    enqueue(db, jobs, "test")
    executor = LocalExecutor([Slot("cpu")], timeout_s=3, job_functions=DOUBLES, preload=[])
    summary = run_jobs(db, executor, jobs, Progress(jobs))

    status = {r["model"]: r for r in db["jobs"].rows}
    assert {m: status[m]["status"] for m in status} == {
        "ok1": "done",
        "crash": "failed",
        "ok2": "done",
        "stuck": "failed",
        "ok3": "done",
    }
    assert "SIGSEGV" in status["crash"]["error"] and status["crash"]["exit_code"] == -11
    assert "starting crash (segfault)" in status["crash"]["output_tail"]
    assert "Fatal Python error" in status["crash"]["output_tail"]  # faulthandler's stack
    assert status["stuck"]["error"] == "timed out after 3 s (process group killed)"
    assert db["throughput"].count == 3
    assert summary.done == 3 and len(summary.failed) == 2
    assert "2 jobs failed:" in summary.text() and "stuck" in summary.text()


def test_timeout_kills_the_whole_process_group(tmp_path):
    """A job that started its own child (as inductor's compile workers are) leaves nothing behind."""
    pid_file = tmp_path / "grandchild.pid"
    spec = {"behaviour": "hang"}
    executor = LocalExecutor(
        [Slot("cpu")], timeout_s=2, job_functions={"throughput": "job_doubles:spawn_and_hang"}, preload=[]
    )
    results, _ = collect(executor, [job("spawner", pid_file=str(pid_file), **spec)])
    assert results["spawner"]["status"] == "failed"
    grandchild = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(grandchild, 0)
            threading.Event().wait(0.1)


def test_two_slots_run_in_parallel_with_different_cuda_visible_devices():
    slots = [Slot("gpu0", {"CUDA_VISIBLE_DEVICES": "0"}), Slot("gpu1", {"CUDA_VISIBLE_DEVICES": "1"})]
    executor = LocalExecutor(slots, timeout_s=30, job_functions=DOUBLES, preload=[])
    jobs = [job(f"m{i}", behaviour="sleep", seconds=0.5, where=True) for i in range(4)]
    results, ran_on = collect(executor, jobs)
    assert {s for s in ran_on.values()} == {"gpu0", "gpu1"}
    for model, slot in ran_on.items():
        assert results[model]["cuda_visible_devices"] == slot.removeprefix("gpu")
    assert len({r["pid"] for r in results.values()}) == 4  # a fresh process per job


def test_an_interrupted_sweep_kills_its_running_jobs_and_close_stops_the_server(tmp_path):
    """Ctrl-C while a job runs: the job's whole process group goes; close() leaves no server behind."""
    pid_file = tmp_path / "grandchild.pid"
    executor = LocalExecutor(
        [Slot("a"), Slot("b")], timeout_s=60, job_functions={"throughput": "job_doubles:spawn_and_hang"}, preload=[]
    )

    def on_start(job, slot):
        if job.model == "second":  # the first one is running by now
            wait_for_pid(pid_file)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        executor.run(
            [job("first", pid_file=str(pid_file)), job("second", pid_file=str(pid_file))],
            on_start,
            lambda j, s, r: None,
        )
    grandchild, server = wait_for_pid(pid_file), executor.server.process.pid
    executor.close()
    assert wait_until_gone(grandchild) and not alive(server)


def test_planning_never_imports_torch_in_this_process():
    """Local and dry-run planning both happen in a job process: `invoke` stays light and exits fast."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", PLAN_TWICE], env=env, capture_output=True, text=True, timeout=300)
    assert result.stdout.split() == ["1", "0", "1", "1", "False"], result.stderr


PLAN_TWICE = """
import sys
from jobs.campaign import Options, make_executor
from jobs.sweep import BUILTIN_SWEEPS, Narrowing, detect_target
target = detect_target("cpu")
for dry_run in (True, False):
    options = Options(sweep_name="smoke", sweep=BUILTIN_SWEEPS["smoke"], narrowing=Narrowing(["test_resnet"]), data=None,
                      executor="local", ray_address=None, device="cpu", timeout_s=300,
                      dry_run=dry_run)
    with make_executor(options, target) as executor:
        jobs, models = executor.plan(options.sweep, target, None, options.narrowing, None if dry_run else set())
    print(len(jobs), len(models))
print("torch" in sys.modules)
"""


def test_local_slots_follow_the_visible_gpus(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in local_slots("cuda", 2)] == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert [(s.name, s.env["CUDA_VISIBLE_DEVICES"]) for s in local_slots("cuda", 2)] == [("gpu0", "3"), ("gpu1", "5")]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-5d5b, MIG-c6d4f1ef")  # named as given, each job sees its own
    assert [(s.name, s.env["CUDA_VISIBLE_DEVICES"], s.device) for s in local_slots("cuda", 2)] == [
        ("gpu0", "GPU-5d5b", "GPU-5d5b"),
        ("gpu1", "MIG-c6d4f1ef", "MIG-c6d4f1ef"),
    ]
    assert [(s.name, s.env) for s in local_slots("cpu", 0)] == [("cpu", {"CUDA_VISIBLE_DEVICES": ""})]


NVIDIA_SMI_L = """GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5d5ba0d6-aaaa-bbbb-cccc-000000000000)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-7f00e1c2-aaaa-bbbb-cccc-111111111111)
  MIG 1g.5gb      Device  0: (UUID: MIG-c6d4f1ef-aaaa-bbbb-cccc-222222222222)
"""


@pytest.mark.parametrize(
    "visible, names",
    [
        (None, ["NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB"]),
        ("1", ["NVIDIA A100-SXM4-40GB"]),
        ("GPU-7f00e1c2-aaaa-bbbb-cccc-111111111111,0", ["NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"]),
        ("GPU-5d5b", ["NVIDIA H100 80GB HBM3"]),  # a unique prefix, as CUDA takes it
        ("MIG-c6d4f1ef-aaaa-bbbb-cccc-222222222222", ["NVIDIA A100-SXM4-40GB MIG 1g.5gb"]),
        ("0,7,1", ["NVIDIA H100 80GB HBM3"]),  # CUDA stops at the first unknown entry
        ("", []),  # empty: no GPU
    ],
)
def test_visible_gpus_take_indexes_uuids_and_mig_names(tmp_path, monkeypatch, visible, names):
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\n[ \"$1\" = -L ] && cat <<'END'\n{NVIDIA_SMI_L}END\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert visible_gpus() == names
    if not names:
        with pytest.raises(LeaderboardError, match="CUDA_VISIBLE_DEVICES='' names no GPU"):
            detect_target("cuda")


SWEEP_THAT_HANGS = """
import sys
from jobs.executors.local import LocalExecutor, Slot
from db.errors import LeaderboardError
from jobs.sweep import Job, detect_target, visible_gpus
if __name__ == "__main__":
    spec = {"model": "stuck", "pid_file": sys.argv[1]}
    LocalExecutor([Slot("cpu")], timeout_s=600, job_functions={"throughput": "job_doubles:spawn_and_hang"},
                  preload=[]).run([Job("k", "throughput", "stuck", spec)], lambda j, s: None, lambda j, s, r: None)
"""


def test_a_job_does_not_outlive_a_killed_sweep(tmp_path):
    """kill -9 of the process running the sweep: its running job (and what that started) dies too."""
    script, pid_file = tmp_path / "sweep.py", tmp_path / "grandchild.pid"
    script.write_text(SWEEP_THAT_HANGS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    sweep = subprocess.Popen([sys.executable, str(script), str(pid_file)], env=env)
    job = wait_for_pid(pid_file)
    os.kill(sweep.pid, signal.SIGKILL)
    sweep.wait()
    assert wait_until_gone(job)


def wait_for_pid(path, timeout=30) -> int:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return int(path.read_text())


def wait_until_gone(pid: int, timeout=10) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


def test_planning_failures_are_one_line_for_the_user_and_keep_the_traceback_for_a_bug():
    from db.errors import LeaderboardError
    from jobs.executors.base import planned

    with pytest.raises(LeaderboardError, match="^Unknown model 'x'"):
        planned({"status": "failed", "error": "Unknown model 'x'", "user_error": True})
    with pytest.raises(RuntimeError, match="(?s)Planning failed: KeyError: 'y'.*Traceback"):
        planned({"status": "failed", "error": "KeyError: 'y'", "traceback": "Traceback (most recent call last): ..."})


def test_each_job_compiles_into_a_cache_of_its_own_removed_when_it_ends():
    """A cold cache per job: compile_s is never a cache hit, and a job killed mid-write (a truncated
    .so) leaves nothing for the next job to load."""
    jobs = [job("a", behaviour="compile_cache"), job("b", behaviour="compile_cache")]
    results = []
    with LocalExecutor([Slot("cpu")], timeout_s=60, job_functions=DOUBLES, preload=[]) as executor:
        executor.run(jobs, lambda j, s: None, lambda j, s, result: results.append(result))
    folders = [r["compile_cache"] for r in results]
    assert all(r["status"] == "done" for r in results), results
    assert len(set(folders)) == 2 and all("scratch-" in f for f in folders)
    assert not any(os.path.exists(f) for f in folders)  # removed with the job


def test_invoke_bench_and_evaluate_jobs_compile_into_a_cache_of_their_own_too():
    """job_process().call, which runs `invoke bench` and `invoke evaluate` jobs: cold caches, as eval-all's."""
    with LocalExecutor([Slot("job")], timeout_s=60, job_functions=DOUBLES, preload=[]) as runner:
        results = [runner.call("job_doubles:behave", {"model": name, "behaviour": "compile_cache"}) for name in "ab"]
    folders = [r["compile_cache"] for r in results]
    assert all(r["status"] == "done" for r in results), results
    assert len(set(folders)) == 2 and all("scratch-call-" in f for f in folders)
    assert not any(os.path.exists(f) for f in folders)


# --- compile workers: compile beside the measuring job, take turns for timed steps ----------------


def overlaps(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_compile_workers_compile_while_another_job_measures_and_never_share_a_turn():
    jobs = [job(f"m{i}", behaviour="turns", compile_s=0.6, timed_s=0.4) for i in range(4)]
    executor = LocalExecutor([Slot("cpu")], timeout_s=30, job_functions=DOUBLES, preload=[], compile_workers=2)
    results, lanes = collect(executor, jobs)

    assert set(lanes.values()) == {"cpu", "cpu+1", "cpu+2"}
    turns = sorted(r["turn_window"] for r in results.values())
    assert all(not overlaps(a, b) for a, b in zip(turns, turns[1:]))  # one job's timed steps at a time
    compiles = [r["compile_window"] for r in results.values()]
    assert any(overlaps(c, t) for c in compiles for t in turns)  # compiling beside a measurement
    assert len({r["turn_lock"] for r in results.values()}) == 1


def test_without_compile_workers_jobs_run_one_at_a_time_and_take_no_turns():
    jobs = [job(f"m{i}", behaviour="turns", compile_s=0.1, timed_s=0.1) for i in range(2)]
    executor = LocalExecutor([Slot("cpu")], timeout_s=30, job_functions=DOUBLES, preload=[])
    results, lanes = collect(executor, jobs)
    assert set(lanes.values()) == {"cpu"} and {r["turn_lock"] for r in results.values()} == {None}
    first, second = sorted((r["compile_window"][0], r["turn_window"][1]) for r in results.values())
    assert first[1] <= second[0]


def test_waiting_for_a_turn_does_not_count_towards_the_timeout():
    # Each job works 1.2 s; the last waits ~2 s more for its turn: past a 2 s timeout only if waits counted.
    jobs = [job(f"m{i}", behaviour="turns", compile_s=0.2, timed_s=1.0) for i in range(3)]
    executor = LocalExecutor([Slot("cpu")], timeout_s=2, job_functions=DOUBLES, preload=[], compile_workers=2)
    results, _ = collect(executor, jobs)
    assert {m: r["status"] for m, r in results.items()} == dict.fromkeys(("m0", "m1", "m2"), "done")


def test_auto_compile_workers_follow_the_cores_and_stay_off_on_the_cpu():
    from jobs.executors.local import auto_compile_workers

    assert auto_compile_workers("cpu", 1, cores=64) == 0  # the cores are the device measured
    assert auto_compile_workers("cuda", 1, cores=16) == 3  # 15 spare cores, 4 per compiling job
    assert auto_compile_workers("cuda", 8, cores=64) == 1
    assert auto_compile_workers("cuda", 1, cores=2) == 0


def test_the_job_server_asks_nvidia_smi_once_for_all_its_jobs(tmp_path, monkeypatch):
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho called >> {calls}\necho 570.86.15\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    with LocalExecutor([Slot("cpu")], timeout_s=30, preload=["jobs.environment:nvidia_driver"]) as executor:
        drivers = [executor.call("job_doubles:driver_version")["driver"] for _ in range(3)]
    assert drivers == ["570.86.15"] * 3 and calls.read_text() == "called\n"


def test_each_job_compiles_with_its_share_of_the_cores(monkeypatch):
    from jobs.compat import apply_compile_threads
    from jobs.executors.local import compile_threads

    assert [compile_threads(lanes, cores=16) for lanes in (1, 4, 8)] == [16, 4, 1]
    assert compile_threads(1, cores=2) == 1  # a pool of 2 fresh workers cost more than it saved here
    assert compile_threads(1, cores=2, forked_workers=True) == 2  # forked ones do not
    monkeypatch.delenv("TORCHINDUCTOR_COMPILE_THREADS", raising=False)
    monkeypatch.setattr("jobs.executors.local.available_cores", lambda: 16)
    executor = LocalExecutor(
        [Slot("gpu0", {"CUDA_VISIBLE_DEVICES": ""})], timeout_s=30, job_functions=DOUBLES, preload=[], compile_workers=3
    )
    results, _ = collect(executor, [job("m", where=True)])
    assert results["m"]["compile_threads"] == "4"

    import torch._inductor.config as inductor  # the job applies it, though inductor read the variable earlier

    before = inductor.compile_threads  # restored by hand: monkeypatch's undo breaks inductor's config module
    monkeypatch.setenv("TORCHINDUCTOR_COMPILE_THREADS", str(before + 1))
    try:
        apply_compile_threads()
        assert inductor.compile_threads == before + 1
    finally:
        inductor.compile_threads = before


def test_cpu_jobs_fork_their_compile_workers_and_gpu_jobs_do_not(monkeypatch):
    from jobs.compat import apply_compile_threads
    from jobs.executors.local import compile_pool_env

    for name in ("TORCHINDUCTOR_COMPILE_THREADS", "TORCHINDUCTOR_WORKER_START"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("jobs.executors.local.available_cores", lambda: 2)
    cpu = [Slot("cpu", {"CUDA_VISIBLE_DEVICES": ""})]
    assert compile_pool_env(cpu, 0) == {"TORCHINDUCTOR_COMPILE_THREADS": "2", "TORCHINDUCTOR_WORKER_START": "fork"}
    # a forked worker of a job that has used CUDA could not use it: GPU jobs keep inductor's fresh workers
    assert compile_pool_env([Slot("gpu0", {"CUDA_VISIBLE_DEVICES": "0"})], 0) == {"TORCHINDUCTOR_COMPILE_THREADS": "1"}
    assert "TORCHINDUCTOR_WORKER_START" not in compile_pool_env([Slot("job")], 0)  # invoke bench's: it sees the GPUs
    monkeypatch.setenv("TORCHINDUCTOR_WORKER_START", "spawn")  # the user's own wins
    assert compile_pool_env(cpu, 0) == {"TORCHINDUCTOR_COMPILE_THREADS": "2"}
    monkeypatch.delenv("TORCHINDUCTOR_WORKER_START")
    results, _ = collect(LocalExecutor(cpu, timeout_s=30, job_functions=DOUBLES, preload=[]), [job("m", where=True)])
    assert (results["m"]["compile_threads"], results["m"]["worker_start"]) == ("2", "fork")

    import torch._inductor.config as inductor  # applied in the job, though inductor read the variable earlier

    before = inductor.worker_start_method  # restored by hand, as above
    monkeypatch.setenv("TORCHINDUCTOR_WORKER_START", "fork" if before != "fork" else "subprocess")
    try:
        apply_compile_threads()
        assert inductor.worker_start_method == os.environ["TORCHINDUCTOR_WORKER_START"] != before
    finally:
        inductor.worker_start_method = before


def test_a_cpu_sweeps_server_probes_the_kernels_vector_instructions_once_for_all_jobs():
    from jobs.executors.local import PRELOAD, sweep_preload

    assert sweep_preload("cpu") == [*PRELOAD, "jobs.compat:probe_cpu_vector_isa"] and sweep_preload("cuda") == PRELOAD
    assert sweep_preload("cpu", compiles=False) == PRELOAD  # an eager-only sweep (smoke) does not wait for it
    with LocalExecutor([Slot("cpu")], timeout_s=120, preload=["jobs.compat:probe_cpu_vector_isa"]) as executor:
        assert executor.call("job_doubles:isa_probed") == {"probed": True}  # a job's compile skips the test builds
    with LocalExecutor([Slot("cpu")], timeout_s=30, preload=["torch"]) as executor:
        assert executor.call("job_doubles:isa_probed") == {"probed": False}


def test_the_campaign_probes_the_isa_only_for_compiled_cpu_jobs():
    from jobs.campaign import Options, make_executor
    from jobs.sweep import BUILTIN_SWEEPS, Narrowing, Target

    def preload(sweep: str, device: str, narrowing=None) -> list[str]:
        options = Options(
            sweep_name=sweep,
            sweep=BUILTIN_SWEEPS[sweep],
            narrowing=narrowing or Narrowing(),
            data=None,
            executor="local",
            ray_address=None,
            device=device,
            timeout_s=300,
            compile_workers=0,
        )
        return make_executor(options, Target(device, device, 1)).server.preload  # not started: nothing runs

    probe = "jobs.compat:probe_cpu_vector_isa"
    assert probe in preload("default", "cpu")
    assert probe not in preload("smoke", "cpu")  # eager only: the first smoke run on a machine does not wait
    assert probe not in preload("default", "cpu", Narrowing(compile_modes=["eager"]))
    assert probe not in preload("default", "cuda")


def test_a_users_own_compile_threads_variable_wins(monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_COMPILE_THREADS", "5")
    results, _ = collect(
        LocalExecutor([Slot("cpu")], timeout_s=30, job_functions=DOUBLES, preload=[]), [job("m", where=True)]
    )
    assert results["m"]["compile_threads"] == "5"


def test_gpu_slots_keep_a_measuring_core_each_and_compile_on_the_rest():
    from jobs.executors.local import core_split

    gpus = [Slot("gpu0", {"CUDA_VISIBLE_DEVICES": "0"}), Slot("gpu1", {"CUDA_VISIBLE_DEVICES": "GPU-5d5b"})]
    split = core_split(gpus, cores=set(range(16)))
    assert split == {
        "gpu0": {"LEADERBOARD_MEASURING_CORES": "14", "LEADERBOARD_COMPILING_CORES": ",".join(map(str, range(14)))},
        "gpu1": {"LEADERBOARD_MEASURING_CORES": "15", "LEADERBOARD_COMPILING_CORES": ",".join(map(str, range(14)))},
    }
    assert core_split([Slot("cpu", {"CUDA_VISIBLE_DEVICES": ""})], cores={0, 1, 2, 3}) == {}  # the cores are the device
    assert core_split(gpus, cores={0, 1}) == {}  # no core left to compile on


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to split")
def test_a_job_beside_compile_workers_compiles_off_the_measuring_core_and_times_on_it():
    """On a GPU slot with compile workers: the job, its threads and the processes it starts run on the
    compiling cores, and move to the slot's measuring core for its turn, then back."""
    cores = sorted(os.sched_getaffinity(0))
    executor = LocalExecutor(
        [Slot("gpu0", {"CUDA_VISIBLE_DEVICES": "0"})],
        timeout_s=60,
        job_functions=DOUBLES,
        preload=[],
        compile_workers=1,
    )
    results, _ = collect(executor, [job("m", behaviour="cores")])
    seen = results["m"]
    assert seen["start"] == seen["start_child"] == seen["after"] == cores[:-1]
    assert seen["turn"] == seen["thread_in_turn"] == cores[-1:]


def test_a_turn_ends_for_good_even_when_a_process_forked_inside_it_lives_on(tmp_path, monkeypatch):
    """Data loader workers forked during an accuracy evaluation share the turn's lock: leaving the turn
    must free the device for the next job while they wind down."""
    import fcntl

    from jobs.executors.device_turn import device_turn

    lock = tmp_path / "turn-cpu.lock"
    monkeypatch.setenv("LEADERBOARD_DEVICE_TURN", str(lock))
    with device_turn():
        lingering = os.fork()
        if lingering == 0:  # a forked worker holding the lock's descriptor
            time.sleep(30)
            os._exit(0)
    try:
        other = os.open(lock, os.O_RDWR)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if the worker still held it
        os.close(other)
    finally:
        os.kill(lingering, signal.SIGKILL)
        os.waitpid(lingering, 0)
