"""Run jobs in isolated processes: one slot per GPU (one on CPU), one fresh process per job.

Children are forked from a multiprocessing forkserver that has already imported torch and timm
(without touching CUDA), so a job does not pay the import. Each child gets its slot's
CUDA_VISIBLE_DEVICES, its own process group (a timeout kills compile workers too) and a log
file; a segfault, CUDA error or OOM kills only that child and becomes a failed result.
"""
import contextlib
import ctypes
import faulthandler
import gc
import importlib
import json
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import weakref
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from db.queue import TAIL_CHARS
from db.errors import one_line
from jobs.measuring import traceback_text

JOB_FUNCTIONS = {
    "throughput": "jobs.throughput:run_throughput",
    "accuracy": "jobs.accuracy:run_accuracy",
}
# Imported once by the forkserver, so no job pays for them: the job modules and what they import
# lazily (none of them initialises CUDA).
# "__main__" too: the server imports the main script (e.g. the `invoke` console script) once, or
# multiprocessing would re-run it in every child.
PRELOAD = ["__main__", "torch", "timm", "torch.utils.flop_counter", "jobs.executors", "jobs.environment", "jobs.catalog",
           "jobs.throughput", "jobs.throughput_measure",
           "jobs.accuracy", "jobs.accuracy_data", "jobs.accuracy_eval", "jobs.accuracy_weights"]


@dataclass
class Slot:
    name: str                                   # shown in progress: "gpu0", "cpu"
    env: dict = field(default_factory=dict)     # environment overrides for the job's process


def local_slots(device_type: str, gpu_count: int) -> list[Slot]:
    """One slot per visible GPU, keeping the parent's own CUDA_VISIBLE_DEVICES numbering."""
    if device_type != "cuda":
        return [Slot("cpu", {"CUDA_VISIBLE_DEVICES": ""})]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [i.strip() for i in visible.split(",")] if visible else [str(i) for i in range(gpu_count)]
    return [Slot(f"gpu{i}", {"CUDA_VISIBLE_DEVICES": ids[i]}) for i in range(min(gpu_count, len(ids)))]


def resolve(function_path: str):
    module, name = function_path.split(":")
    return getattr(importlib.import_module(module), name)


def failed_result(error: str, **extra) -> dict:
    return {"status": "failed", "error": error, **extra}


# --- in the child ----------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """No job outlives its sweep: if `invoke` is killed (even -9), the forkserver sees its pipe
    close and exits, the kernel then sends this process SIGTERM, and it kills its whole process
    group, compile workers included (Linux; elsewhere a no-op)."""
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(0, signal.SIGKILL))
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the server was already gone
        os._exit(1)
    # multiprocessing hands every child the forkserver's "alive" pipe, which keeps the server up
    # while any child lives; a job closes it, so the server exits as soon as `invoke` does.
    server = multiprocessing.forkserver._forkserver  # CPython 3.8-3.13
    if getattr(server, "_forkserver_alive_fd", None) is not None:
        os.close(server._forkserver_alive_fd)
        server._forkserver_alive_fd = None


def child_main(function_path: str, args: tuple, env: dict, result_path: str, log_path: str) -> None:
    os.setsid()  # its own process group: a timeout kills everything the job started
    die_with_parent()
    os.environ.update(env)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    faulthandler.enable()  # a segfault leaves its stack in the log
    gc.freeze()  # the preloaded modules' objects: never scanned by this job's collections
    try:
        result = resolve(function_path)(*args)
    except Exception as e:  # a bug outside the job's own error handling: still one failed job
        traceback.print_exc()
        result = failed_result(one_line(e), traceback=traceback_text(e))
    tmp = result_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, default=str)
    os.replace(tmp, result_path)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown (~0.1 s with torch loaded): the result is on disk


# --- in the parent ---------------------------------------------------------------------------

@dataclass
class Running:
    job: object
    slot: Slot
    process: multiprocessing.Process
    started: float
    result_path: Path
    log_path: Path


def output_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-TAIL_CHARS:]
    except OSError:
        return ""


def exit_description(code: int | None) -> str:
    if code is not None and code < 0:
        return f"crashed with signal {signal.Signals(-code).name} (exit {code})"
    return f"exited with code {code} without a result"


def kill_group(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()  # not yet in its own group
    process.join(5)


@contextlib.contextmanager
def job_process(timeout_s: float):
    """A started executor whose `call(function, *args)` runs in a fresh job process, exactly as an
    eval-all job runs (forked from the preloaded server), seeing this process's GPUs."""
    executor = LocalExecutor([Slot("job")], timeout_s)
    executor.start()
    try:
        yield executor
    finally:
        executor.close()


class LocalExecutor:
    """Runs jobs on this machine's slots, at most one job per slot at a time."""

    def __init__(self, slots: list[Slot], timeout_s: float, job_functions: dict = JOB_FUNCTIONS, preload=PRELOAD):
        self.slots = slots
        self.timeout_s = timeout_s
        self.job_functions = job_functions
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(preload)
        self.workdir = Path(tempfile.mkdtemp(prefix="leaderboard-jobs-"))
        self._remove_workdir = weakref.finalize(self, shutil.rmtree, self.workdir, ignore_errors=True)

    def start(self) -> None:
        """Start the forkserver now, so its imports overlap with the caller's own work."""
        multiprocessing.forkserver.ensure_running()

    def close(self) -> None:
        """Stop the forkserver at once: a normal exit would spend ~1 s tearing down its torch import,
        with this process's stdout still open (a pipe reading `invoke eval-all` would wait for it)."""
        self._remove_workdir()
        pid = getattr(multiprocessing.forkserver._forkserver, "_forkserver_pid", None)  # CPython 3.8-3.13
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def spawn(self, name: str, function_path: str, args: tuple, slot: Slot, job=None) -> Running:
        result_path, log_path = self.workdir / f"{name}.json", self.workdir / f"{name}.log"
        result_path.unlink(missing_ok=True)
        process = self.context.Process(target=child_main, name=name,
                                       args=(function_path, args, slot.env, str(result_path), str(log_path)))
        process.start()
        return Running(job, slot, process, time.monotonic(), result_path, log_path)

    def launch(self, job, slot: Slot) -> Running:
        return self.spawn(f"job-{job.key}", self.job_functions[job.kind], (job.spec,), slot, job)

    def call(self, function_path: str, *args) -> dict:
        """`function(*args)` in a fresh child, e.g. planning: this process then never imports torch."""
        run = self.spawn("call", function_path, args, self.slots[0])
        run.process.join(self.timeout_s)
        return self.collect(run, timed_out=run.process.exitcode is None)

    def collect(self, run: Running, timed_out: bool) -> dict:
        try:
            return self.outcome(run, timed_out)
        finally:
            run.result_path.unlink(missing_ok=True)
            run.log_path.unlink(missing_ok=True)

    def outcome(self, run: Running, timed_out: bool) -> dict:
        if timed_out:
            kill_group(run.process)
            return failed_result(f"timed out after {self.timeout_s:g} s (process group killed)",
                                 exit_code=run.process.exitcode, output_tail=output_tail(run.log_path))
        run.process.join()
        if run.result_path.exists():
            result = json.loads(run.result_path.read_text())
            if result.get("status") == "failed":  # what it printed on the way (warnings, ...)
                result.setdefault("output_tail", output_tail(run.log_path))
            return result
        return failed_result(exit_description(run.process.exitcode), exit_code=run.process.exitcode,
                             output_tail=output_tail(run.log_path))

    def run(self, jobs, on_start, on_finish) -> None:
        """Run `jobs`; on_start(job, slot_name) before each, on_finish(job, slot_name, result) after."""
        pending, running = deque(jobs), {}
        try:
            while pending or running:
                for slot in self.slots:
                    if slot.name not in running and pending:
                        job = pending.popleft()
                        on_start(job, slot.name)
                        running[slot.name] = self.launch(job, slot)
                self.wait_any(running)
                for name, run in list(running.items()):
                    timed_out = time.monotonic() - run.started > self.timeout_s
                    if run.process.exitcode is not None or timed_out:
                        del running[name]
                        on_finish(run.job, name, self.collect(run, timed_out))
        finally:
            for run in running.values():  # Ctrl-C: their jobs stay `running` and are re-run next time
                kill_group(run.process)

    def wait_any(self, running: dict) -> None:
        sentinels = [r.process.sentinel for r in running.values()]
        if sentinels:
            deadline = min(r.started + self.timeout_s for r in running.values())
            multiprocessing.connection.wait(sentinels, timeout=max(0.0, min(1.0, deadline - time.monotonic())))
