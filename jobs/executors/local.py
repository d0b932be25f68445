"""The local executor: this machine's GPU slots (or its CPU).

One slot per visible GPU (one on CPU), a fresh process per job, forked by our job server
(jobs/executors/job_server.py) after it has imported torch and timm, so no job pays the import. Each job
gets its slot's CUDA_VISIBLE_DEVICES, its own process group (a timeout kills compile workers too)
and a log file; a segfault, CUDA error or OOM kills only that job and becomes a failed result.
"""

import itertools
import json
import os
import shutil
import signal
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from db.queue import TAIL_CHARS
from jobs.executors.base import (
    PLAN,
    PLAN_TIMEOUT_S,
    Executor,
    compiler_caches,
    job_function,
    make_job_folder,
    planned,
    remove_job_folder,
)
from jobs.executors.device_locks import DeviceLocks
from jobs.executors.device_turn import (
    COMPILING_CORES_ENV,
    MEASURING_CORES_ENV,
    TURN_LOCK_ENV,
    WAIT_FILE,
    WAIT_FILE_ENV,
    core_list,
    read_waited_s,
)
from jobs.executors.job_server import JobServer, job_failure

DEVICE_POLL_S = 0.2  # how often a sweep waiting for a device another sweep uses looks again
PLAN_PRELOAD = ["torch", "timm", "jobs.sweep", "jobs.catalog"]
PRELOAD = [
    *PLAN_PRELOAD,
    "torch.utils.flop_counter",
    "jobs.environment",
    "jobs.throughput",
    "jobs.throughput_measure",
    "jobs.accuracy",
    "jobs.accuracy_data",
    "jobs.accuracy_eval",
    "jobs.accuracy_weights",
    "jobs.environment:nvidia_driver",
]  # asked once (nvidia-smi), not per job


def sweep_preload(device_type: str, compiles: bool = True) -> list[str]:
    """What a sweep's job server imports (and asks) once for all its jobs; for compiled jobs on a CPU
    also which vector instructions their kernels can use (jobs.compat.probe_cpu_vector_isa: seconds
    of test builds the first time on a machine, which an eager-only sweep need not wait for)."""
    return PRELOAD + (["jobs.compat:probe_cpu_vector_isa"] if device_type == "cpu" and compiles else [])


@dataclass
class Slot:
    name: str  # shown in progress: "gpu0", "cpu"
    env: dict = field(default_factory=dict)  # environment overrides for the job's process

    @property
    def device(self) -> str:
        """The device its jobs run on, as this host names it: "cpu", "gpu" and the GPU's system-wide
        index, or its UUID as CUDA_VISIBLE_DEVICES gave it."""
        gpu = self.env.get("CUDA_VISIBLE_DEVICES")
        return "cpu" if not gpu else f"gpu{gpu}" if gpu.isdigit() else gpu


def local_slots(device_type: str, gpu_count: int) -> list[Slot]:
    """One slot per visible GPU, keeping the parent's own CUDA_VISIBLE_DEVICES numbering."""
    if device_type != "cuda":
        return [Slot("cpu", {"CUDA_VISIBLE_DEVICES": ""})]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [i.strip() for i in visible.split(",")] if visible else [str(i) for i in range(gpu_count)]
    return [Slot(f"gpu{i}", {"CUDA_VISIBLE_DEVICES": ids[i]}) for i in range(min(gpu_count, len(ids)))]


COMPILE_THREADS_ENV = "TORCHINDUCTOR_COMPILE_THREADS"
WORKER_START_ENV = "TORCHINDUCTOR_WORKER_START"
CORES_PER_COMPILE = 4  # inductor compiles a graph's kernels in parallel: a compiling job keeps a few cores busy


def auto_compile_workers(device_type: str, slots: int, cores: int | None = None) -> int:
    """Jobs compiling beside each slot's measuring one: none on the CPU (its cores are the device
    measured); on GPUs, CORES_PER_COMPILE cores each, from the cores left after one per slot."""
    if device_type != "cuda":
        return 0
    return max(0, ((cores or available_cores()) - slots) // (CORES_PER_COMPILE * max(1, slots)))


def compile_threads(lanes: int, cores: int | None = None, forked_workers: bool = False) -> int:
    """Inductor compile threads for each of `lanes` jobs running at once: their share of the cores, or
    1 (compiling in the job's own process) where a pool would cost more than it saves: a pool of fresh
    worker processes, each importing torch again, did at a share of 2 (bench/RESULTS.md); workers forked
    from the job (`forked_workers`, torch already imported) do not."""
    share = (cores or available_cores()) // max(1, lanes)
    return share if share > 2 or (forked_workers and share == 2) else 1


def compile_pool_env(slots: list[Slot], compile_workers: int) -> dict:
    """The environment giving each job its compile pool; the user's own variables win. Where the
    slots hide every GPU (a CPU sweep) the pool's workers are forked from the job: cheap to start,
    and no CUDA in the job for a fork to break. Anywhere a job may use a GPU (a GPU slot, or `invoke
    bench`'s job, which sees this process's GPUs) they stay fresh processes, inductor's default."""
    on_cpu = all(slot.env.get("CUDA_VISIBLE_DEVICES") == "" for slot in slots)
    env = {COMPILE_THREADS_ENV: str(compile_threads(len(slots) * (1 + compile_workers), forked_workers=on_cpu))}
    if on_cpu:
        env[WORKER_START_ENV] = "fork"
    return {name: value for name, value in env.items() if name not in os.environ}


def core_split(slots: list[Slot], cores: set[int] | None = None) -> dict:
    """Each GPU slot's core for its measuring job (the last ones), and the rest for every job's
    compiles (jobs.executors.device_turn): slot name -> environment. None on a CPU slot, whose cores are the
    device measured, nor where no core would be left to compile on."""
    cores = sorted(cores if cores is not None else os.sched_getaffinity(0))
    gpu_slots = [slot for slot in slots if slot.env.get("CUDA_VISIBLE_DEVICES")]
    if not gpu_slots or len(cores) <= len(gpu_slots):
        return {}
    measuring, compiling = cores[-len(gpu_slots) :], cores[: -len(gpu_slots)]
    return {
        slot.name: {MEASURING_CORES_ENV: str(core), COMPILING_CORES_ENV: core_list(compiling)}
        for slot, core in zip(gpu_slots, measuring)
    }


def available_cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# --- the jobs' temporary folder ----------------------------------------------------------------


@dataclass
class Running:
    job: object
    slot: Slot
    job_id: int  # the job server's
    started: float
    result_path: Path
    log_path: Path
    timeout_s: float  # killed past this
    scratch: Path | None = None  # the job's own files (its compiler caches), removed when it ends


def output_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-TAIL_CHARS:]
    except OSError:
        return ""


def exit_description(code: int | None) -> str:
    if code is not None and code < 0:
        return f"crashed with signal {signal.Signals(-code).name} (exit {code})"
    return f"exited with code {code} without a result"


class LocalExecutor(Executor):
    """Runs jobs on this machine's slots: one job per slot at a time, or with `compile_workers` N,
    up to N more per slot that compile while it measures, taking turns for their timed steps
    (jobs.executors.device_turn)."""

    def __init__(
        self,
        slots: list[Slot],
        timeout_s: float,
        job_functions: dict | None = None,
        preload=PRELOAD,
        compile_workers: int = 0,
    ):
        self.slots = slots
        self.timeout_s = timeout_s
        self.job_functions = job_functions
        self.compile_workers = compile_workers
        self.compile_pool = compile_pool_env(slots, compile_workers)
        self.call_numbers = itertools.count()  # names of call()s' files, unique in the job folder
        self.server = JobServer(preload)
        self.workdir, owner_lock = make_job_folder()
        self._remove_workdir = weakref.finalize(self, remove_job_folder, self.workdir, owner_lock)

    def lanes(self) -> list[Slot]:
        """Where jobs run at once: each slot alone, or each slot and its compile workers' lanes
        ("gpu0", "gpu0+1", ...), all taking turns on the slot's device."""
        if not self.compile_workers:
            return self.slots
        cores = core_split(self.slots)
        return [
            Slot(
                slot.name + (f"+{lane}" if lane else ""),
                {**slot.env, TURN_LOCK_ENV: str(self.workdir / f"turn-{slot.name}.lock"), **cores.get(slot.name, {})},
            )
            for slot in self.slots
            for lane in range(1 + self.compile_workers)
        ]

    def start(self) -> None:
        self.server.start()

    def close(self) -> None:
        try:
            self.server.close()  # first: no job still writes into the folder
        finally:
            self._remove_workdir()

    def plan(self, sweep, target, data, narrowing, catalogued):
        # the job timeout fits one job; planning a sweep (timm's registry, catalogue facts) may need more
        return planned(
            self.call(PLAN, sweep, target, data, narrowing, catalogued, timeout_s=max(self.timeout_s, PLAN_TIMEOUT_S))
        )

    def spawn(
        self,
        name: str,
        function_path: str,
        args: tuple,
        slot: Slot,
        job=None,
        timeout_s=None,
        scratch: Path | None = None,
    ) -> Running:
        result_path, log_path = self.workdir / f"{name}.json", self.workdir / f"{name}.log"
        result_path.unlink(missing_ok=True)
        env = {**slot.env, **(compiler_caches(scratch) if scratch else {})}
        job_id = self.server.submit(function_path, args, env, str(result_path), str(log_path))
        return Running(job, slot, job_id, time.monotonic(), result_path, log_path, timeout_s or self.timeout_s, scratch)

    def launch(self, job, slot: Slot) -> Running:
        scratch = self.workdir / f"scratch-{job.key}"
        scratch.mkdir(exist_ok=True)
        lane = Slot(slot.name, {**slot.env, WAIT_FILE_ENV: str(scratch / WAIT_FILE), **self.compile_pool})
        return self.spawn(
            f"job-{job.key}", job_function(job.kind, self.job_functions), (job.spec,), lane, job, scratch=scratch
        )

    def call(self, function_path: str, *args, timeout_s: float | None = None) -> dict:
        """`function(*args)` in a fresh job process with compiler caches of its own, as a job runs; its
        result dict."""
        results = []
        self.call_many(function_path, [args], 1, lambda args, result: results.append(result), timeout_s)
        return results[0]

    def call_many(self, function_path: str, calls, workers: int, on_result, timeout_s: float | None = None) -> None:
        """`function(*args)` for each `args` of `calls`, each in a fresh job process, `workers` at a
        time; on_result(args, result dict) as each ends, which may return more args to call."""
        pending, running = deque(calls), {}
        try:
            while pending or running:
                while pending and len(running) < workers:
                    args, name = pending.popleft(), f"call-{next(self.call_numbers)}"
                    scratch = self.workdir / f"scratch-{name}"  # cold compiler caches, as an eval-all job's
                    scratch.mkdir(exist_ok=True)
                    run = self.spawn(name, function_path, args, self.slots[0], timeout_s=timeout_s, scratch=scratch)
                    running[run.job_id] = (args, run)
                self.wait_any({job_id: run for job_id, (_, run) in running.items()})
                for job_id, (args, run) in list(running.items()):
                    if self.ended(run) or self.overdue(run):
                        del running[job_id]
                        pending.extend(on_result(args, self.collect(run, timed_out=not self.ended(run))) or ())
        finally:
            for _, run in running.values():  # interrupted: no call outlives it
                self.server.kill(run.job_id)

    def ended(self, run: Running) -> bool:
        return run.job_id in self.server.exit_codes

    def overdue(self, run: Running) -> bool:
        """Past its timeout, not counting time spent waiting for its turn on the device."""
        over = time.monotonic() - run.started - run.timeout_s
        return over > 0 and (run.scratch is None or over > read_waited_s(run.scratch / WAIT_FILE))

    def collect(self, run: Running, timed_out: bool) -> dict:
        try:
            return self.outcome(run, timed_out)
        finally:
            run.result_path.unlink(missing_ok=True)
            run.log_path.unlink(missing_ok=True)
            if run.scratch:
                shutil.rmtree(run.scratch, ignore_errors=True)

    def outcome(self, run: Running, timed_out: bool) -> dict:
        if timed_out:
            code = self.stop(run)
            return job_failure(
                f"timed out after {run.timeout_s:g} s (process group killed)",
                exit_code=code,
                output_tail=output_tail(run.log_path),
            )
        if run.result_path.exists():
            result = json.loads(run.result_path.read_text())
            if result.get("status") == "failed":  # what it printed on the way (warnings, ...)
                result.setdefault("output_tail", output_tail(run.log_path))
            return result
        code = self.server.exit_codes[run.job_id]
        return job_failure(exit_description(code), exit_code=code, output_tail=output_tail(run.log_path))

    def stop(self, run: Running, grace_s: float = 5.0) -> int | None:
        """Kill the job's process group; its exit code once the server has seen it end."""
        self.server.kill(run.job_id)
        deadline = time.monotonic() + grace_s
        while not self.ended(run) and time.monotonic() < deadline:
            self.server.wait(deadline - time.monotonic())
        return self.server.exit_codes.get(run.job_id)

    def run(self, jobs, on_start, on_finish, on_wait=None) -> None:
        """Run `jobs` on the free slots; a slot whose device another sweep is using waits for it (saying
        for whom through on_wait(slot name, holder, or None once it has it)), and a job `on_start`
        refuses (False: another sweep claimed it) is skipped."""
        pending, running, lanes = deque(jobs), {}, self.lanes()
        devices = DeviceLocks(slot.device for slot in self.slots)
        waits = Waits(on_wait)
        try:
            while pending or running:
                for slot in lanes:
                    if slot.name in running or not pending:
                        continue
                    if not devices.take(slot.device):
                        waits.say(slot.name, devices.holder(slot.device))
                        continue
                    waits.say(slot.name, None)
                    job = pending.popleft()
                    if on_start(job, slot.name) is False:
                        devices.give_back(slot.device)
                        continue
                    running[slot.name] = self.launch(job, slot)
                self.wait_any(running)
                for name, run in list(running.items()):
                    if self.ended(run) or self.overdue(run):
                        del running[name]
                        on_finish(run.job, name, self.collect(run, timed_out=not self.ended(run)))
                        devices.give_back(run.slot.device)
        finally:
            for run in running.values():  # Ctrl-C: their jobs stay `running` and are re-run next time
                self.server.kill(run.job_id)
            devices.release_all()

    def wait_any(self, running: dict) -> None:
        if running:
            deadline = min(r.started + r.timeout_s for r in running.values())
            self.server.wait(max(0.0, min(1.0, deadline - time.monotonic())))
        else:  # every device busy with another sweep's job: look again shortly
            time.sleep(DEVICE_POLL_S)


class Waits:
    """What each slot waits for, told to `on_wait` when it changes (not at every poll)."""

    def __init__(self, on_wait):
        self.on_wait, self.told = on_wait, {}

    def say(self, slot: str, holder: str | None) -> None:
        if self.on_wait and self.told.get(slot) != holder:
            self.told[slot] = holder
            self.on_wait(slot, holder)


def planner(timeout_s: float) -> LocalExecutor:
    """A light local worker for --dry-run: plans in a child of a server that preloads only what
    planning imports, and runs no job."""
    return LocalExecutor([Slot("plan")], timeout_s, preload=PLAN_PRELOAD)


def job_process(timeout_s: float) -> LocalExecutor:
    """`with job_process(timeout) as runner:` runner.call(function, *args) runs in a fresh job
    process, exactly as an eval-all job runs, seeing this process's GPUs."""
    return LocalExecutor([Slot("job")], timeout_s)
