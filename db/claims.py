"""Job claims: how sweeps that share a database share its jobs and never run one twice.

A sweep runs a job only after claiming it: one UPDATE that turns a `queued` job (or a `running` one
whose claim lapsed) into `running`, owned by the sweep ("host:pid:token"), with a lease that the
sweep renews while it lives. Another sweep skips jobs held by a live owner; a claim whose owner
died (its lease ran out, or its process is gone from this host) is taken over: that is the resume
after a crash or a `kill -9`.
"""

import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path

LEASE_S = 90.0  # a claim lapses this long after its owner last renewed it
RENEW_EVERY_S = 20.0  # how often a live sweep renews its claims


def new_owner() -> str:
    """A name for this sweep, unique across hosts and runs: host, pid, and a token."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def process_alive(pid: int) -> bool:
    """Whether process `pid` of this host runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (macOS): signal 0 is all there is
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def owner_alive(owner: str | None, lease_expires: float | None, now: float | None = None) -> bool:
    """Whether a claim still holds: its lease has not lapsed and, on this host, its process lives."""
    if not owner or lease_expires is None or lease_expires < (now or time.time()):
        return False
    host, pid, _ = (owner.split(":") + ["", "", ""])[:3]
    if host == socket.gethostname() and pid.isdigit():
        return process_alive(int(pid))
    return True


def claim(db, key: str, owner: str, started_at: str) -> bool:
    """Claim job `key` for `owner` (atomic: of several sweeps, one wins); False when another holds it
    or it is no longer queued (another sweep finished it)."""
    now = time.time()
    with db.atomic():
        cursor = db.execute(
            "UPDATE jobs SET status = 'running', owner = ?, lease_expires = ?, started_at = ?, finished_at = NULL, "
            "attempts = coalesce(attempts, 0) + 1 "
            "WHERE key = ? AND (status = 'queued' OR (status = 'running' AND (lease_expires IS NULL OR lease_expires < ?)))",
            [owner, now + LEASE_S, started_at, key, now],
        )
    return cursor.rowcount == 1


def free_claims(db, rows: list[dict]) -> None:
    """Put back in the queue the jobs of `rows` (key, owner), claimed by sweeps that died: unless
    another sweep has claimed one since."""
    with db.atomic():
        for row in rows:
            db.execute(
                "UPDATE jobs SET status = 'queued', lease_expires = NULL WHERE key = ? AND status = 'running' "
                "AND coalesce(owner, '') = coalesce(?, '')",
                [row["key"], row["owner"]],
            )


def renew(conn, owner: str) -> None:
    conn.execute(
        "UPDATE jobs SET lease_expires = ? WHERE owner = ? AND status = 'running'", [time.time() + LEASE_S, owner]
    )
    conn.commit()


class LeaseKeeper:
    """Renews `owner`'s claims every RENEW_EVERY_S from a thread with its own connection (a sqlite3
    connection belongs to its thread), while the sweep runs."""

    def __init__(self, db_path: str, owner: str, every_s: float = RENEW_EVERY_S):
        self.db_path, self.owner, self.every_s = db_path, owner, every_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.loop, name="lease-keeper", daemon=True)

    def loop(self) -> None:
        conn = sqlite3.connect(self.db_path, timeout=30)
        try:
            while not self.stopped.wait(self.every_s):
                try:
                    renew(conn, self.owner)
                except sqlite3.Error:  # a busy database: the lease has slack for the next try
                    pass
        finally:
            conn.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()
