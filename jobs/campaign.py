"""`invoke eval-all`, minus the command line: plan → queue → run → summary.

The invoke process is the only database writer: executors hand each result back here and it is
stored (result row + job status, one transaction) as soon as the job ends.
"""
import json
from collections import Counter
from dataclasses import dataclass

from db import queue
from jobs.executors import LocalExecutor, local_slots
from jobs.progress import Progress
from jobs.sweep import Job, detect_target, plan_as_dicts


@dataclass
class Summary:
    ran: int
    done: int
    failed: list   # rows: kind, model, spec, error

    def text(self) -> str:
        lines = [f"{self.ran} jobs run: {self.done} done, {len(self.failed)} failed."]
        if self.failed:
            lines.append(f"{len(self.failed)} jobs failed:")
            lines += [f"  {f['kind']} {job_settings(f)}: {f['error']}" for f in self.failed]
        return "\n".join(lines)


def job_settings(row: dict) -> str:
    spec = json.loads(row["spec"])
    settings = [str(spec[k]) for k in ("bench", "compile_mode", "img_size") if spec.get(k)]
    return " ".join([row["model"], *settings])


def plan_text(jobs, plan: queue.QueuePlan) -> str:
    """The --dry-run report: jobs per kind, and what the queue already holds."""
    per_kind = Counter(j.kind for j in jobs)
    to_run = Counter(j.kind for j in plan.to_run)
    lines = [f"{kind}: {count} jobs, {to_run[kind]} to run" for kind, count in sorted(per_kind.items())]
    lines.append(f"total: {len(jobs)} jobs; {plan.done} already done, {len(plan.to_run)} to run"
                 f" ({plan.resumed} interrupted before), {plan.failed} failed before"
                 + (" (pass --retry-failed to run them again)" if plan.failed else ""))
    return "\n".join(lines)


def plan(executor, sweep: dict, target, data, narrowing, catalogued: set | None = None) -> tuple[list[Job], list]:
    """(the sweep's jobs, catalogue facts of its uncatalogued models). Planning needs timm, so
    torch: a local executor plans in one of its workers, which have both imported already, so
    this process stays light and exits fast."""
    args = (sweep, target, data, narrowing, catalogued)
    if hasattr(executor, "call"):
        result = executor.call("jobs.sweep:plan_as_dicts", *args)
    else:
        result = plan_as_dicts(*args)
    if result["status"] != "done":
        raise ValueError(result["error"])
    return [Job(**job) for job in result["jobs"]], result["models"]


def make_executor(name: str, target, timeout_s: float, ray_address: str | None = None):
    """A started executor: `local` (forkserver children, one per slot) or `ray`."""
    if name == "ray":
        from jobs.ray_executor import RayExecutor

        executor = RayExecutor(target.device_type, timeout_s, ray_address)
    else:
        executor = LocalExecutor(local_slots(target.device_type, target.slots), timeout_s)
    executor.start()
    return executor


def start(sweep: dict, device, executor_name: str, timeout_s: float, ray_address, data, narrowing,
          dry_run=False, catalogued: set | None = None):
    """(target, started executor or None for a dry run, planned jobs, catalogue facts). The
    executor starts first, so its workers' imports overlap with the rest; it is closed again if
    planning fails."""
    target = detect_target(device)
    executor = None if dry_run else make_executor(executor_name, target, timeout_s, ray_address)
    try:
        return (target, executor, *plan(executor, sweep, target, data, narrowing, catalogued))
    except BaseException:
        if executor:
            executor.close()
        raise


def run_jobs(db, executor, jobs, progress: Progress) -> Summary:
    def on_start(job, slot):
        queue.mark_running(db, job.key)
        progress.started(job, slot)

    def on_finish(job, slot, result):
        status = queue.record_result(db, job, result)
        progress.finished(job, slot, status, result.get("error"))

    try:
        executor.run(jobs, on_start, on_finish)
    finally:
        progress.close()
    failed = queue.failures(db, [j.key for j in jobs])
    return Summary(ran=progress.done + progress.failed, done=progress.done, failed=failed)
