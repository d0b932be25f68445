"""Job functions with chosen behaviour, run by the executors in tests like real job functions."""

import ctypes
import os
import subprocess
import sys
import time

from jobs.executors.base import Executor

ENVIRONMENT = {"device": "cpu: test double", "device_type": "cpu", "device_count": 1, "torch": "x", "timm": "y"}


def behave(spec: dict) -> dict:
    """spec["behaviour"]: ok | segfault | hang | sleep (spec["seconds"]) | fail | compile_cache (write into
    inductor's cache folder); spec["where"]: also report the process (pid, CUDA_VISIBLE_DEVICES, compile
    cache folder), fields a stored result has no column for."""
    behaviour = spec.get("behaviour", "ok")
    print(f"starting {spec['model']} ({behaviour})", flush=True)
    if behaviour == "segfault":
        ctypes.string_at(0)
    if behaviour == "hang":
        time.sleep(3600)
    if behaviour == "sleep":
        time.sleep(spec["seconds"])
    if behaviour == "turns":  # "compiles" (sleeps) for spec["compile_s"], then takes its turn for spec["timed_s"]
        return taking_turns(spec)
    if behaviour == "cores":  # the cores it runs on, and a thread and a process of its own, in and out of its turn
        return cores_in_and_out_of_turn(spec)
    if behaviour == "fail":
        return {"status": "failed", "error": "ValueError: told to fail", "kind": "throughput"}
    if behaviour == "compile_cache":  # inductor writes where TORCHINDUCTOR_CACHE_DIR says: a folder of its own
        folder = os.environ["TORCHINDUCTOR_CACHE_DIR"]
        assert not os.path.exists(folder), "another job's cache"
        os.makedirs(folder)
        with open(os.path.join(folder, "artefact.so"), "w") as f:
            f.write("half-written")
        spec = {**spec, "where": True}
    where = {
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "pid": os.getpid(),
        "compile_cache": os.environ.get("TORCHINDUCTOR_CACHE_DIR"),
        "compile_threads": os.environ.get("TORCHINDUCTOR_COMPILE_THREADS"),
        "worker_start": os.environ.get("TORCHINDUCTOR_WORKER_START"),
    }
    return {
        "status": "done",
        "kind": "throughput",
        "environment": ENVIRONMENT,
        "model": spec["model"],
        "bench": "infer",
        "compile_mode": "eager",
        "precision": "fp32",
        "img_size": 8,
        "samples_per_sec": 1.0,
        **(where if spec.get("where") else {}),
    }


def taking_turns(spec: dict) -> dict:
    """A job in two phases, as a compiled throughput job: when each ran (wall clock) and the lane's env."""
    from jobs.executors.device_turn import device_turn

    began = time.time()
    time.sleep(spec["compile_s"])
    compiled = time.time()
    with device_turn():
        turn = time.time()
        time.sleep(spec["timed_s"])
        ended = time.time()
    return {
        "status": "done",
        "kind": "throughput",
        "model": spec["model"],
        "environment": ENVIRONMENT,
        "compile_window": [began, compiled],
        "turn_window": [turn, ended],
        "turn_lock": os.environ.get("LEADERBOARD_DEVICE_TURN"),
    }


def cores_in_and_out_of_turn(spec: dict) -> dict:
    """Where a job's threads and a process it starts may run: before its turn, in it, and after."""
    import threading

    from jobs.executors.device_turn import device_turn, on_measuring_cores

    def thread_cores(into: list):
        into.append(sorted(os.sched_getaffinity(0)))  # a thread's own mask

    def child_cores() -> list:
        code = "import os; print(sorted(os.sched_getaffinity(0)))"
        return eval(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)

    seen, thread_seen = {}, []
    thread = threading.Thread(target=lambda: (time.sleep(0.3), thread_cores(thread_seen)))
    thread.start()  # started before the turn: moved with the job
    seen["start"], seen["start_child"] = sorted(os.sched_getaffinity(0)), child_cores()
    with device_turn(), on_measuring_cores():
        seen["turn"] = sorted(os.sched_getaffinity(0))
        thread.join()
    seen["after"] = sorted(os.sched_getaffinity(0))
    return {
        "status": "done",
        "kind": "throughput",
        "model": spec["model"],
        "environment": ENVIRONMENT,
        **seen,
        "thread_in_turn": thread_seen[0],
    }


def driver_version() -> dict:
    from jobs.environment import nvidia_driver

    return {"status": "done", "driver": nvidia_driver()}


def spawn_and_hang(spec: dict) -> dict:
    """Start a grandchild process and hang: timeouts and killed sweeps must end both."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    with open(spec["pid_file"], "w") as f:
        f.write(str(child.pid))
    time.sleep(3600)
    return {"status": "done"}


def catalog_chunk_crashing_on(names: list[str]) -> dict:
    """jobs.catalog.catalog_chunk, except that a chunk holding a name starting "crash_" segfaults."""
    from jobs.catalog import catalog_chunk

    if any(name.startswith("crash_") for name in names):
        ctypes.string_at(0)
    return catalog_chunk(names)


class InlineExecutor(Executor):
    """The Executor interface at its smallest: plans the jobs it is given, runs `behave` in this process."""

    def __init__(self, jobs, models=()):
        self.jobs, self.models = list(jobs), list(models)
        self.started = self.closed = False

    def start(self) -> None:
        self.started = True

    def plan(self, sweep, target, data, narrowing, catalogued):
        return self.jobs, self.models

    def run(self, jobs, on_start, on_finish, on_wait=None) -> None:
        for job in jobs:
            if on_start(job, "inline") is False:
                continue
            on_finish(job, "inline", behave(job.spec))

    def close(self) -> None:
        self.closed = True


def isa_probed() -> dict:
    """Whether this job process already knows which vector instructions inductor's C++ kernels can use
    (without asking: asking would probe)."""
    from torch._inductor.cpu_vec_isa import valid_vec_isa_list

    return {"probed": valid_vec_isa_list.cache_info().currsize == 1}
