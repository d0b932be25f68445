"""`invoke eval-all`, minus the command line: plan → queue → run → summary.

The invoke process is the only database writer: executors hand each result back here and it is
stored (result row + job status, one transaction) as soon as the job ends.
"""

import json
import sqlite3
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from db import queue
from db.catalog import save_catalog
from db.claims import LeaseKeeper, new_owner
from db.errors import LeaderboardError, UsageError, storage_cause
from db.export import write_unstored
from db.watch import DatabaseChanged, DatabaseWatch
from jobs.executors.base import Executor
from jobs.executors.local import LocalExecutor, auto_compile_workers, local_slots, planner, sweep_preload
from jobs.kinds.throughput import planned_modes
from jobs.progress import Progress, cost_key
from jobs.settings import configured_compile_workers, configured_job_timeout
from jobs.sweep import Narrowing, checked_device_type, data_settings, detect_target, get_sweep

NO_DATA = (
    "Accuracy jobs skipped: no dataset configured. Pass --data-dir /path/to/imagenet/val or set "
    "leaderboard.data_dir in invoke.yaml."
)


@dataclass(kw_only=True)  # built by name: a reordering can never go unnoticed
class Options:
    """One eval-all campaign, as its flags and the configuration decide it."""

    sweep_name: str
    sweep: dict  # the sweep's definition (jobs.sweep)
    narrowing: Narrowing  # --models, --kind, --bench, --compile-mode
    data: dict | None  # data_dir, weights, class_map (absolute); None skips accuracy jobs
    executor: str  # local | ray
    ray_address: str | None
    device: str | None  # cpu | cuda | None: cuda when a GPU is visible
    timeout_s: float  # per job
    compile_workers: int | None = None  # jobs compiling beside the measuring one, per slot; None: auto
    force: bool = False  # run finished jobs again
    retry_failed: bool = False
    dry_run: bool = False  # print the plan, run nothing

    @classmethod
    def from_flags(
        cls,
        settings,
        *,
        sweep: str,
        models=None,
        kind=None,
        bench=None,
        compile_mode=None,
        executor=None,
        ray_address=None,
        data_dir=None,
        checkpoint_dir=None,
        class_map=None,
        device=None,
        timeout=None,
        compile_workers=None,
        **switches,
    ) -> "Options":
        """Flags over `settings` (the leaderboard configuration), checked before any work: a UsageError for
        a malformed value (--timeout or job_timeout, --device, --sweep, the sweep's definition), a
        LeaderboardError for a missing dataset."""
        timeout_s = configured_job_timeout(settings, timeout)
        workers = configured_compile_workers(settings, compile_workers)
        if compile_workers is not None and workers and (executor or settings.executor) == "ray":
            raise UsageError(
                "--compile-workers is the local executor's: Ray runs each job alone on its GPU. "
                "Drop it, or pass --executor local."
            )
        checked_device_type(device)
        definition = get_sweep(sweep, settings.sweeps)  # checked whole: no job fails for its sweep's typo
        data_dir = data_dir or settings.data_dir
        if data_dir and not Path(data_dir).expanduser().is_dir():
            raise LeaderboardError(
                f"No dataset at {data_dir}: pass --data-dir with an ImageNet-style folder, "
                "or set leaderboard.data_dir in invoke.yaml."
            )
        narrowing = Narrowing(
            models=models or None,
            kinds=[kind] if kind else None,
            benches=bench or None,
            compile_modes=compile_mode or None,
        )
        return cls(
            sweep_name=sweep,
            sweep=definition,
            narrowing=narrowing,
            data=data_settings(data_dir, checkpoint_dir or settings.checkpoint_dir, class_map or settings.class_map),
            executor=executor or settings.executor,
            ray_address=ray_address or settings.ray_address,
            device=device,
            timeout_s=timeout_s,
            compile_workers=workers,
            **switches,
        )


@dataclass
class Summary:
    ran: int
    done: int
    failed: list  # rows: kind, model, spec, error
    elsewhere: int = 0  # claimed first by another sweep on this database

    def text(self) -> str:
        shared = f" ({self.elsewhere} more run by another sweep on this database)" if self.elsewhere else ""
        lines = [f"{self.ran} jobs run: {self.done} done, {len(self.failed)} failed.{shared}"]
        if self.failed:
            lines.append(f"{len(self.failed)} jobs failed:")
            lines += [f"  {f['kind']} {job_settings(f)}: {f['error']}" for f in self.failed]
        return "\n".join(lines)


def job_settings(row: dict) -> str:
    return " ".join(filter(None, [row["model"], queue.spec_label(json.loads(row["spec"]))]))


def plan_text(jobs, plan: queue.QueuePlan) -> str:
    """The --dry-run report: jobs per kind, and what the queue already holds."""
    per_kind = Counter(j.kind for j in jobs)
    to_run = Counter(j.kind for j in plan.to_run)
    lines = [f"{kind}: {count} jobs, {to_run[kind]} to run" for kind, count in sorted(per_kind.items())]
    lines.append(
        f"total: {len(jobs)} jobs; {plan.done} already done, {len(plan.to_run)} to run"
        f" ({plan.resumed} interrupted before), {plan.failed} failed before"
        + (" (pass --retry-failed to run them again)" if plan.failed else "")
        + (f", {plan.held} running in another sweep" if plan.held else "")
    )
    return "\n".join(lines)


def make_executor(options: Options, target) -> Executor:
    """Not yet started: a light planner for a dry run, else `local` (one job server, a slot per GPU) or `ray`."""
    if options.dry_run:
        return planner(options.timeout_s)
    if options.executor == "ray":
        from jobs.executors.ray_cluster import RayExecutor

        return RayExecutor(target.device_type, options.timeout_s, options.ray_address)
    workers = options.compile_workers
    if workers is None:
        workers = auto_compile_workers(target.device_type, target.slots)
    modes, _ = planned_modes(options.sweep.get("throughput") or {}, target, options.narrowing)
    return LocalExecutor(
        local_slots(target.device_type, target.slots),
        options.timeout_s,
        compile_workers=workers,
        preload=sweep_preload(target.device_type, compiles=modes != ["eager"]),
    )


def run_campaign(database, options: Options, say=print, make=make_executor) -> Summary | None:
    """Plan the sweep where its jobs run, queue it, `say` the plan, run what is left: the summary,
    or None when nothing ran (a dry run, or every job already done)."""
    catalogued = None if options.dry_run else {row["name"] for row in database["models"].rows}
    target = detect_target(options.device)
    with make(options, target) as executor:  # started first: its imports overlap the planning
        jobs, new_models = executor.plan(options.sweep, target, options.data, options.narrowing, catalogued)
        save_catalog(database, new_models)  # family and norm of every model the site will show
        queued = queue.enqueue(
            database,
            jobs,
            options.sweep_name,
            force=options.force,
            retry_failed=options.retry_failed,
            dry_run=options.dry_run,
        )
        say(
            f"Sweep {options.sweep_name!r} on {target.device_name} ({target.slots} slot{'s' * (target.slots > 1)}"
            f"{compile_workers_text(executor)}):"
        )
        say(plan_text(jobs, queued))
        for mode, why in planned_modes(options.sweep.get("throughput") or {}, target, options.narrowing)[1].items():
            say(f"{mode} not measured on {target.device_type}: {why}.")
        if not options.data:
            say(NO_DATA)
        if target.device_type == "cpu" and options.compile_workers:
            say(CPU_COMPILE_WORKERS)
        if options.dry_run or not queued.to_run:
            return None
        progress = Progress(queued.to_run, slots=target.slots, past_costs=past_costs(database))
        return run_jobs(database, executor, queued.to_run, progress)


CPU_COMPILE_WORKERS = (
    "Compile workers on a CPU share the cores being measured: a job timed while another compiles "
    "runs several times slower (bench/RESULTS.md). Keep its figures for compile_s only, or use "
    "--compile-workers 0."
)


def compile_workers_text(executor) -> str:
    workers = getattr(executor, "compile_workers", 0)
    return f", {workers} compile worker{'s' * (workers > 1)} each" if workers else ""


def past_costs(db) -> dict:
    """Seconds each kind of job took in earlier sweeps on this database: the first ETA's basis."""
    costs = defaultdict(list)
    for kind, spec, seconds in queue.finished_durations(db):
        costs[cost_key(kind, spec)].append(seconds)
    return costs


def database_path(db) -> str:
    return db.conn.execute("PRAGMA database_list").fetchone()[2]


def run_jobs(db, executor: Executor, jobs, progress: Progress) -> Summary:
    """Run the queued `jobs`, each claimed first: another sweep on this database may take some."""
    owner = new_owner()
    watch = DatabaseWatch(database_path(db))
    stored = []  # (job, result) of this sweep's stored runs: kept in a file if the database goes

    def on_start(job, slot) -> bool:
        if not queue.start(db, job.key, owner):
            progress.taken_elsewhere(job)
            return False
        progress.started(job, slot)
        return True

    def on_finish(job, slot, result):
        try:
            watch.check()
            status = queue.record_result(db, job, result, owner)
        except DatabaseChanged as e:  # every run of this sweep went with the file: keep them all
            raise database_lost(e, [*stored, (job, result)]) from None
        except sqlite3.DatabaseError as e:  # a full disk, an I/O error: stop, keep this result
            raise storage_failed(db, job, result, e) from None
        if status == queue.LOST:  # frozen past its lease here, the job was taken over: its result is the other's
            progress.lost_to_another_sweep(job, slot)
            return
        if status == "done":
            stored.append((job, result))
        progress.finished(job, slot, status, result.get("error"))

    try:
        with LeaseKeeper(database_path(db), owner):
            executor.run(jobs, on_start, on_finish, progress.device_wait)
    except KeyboardInterrupt:
        progress.close()
        raise SweepInterrupted(
            progress.done, progress.failed, progress.total - progress.done - progress.failed, len(progress.current)
        ) from None
    progress.close()
    try:
        watch.check()  # a file damaged after the last result: the results are not where the summary would say
    except DatabaseChanged as e:
        raise database_lost(e, stored) from None
    failed = queue.failures(db, [j.key for j in jobs])
    return Summary(ran=progress.done + progress.failed, done=progress.done, failed=failed, elsewhere=progress.elsewhere)


def keep_runs(runs: list, near: Path) -> list[Path]:
    """Measured runs ((job, result) with a done result) as export files, one per kind, beside the
    database if its folder takes them, else in the working or temporary folder."""
    folders = [near, Path.cwd(), tempfile.gettempdir()]
    by_kind = defaultdict(list)
    for job, result in runs:
        if result.get("status") == "done":
            by_kind[job.kind].append((result, job.key))
    return [path for kind, kind_runs in by_kind.items() if (path := write_unstored(kind, kind_runs, folders))]


def storage_failed(db, job, result: dict, error: sqlite3.DatabaseError) -> LeaderboardError:
    """The sweep's stop in one line when its database cannot take a result: the cause, where the result
    is kept, and how to go on."""
    path = Path(database_path(db))
    cause = storage_cause(error)
    kept = keep_runs([(job, result)], path.parent)
    where = (
        f"this job's result is kept in {kept[0]} (invoke import-results {kept[0]} stores it)"
        if kept
        else "this job runs again next time"
    )
    return LeaderboardError(
        f"Cannot store {job.label} in {path}: {cause}. The sweep stopped; the jobs stored before stay, {where}. "
        "Free space or repair the database, then run the same command again."
    )


def database_lost(error: DatabaseChanged, runs: list) -> LeaderboardError:
    """The sweep's stop in one line when its database file went: what happened, and where this sweep's
    runs are kept."""
    kept = keep_runs(runs, error.path.parent)
    files = " ".join(map(str, kept))
    where = (
        f"the {len(runs)} runs it measured are kept in {files} (invoke import-results {files} stores them)"
        if kept
        else "it had measured nothing to keep"
    )
    return LeaderboardError(
        f"{error} The sweep stopped; {where}. Restore the database from a copy, or pass --db with a new one, "
        "then run the same command again."
    )


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep: what it kept, and what is left for the next run."""

    def __init__(self, done: int, failed: int, left: int, running: int):
        super().__init__("interrupted")
        self.done, self.failed, self.left, self.running = done, failed, left, running

    def text(self) -> str:
        was_running = f", {self.running} of them interrupted while running" if self.running else ""
        return (
            f"Interrupted: {self.done} jobs done and {self.failed} failed are stored; {self.left} left"
            f"{was_running}. Run the same command again to resume."
        )
