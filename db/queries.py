"""The queries the site needs: every result with its provenance, model facts, sources.

Plain lists of dicts, read once per build; render/ groups and joins them in memory (a full
timm import is ~36k rows: one pass each is faster than a query per model).
"""

import json

from db.kinds import KINDS


def _select(db, table: str, fields, order: str, where: str = "1") -> list[dict]:
    columns = ", ".join(f"[{f}]" for f in fields)
    cursor = db.conn.execute(f"SELECT {columns} FROM [{table}] WHERE {where} ORDER BY {order}")
    return [dict(zip(fields, values)) for values in cursor]


def latest_run(table: str) -> str:
    """SQL: the rowids of the latest run of each series in `table` (SQLite takes a bare column from
    the row that gives max() its value)."""
    return f"SELECT rowid FROM (SELECT rowid, max(created_at) FROM [{table}] GROUP BY series)"


def latest_and_earlier(db, kind) -> tuple[list[dict], list[dict]]:
    """The rows of `kind` (a db.kinds.ResultKind), the fields the site reads: the latest run of each
    series in the kind's order, and the runs a later run followed, oldest first. One pass over the
    table (most series have one run), not a query each."""
    fields = list(dict.fromkeys([*kind.site_fields, "series", "created_at"]))  # which runs go together
    rows = _select(db, kind.name, fields, kind.site_order)
    latest = {}
    for row in rows:
        held = latest.get(row["series"])
        if held is None or (row["created_at"] or "") >= (held["created_at"] or ""):
            latest[row["series"]] = row
    if len(latest) == len(rows):
        return rows, []
    keep = {id(row) for row in latest.values()}
    earlier = sorted((r for r in rows if id(r) not in keep), key=lambda r: r["created_at"] or "")
    return [r for r in rows if id(r) in keep], earlier


def model_facts(db) -> dict[str, dict]:
    """Catalogue rows by architecture name, with their JSON lists decoded."""
    facts = {}
    cursor = db.conn.execute("SELECT * FROM models")
    names = [d[0] for d in cursor.description]
    for values in cursor:
        record = dict(zip(names, values))
        for key in ("norms", "pretrained_tags"):
            record[key] = json.loads(record[key]) if record.get(key) else []
        facts[record["name"]] = record
    return facts


def failed_jobs(db) -> list[dict]:
    """Failed jobs of the queue, newest first: what the model pages list and point to."""
    return list(
        db.query(
            "SELECT key, kind, model, spec, error, attempts, finished_at FROM jobs "
            "WHERE status = 'failed' ORDER BY finished_at DESC"
        )
    )


def environments(db) -> dict[str, dict]:
    return {row["id"]: row for row in db["environments"].rows}


def sources(db) -> list[dict]:
    """One row per imported or measured source: kind, rows, where it was read from, its dates."""
    sql = (
        "SELECT '{kind}' AS kind, source, min(source_url) AS source_url, count(*) AS rows, "
        "count(DISTINCT model) AS models, min(created_at) AS first, max(created_at) AS last "
        "FROM [{kind}] GROUP BY source"
    )
    rows = []
    for kind in KINDS:
        rows += list(db.query(sql.format(kind=kind)))
    return sorted(rows, key=lambda r: (r["source"] != "measured", r["kind"], r["source"]))
