"""What every executor shares: the Executor interface, the job function of a kind, planning's
result, the job folder of a sweep and a job's own compiler caches."""

import abc
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

from db.errors import LeaderboardError
from db.kinds import get_kind
from jobs.sweep import Job

PLAN_TIMEOUT_S = 600.0  # planning's own limit: at least this, whatever --timeout a job gets
PLAN = "jobs.sweep:plan_as_dicts"  # planning needs timm (model names, catalogue facts), so torch
# Imported once by the job server, so no job pays for them: the job modules and what they import
# lazily (none of them initialises CUDA).


def job_function(kind: str, overrides: dict | None = None) -> str:
    """The "module:function" that runs a job of `kind`: its result kind's (jobs/kinds/), unless overridden."""
    return (overrides or {}).get(kind) or get_kind(kind).job_path


class Executor(abc.ABC):
    """What eval-all needs from a place that runs jobs: LocalExecutor (this machine), RayExecutor
    (a Ray cluster), or a test double. Planning imports timm, so each executor plans where its
    jobs run and the invoke process never imports torch. Used as a context manager, it starts
    on entry and closes on exit."""

    def start(self) -> None:  # noqa: B027 (optional: an executor with nothing to start keeps it)
        """Start workers now, so their imports overlap with the caller's own work."""

    @abc.abstractmethod
    def plan(self, sweep: dict, target, data: dict | None, narrowing, catalogued: set | None) -> tuple[list[Job], list]:
        """(the sweep's jobs, catalogue facts of its models not in `catalogued`): jobs.sweep.plan_as_dicts,
        run where this executor runs jobs, through `planned`. LeaderboardError when it fails."""

    @abc.abstractmethod
    def run(self, jobs, on_start, on_finish, on_wait=None) -> None:
        """Run `jobs`; on_start(job, slot_name) before each (it returns False when the job is not this
        sweep's to run: skip it), on_finish(job, slot_name, result) after; on_wait(slot_name, holder)
        when a slot waits for a device another process holds (holder None: it has it now)."""

    def close(self) -> None:  # noqa: B027 (optional, as start)
        """Release the workers; jobs still running are killed (they stay `running`, re-run next time)."""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def planned(result: dict) -> tuple[list[Job], list]:
    """plan_as_dicts's result dict → (jobs, catalogue facts). A user's error (an unknown model) is a
    LeaderboardError; a bug in planning, or a planner that died, keeps its traceback or output."""
    if result["status"] != "done":
        if result.get("user_error"):
            raise LeaderboardError(result["error"])
        details = result.get("traceback") or result.get("output_tail") or ""
        raise RuntimeError(f"Planning failed: {result['error']}\n{details}".rstrip())
    return [Job(**job) for job in result["jobs"]], result["models"]


JOB_FOLDER_PREFIX = "leaderboard-jobs-"  # then the owner's pid, for whoever looks in the temp folder
OWNER_LOCK = "owner.lock"  # flock-ed by the sweep that made the folder, for as long as it lives


def make_job_folder() -> tuple[Path, int]:
    """A new temporary folder for job results and logs, and the descriptor holding its owner lock.
    A killed sweep (kill -9) cannot remove its folder: the next one does, first."""
    remove_leftover_job_folders()
    folder = Path(tempfile.mkdtemp(prefix=f"{JOB_FOLDER_PREFIX}{os.getpid()}-"))
    unnamed = folder / f"{OWNER_LOCK}.new"
    owner_lock = os.open(unnamed, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(owner_lock, fcntl.LOCK_EX)
    os.replace(unnamed, folder / OWNER_LOCK)  # appears already locked: never seen free while we live
    return folder, owner_lock


def remove_job_folder(folder: Path, owner_lock: int) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.close(owner_lock)


def remove_leftover_job_folders() -> None:
    """Remove the job folders whose sweep has died: a lock, unlike a pid, is free exactly then (a
    reused pid, or a pid from another container sharing the temp folder, cannot fool it)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{JOB_FOLDER_PREFIX}*"):
        if owner_died(folder):
            shutil.rmtree(folder, ignore_errors=True)


def owner_died(folder: Path) -> bool:
    """Whether the owner lock of `folder` is free. Without one (being made, from an older version, or
    another user's) the folder is left alone."""
    try:
        lock = os.open(folder / OWNER_LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:  # held: its sweep lives
        return False
    finally:
        os.close(lock)


def compiler_caches(folder: Path) -> dict:
    """Environment giving a job compiler caches of its own (inductor's, Triton's), empty at its start:
    its compile_s is a cold compile, never a cache hit left by an earlier job, and a job killed while
    writing a compiled artefact leaves no half-written file for the next job to load."""
    return {"TORCHINDUCTOR_CACHE_DIR": str(folder / "inductor"), "TRITON_CACHE_DIR": str(folder / "triton")}
