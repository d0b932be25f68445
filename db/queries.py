"""The queries the site needs: every result with its provenance, model facts, sources.

Plain lists of dicts, read once per build; render/ groups and joins them in memory (a full
timm import is ~36k rows: one pass each is faster than a query per model).
"""
import json

ACCURACY_FIELDS = ("model", "tag", "dataset", "img_size", "top1", "top5", "param_count", "crop_pct",
                   "interpolation", "precision", "images", "batch_size", "weights", "source",
                   "source_url", "environment_id", "created_at")
THROUGHPUT_FIELDS = ("model", "bench", "compile_mode", "precision", "channels_last", "fast_norm",
                     "img_size", "batch_size", "samples_per_sec", "samples_per_sec_min",
                     "samples_per_sec_max", "step_time_ms", "compile_s", "peak_mem_mb", "gmacs",
                     "param_count", "source", "source_url", "environment_id", "created_at")


def _select(db, table: str, fields, order: str) -> list[dict]:
    columns = ", ".join(f"[{f}]" for f in fields)
    cursor = db.conn.execute(f"SELECT {columns} FROM [{table}] ORDER BY {order}")
    return [dict(zip(fields, values)) for values in cursor]


def accuracy_rows(db) -> list[dict]:
    return _select(db, "accuracy", ACCURACY_FIELDS, "model, dataset, img_size, tag, source")


def throughput_rows(db) -> list[dict]:
    return _select(db, "throughput", THROUGHPUT_FIELDS,
                   "model, bench, compile_mode, precision, img_size, source")


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
    return list(db.query("SELECT key, kind, model, spec, error, attempts, finished_at FROM jobs "
                         "WHERE status = 'failed' ORDER BY finished_at DESC"))


def environments(db) -> dict[str, dict]:
    return {row["id"]: row for row in db["environments"].rows}


def sources(db) -> list[dict]:
    """One row per imported or measured source: kind, rows, where it was read from, its dates."""
    sql = ("SELECT '{kind}' AS kind, source, min(source_url) AS source_url, count(*) AS rows, "
           "count(DISTINCT model) AS models, min(created_at) AS first, max(created_at) AS last "
           "FROM [{kind}] GROUP BY source")
    rows = []
    for kind in ("accuracy", "throughput"):
        rows += list(db.query(sql.format(kind=kind)))
    return sorted(rows, key=lambda r: (r["source"] != "measured", r["kind"], r["source"]))
