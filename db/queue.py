"""The job queue in the `jobs` table. Only invoke processes (sweeps) write it, never jobs.

Every state change is its own transaction, and a finished job's result row is written in the
same transaction as its `done` status: killing the sweep at any moment loses no finished result,
and the next run picks up what is left (`running` jobs whose sweep died were interrupted and run
again). Sweeps sharing a database claim each job before running it (db.claims).
"""

import json
import sqlite3
import traceback
from dataclasses import dataclass
from datetime import datetime

from db.claims import claim, free_claims, owner_alive
from db.errors import one_line
from db.store import now_iso, save_measured

TAIL_CHARS = 4000  # of a crashed job's output, kept for the error report
TRACEBACK_CHARS = 8000  # of a failed job's traceback, kept beside its one-line error


@dataclass
class QueuePlan:
    """What `enqueue` decided for the planned jobs."""

    to_run: list  # jobs (jobs.sweep.Job) to run now, in plan order
    done: int = 0  # already finished (skipped)
    failed: int = 0  # failed before and not retried (pass --retry-failed)
    resumed: int = 0  # left `running` by an interrupted sweep: run again
    held: int = 0  # running in another live sweep on this database: left to it


LABEL_SETTINGS = ("bench", "compile_mode", "img_size")  # what tells a model's jobs apart at a glance


def spec_label(spec: dict) -> str:
    """A job's settings for people: "train max-autotune 160" (the ones its spec has)."""
    return " ".join(str(spec[k]) for k in LABEL_SETTINGS if spec.get(k))


def jobs_with_keys(db, columns: str, keys: list[str], where: str = "1") -> list[dict]:
    rows = []
    for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
        chunk = keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows += db.query(f"SELECT {columns} FROM jobs WHERE {where} AND key IN ({marks})", chunk)
    return rows


def existing_jobs(db, keys: list[str]) -> dict:
    return {r["key"]: r for r in jobs_with_keys(db, "key, status, owner, lease_expires", keys)}


def decide(status: str | None, force: bool, retry_failed: bool) -> str:
    """run | done | failed, for a planned job whose stored status is `status` (and no live sweep holds)."""
    if status is None or force or status in ("queued", "running"):
        return "run"
    if status == "failed":
        return "run" if retry_failed else "failed"
    return "done"  # done, or skipped


def enqueue(db, jobs, sweep: str, force=False, retry_failed=False, dry_run=False) -> QueuePlan:
    """Put the planned jobs in the queue (idempotent) and say which of them run now: never one that
    another live sweep is running."""
    stored = existing_jobs(db, [j.key for j in jobs])
    running = [r for r in stored.values() if r["status"] == "running"]
    held = {r["key"] for r in running if owner_alive(r["owner"], r["lease_expires"])}
    if not dry_run:  # the others' sweeps died: their jobs go back in the queue
        free_claims(db, [r for r in running if r["key"] not in held])
    plan = QueuePlan(to_run=[])
    for job in jobs:
        row = stored.get(job.key) or {}
        if job.key in held:
            plan.held += 1
            continue
        decision = decide(row.get("status"), force, retry_failed)
        if decision == "run":
            plan.to_run.append(job)
            plan.resumed += row.get("status") == "running"
        else:
            setattr(plan, decision, getattr(plan, decision) + 1)
    if not dry_run:
        queue_jobs(db, plan.to_run, sweep)
    return plan


def queue_jobs(db, jobs, sweep: str) -> None:
    """Insert or re-queue `jobs`; a job another sweep claimed meanwhile stays its."""
    rows = [[j.key, j.kind, j.model, json.dumps(j.spec, sort_keys=True), sweep, now_iso()] for j in jobs]
    with db.atomic():
        db.conn.executemany(
            "INSERT INTO jobs (key, kind, model, spec, sweep, status, created_at) VALUES (?, ?, ?, ?, ?, 'queued', ?) "
            "ON CONFLICT(key) DO UPDATE SET kind = excluded.kind, model = excluded.model, spec = excluded.spec, "
            "sweep = excluded.sweep, status = 'queued', created_at = excluded.created_at "
            "WHERE jobs.status != 'running'",
            rows,
        )


def start(db, key: str, owner: str) -> bool:
    """Claim job `key` for this sweep before running it; False: another sweep holds or finished it."""
    return claim(db, key, owner, now_iso("microseconds"))


def finish(db, key: str, fields: dict, owner: str | None = None) -> bool:
    """Write job `key`'s final fields; with `owner`, only while that sweep still holds its claim (the
    same statement checks it: the writer that lost a lapsed claim to another sweep writes nothing).
    Whether it wrote."""
    fields = {**fields, "finished_at": now_iso("microseconds"), "lease_expires": None}
    assignments = ", ".join(f"[{name}] = ?" for name in fields)
    claimed = " AND owner = ? AND status = 'running'" if owner else ""
    cursor = db.execute(
        f"UPDATE jobs SET {assignments} WHERE key = ?{claimed}", [*fields.values(), key, *([owner] if owner else [])]
    )
    return cursor.rowcount == 1


class ClaimLost(Exception):
    """Another sweep took the job over (this sweep's claim lapsed): its result here is not stored."""


LOST = "lost"  # record_result's status for a result whose claim another sweep took over


def low_fidelity(spec: dict) -> int:
    """1 for a job of a sweep marked low-fidelity (the smoke sweep): its runs are kept apart."""
    return int(bool(spec.get("low_fidelity")))


def record_result(db, job, result: dict, owner: str | None = None) -> str:
    """Store a job function's result dict and the job's final status; return that status. A result
    that cannot be stored (a bug in its job) fails its job, never the sweep. With `owner` (a sweep's),
    nothing is written unless that sweep still holds the job's claim: LOST then, the job being
    another sweep's to finish (a sweep frozen past its lease, a second host on the same file)."""
    try:
        if result.get("status") == "done":
            try:
                return store_done(db, job, result, owner)
            except (ValueError, TypeError, sqlite3.InterfaceError) as e:  # fields the table cannot take
                result = {
                    **result,
                    "status": "failed",
                    "error": f"Result not stored: {one_line(e)}",
                    "traceback": traceback.format_exc(),
                }
        return store_failure(db, job, result, owner)
    except ClaimLost:
        return LOST


def store_done(db, job, result: dict, owner: str | None) -> str:
    """The result row and the job's `done`, in one transaction, the claim checked first."""
    with db.atomic():
        finished = {"status": "done", "error": None, "traceback": None, "output_tail": None, "exit_code": 0}
        if not finish(db, job.key, finished, owner):  # takes the write lock: nobody claims it meanwhile
            raise ClaimLost(job.key)
        row = save_measured(db, job.kind, {**result, "low_fidelity": low_fidelity(job.spec)}, job_key=job.key)
        db.execute("UPDATE jobs SET result_id = ? WHERE key = ?", [row["id"], job.key])
    return "done"


def store_failure(db, job, result: dict, owner: str | None) -> str:
    status = result.get("status", "failed")
    fields = {
        "status": status,
        "error": result.get("error") or "failed without a message",
        "exit_code": result.get("exit_code"),
        "traceback": (result.get("traceback") or "")[-TRACEBACK_CHARS:] or None,
        "output_tail": (result.get("output_tail") or "")[-TAIL_CHARS:] or None,
    }
    with db.atomic():
        if not finish(db, job.key, fields, owner):
            raise ClaimLost(job.key)
    return status


def finished_durations(db, limit: int = 2000) -> list[tuple[str, dict, float]]:
    """(kind, spec, seconds) of the latest finished jobs: what jobs of each kind took before."""
    rows = db.query(
        "SELECT kind, spec, started_at, finished_at FROM jobs WHERE status = 'done' AND started_at "
        "IS NOT NULL AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?",
        [limit],
    )
    found = []
    for row in rows:
        try:
            seconds = (
                datetime.fromisoformat(row["finished_at"]) - datetime.fromisoformat(row["started_at"])
            ).total_seconds()
            found.append((row["kind"], json.loads(row["spec"] or "{}"), seconds))
        except (ValueError, TypeError):  # a timestamp or spec no run of ours wrote: no estimate from it
            continue
    return found


def failures(db, keys: list[str]) -> list[dict]:
    return jobs_with_keys(db, "kind, model, spec, error", keys, where="status = 'failed'")
