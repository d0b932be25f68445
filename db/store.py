"""Writing results and environments: the one place rows get their identity (migrations keep their own,
frozen: db/migrations.py)."""

from datetime import datetime, timezone

from db.columns import ENVIRONMENT_COLUMNS, ENVIRONMENT_COLUMNS_M003
from db.ids import stable_hash  # noqa: F401 (db.store.stable_hash: where callers have always found it)
from db.kinds import get_kind


def now_iso(timespec: str = "seconds") -> str:
    return datetime.now(timezone.utc).isoformat(timespec=timespec)


def environment_id(env: dict) -> str:
    known = {k: env.get(k) for k in ENVIRONMENT_COLUMNS if k != "id"}
    for later in ENVIRONMENT_COLUMNS_M003:  # unset, they leave the id of an older environment as it was
        if known[later] is None:
            del known[later]
    return stable_hash(known)


def environment_row(env: dict) -> dict:
    row = {k: env.get(k) for k in ENVIRONMENT_COLUMNS if k != "id"}
    row["id"] = environment_id(env)
    return row


def save_environment(db, env: dict) -> str:
    """Store `env` (once per distinct environment) and return its id."""
    row = environment_row(env)
    db["environments"].insert(row, pk="id", ignore=True)
    return row["id"]


def series_id(kind: str, row: dict) -> str:
    """The hash of what makes `row` the measurement it is: the runs of one measurement share it."""
    return stable_hash([kind] + [row.get(k) for k in get_kind(kind).identity])


def row_id(kind: str, row: dict, series: str | None = None) -> str:
    """A measured row is one run of its series, named by its time: a re-run adds a row. An imported
    row is its series: importing the same file again replaces its rows, never adds."""
    series = series or series_id(kind, row)
    return stable_hash([series, row.get("created_at")]) if row.get("source") == "measured" else series


def result_row(kind: str, result: dict, environment_id_: str | None = None) -> dict:
    """Keep the table's columns of `result`, then give the row its series and id."""
    row = {k: result.get(k) for k in get_kind(kind).columns}
    if environment_id_ is not None:
        row["environment_id"] = environment_id_
    row["created_at"] = row["created_at"] or now_iso()
    row["series"] = series_id(kind, row)
    row["id"] = row_id(kind, row, row["series"])
    return row


def save_results(db, kind: str, rows: list[dict]) -> int:
    """Insert-or-replace prepared rows (from result_row) into the table for `kind`: only a row with
    the same id (an imported row imported again) is replaced."""
    # executemany, not insert_all: sqlite-utils' per-cell type checks cost ~4x the insert itself
    columns = ["id", *(c for c in get_kind(kind).columns if c != "id")]
    sql = (
        f"INSERT OR REPLACE INTO [{kind}] ({', '.join(f'[{c}]' for c in columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    db.conn.executemany(sql, [[row[c] for c in columns] for row in rows])
    return len(rows)


def measured_row(kind: str, result: dict, job_key: str | None = None) -> tuple[dict, dict]:
    """One measured result dict (with its "environment") as the row it is stored as, and its
    environment's row."""
    unknown = get_kind(kind).unknown_fields(result)
    if unknown:  # a figure with no column would be lost without a word: a bug in the job or the kind
        raise ValueError(
            f"{kind} result fields with no column: {', '.join(unknown)}. Add them to the "
            f"table (a migration) or to the kind's extras in db/kinds.py."
        )
    environment = environment_row(result["environment"])
    # to the microsecond: the time names the run, and two runs of one setting never share it
    run = {
        **result,
        "source": "measured",
        "job_key": job_key,
        "created_at": now_iso("microseconds"),
        "low_fidelity": int(
            bool(result.get("low_fidelity"))
        ),  # 0 or 1: runs of `invoke bench` and eval-all share series
    }
    return result_row(kind, run, environment["id"]), environment


def save_measured(db, kind: str, result: dict, job_key: str | None = None) -> dict:
    """Store one measured result dict (with its "environment") and return the stored row."""
    row, environment = measured_row(kind, result, job_key)
    with db.atomic():
        db["environments"].insert(environment, pk="id", ignore=True)
        save_results(db, kind, [row])
    return row
