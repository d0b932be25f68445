"""`invoke eval-all`, minus the command line: plan → queue → run → summary.

The invoke process is the only database writer: executors hand each result back here and it is
stored (result row + job status, one transaction) as soon as the job ends.
"""
import json
from collections import Counter
from dataclasses import dataclass

from db import queue
from jobs.progress import Progress


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
