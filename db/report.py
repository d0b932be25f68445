"""Plain-text views of the database for the command line."""

import csv
import io
import json

from db.claims import owner_alive
from db.errors import LeaderboardError
from db.history import CHANGE_THRESHOLD, latest_changes
from db.kinds import KINDS, get_kind
from db.queue import spec_label


def format_table(rows: list[dict], columns: list[str]) -> str:
    """Left-aligned text table; numbers right-aligned."""
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def line(values, numeric_flags):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric_flags)).rstrip()

    numeric = [
        bool(rows) and all(isinstance(r.get(c), (int, float)) for r in rows if r.get(c) is not None) for c in columns
    ]
    out = [line(columns, [False] * len(columns)), line(["-" * w for w in widths], [False] * len(columns))]
    out += [line(row, numeric) for row in cells]
    return "\n".join(out)


def format_records(rows: list[dict], columns: list[str], fmt: str) -> str:
    """rows as `table`, `json` or `csv`."""
    if fmt == "json":
        return json.dumps(rows, indent=1)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()} for r in rows)
        return buffer.getvalue().rstrip("\n")
    return format_table(rows, columns)


KEY_SHOWN = 12  # characters of a job key: enough to name it, short enough to type


CATALOG_COLUMNS = ["name", "family", "norm", "params_m", "gmacs", "input_size", "weights"]


def catalog_listing(entries: list[dict], fmt: str) -> str:
    """Catalogue entries as `invoke catalog` prints them: a table of the main facts, or every field."""
    rows = [
        {**e, "params_m": round(e["params"] / 1e6, 3), "weights": ",".join(e["pretrained_tags"]) or "-"}
        for e in entries
    ]
    if fmt == "table":
        rows = [{k: r[k] for k in CATALOG_COLUMNS} for r in rows]
    return format_records(rows, CATALOG_COLUMNS, fmt)


def catalog_results_text(report: dict) -> str:
    """What `invoke catalog --imported` did."""
    lines = [f"Catalogued {report['catalogued']} architectures that have stored results."]
    if report["unknown"]:
        lines.append(
            f"{len(report['unknown'])} are not in the installed timm (renamed or removed): "
            + ", ".join(report["unknown"][:10])
            + (" ..." if len(report["unknown"]) > 10 else "")
        )
    lines += [f"failed to build {name}: {error}" for name, error in report["failed"].items()]
    return "\n".join(lines)


def count_by(db, table: str, column: str) -> list[dict]:
    return list(db.query(f"SELECT [{column}], count(*) AS rows FROM [{table}] GROUP BY [{column}] ORDER BY rows DESC"))


def changes_table(changes: list) -> str:
    rows = [
        {
            "kind": c.kind,
            "model": c.after["model"],
            "settings": spec_label(c.after),
            "before": c.before[get_kind(c.kind).headline],
            "after": c.after[get_kind(c.kind).headline],
            "change": c.percent,
            "flag": c.direction,
            "run": (c.after["created_at"] or "")[:16],
        }
        for c in changes
    ]
    return format_table(rows, ["kind", "model", "settings", "before", "after", "change", "flag", "run"])


def job_states(db) -> list[dict]:
    """Jobs per status, `running` split: running now (a live sweep holds it), or interrupted (its sweep
    died; the next sweep runs it again)."""
    counts = {r["status"]: r["rows"] for r in count_by(db, "jobs", "status") if r["status"] != "running"}
    for job in db.query("SELECT owner, lease_expires FROM jobs WHERE status = 'running'"):
        state = "running" if owner_alive(job["owner"], job["lease_expires"]) else "interrupted"
        counts[state] = counts.get(state, 0) + 1
    return [{"status": status, "rows": rows} for status, rows in sorted(counts.items(), key=lambda kv: -kv[1])]


def status_report(db, failures_shown: int = 20, threshold: float = CHANGE_THRESHOLD) -> str:
    """What is stored: rows per source, the queue per status, flagged changes and the latest failures."""
    parts = [
        f"Database: {db.conn.execute('PRAGMA database_list').fetchone()[2]}",
        f"Models in catalogue: {db['models'].count}   environments: {db['environments'].count}",
    ]
    for kind in KINDS:
        measurements = db.execute(f"SELECT count(DISTINCT series) FROM [{kind}]").fetchone()[0]
        parts.append(
            f"\n{kind} results: {db[kind].count}" + (f" runs of {measurements} measurements" if measurements else "")
        )
        if db[kind].count:
            parts.append(format_table(count_by(db, kind, "source"), ["source", "rows"]))
    parts.append(f"\njobs: {db['jobs'].count}")
    if db["jobs"].count:
        parts.append(format_table(job_states(db), ["status", "rows"]))
    flagged = latest_changes(db, threshold)
    if flagged:
        parts.append(
            f"\nchanges beyond {threshold:.0%} between a measurement's last two runs "
            "(the model pages show each history):\n" + changes_table(flagged)
        )
    failed = list(
        db.query(
            f"SELECT substr(key, 1, {KEY_SHOWN}) AS job, kind, model, attempts, error FROM jobs "
            "WHERE status = 'failed' ORDER BY finished_at DESC LIMIT ?",
            [failures_shown],
        )
    )
    if failed:
        parts.append(
            "\nfailed jobs (invoke status --job JOB shows the traceback and output):\n"
            + format_table(failed, ["job", "kind", "model", "attempts", "error"])
        )
    return "\n".join(parts)


class UnknownJob(LeaderboardError):
    pass


def job_report(db, key_prefix: str) -> str:
    """One job in full: its spec, status, error, traceback and the end of its output."""
    # a plain prefix test: LIKE would read the user's % and _ as wildcards
    rows = list(
        db.query(
            "SELECT * FROM jobs WHERE substr(key, 1, length(:prefix)) = :prefix ORDER BY key LIMIT 2",
            {"prefix": key_prefix},
        )
    )
    if len(rows) != 1:
        problem = "No job" if not rows else "More than one job"
        raise UnknownJob(f"{problem} with a key starting {key_prefix!r}: pass a key from invoke status's job column.")
    job = rows[0]
    lines = [
        f"{name}: {job[name]}"
        for name in (
            "key",
            "kind",
            "model",
            "status",
            "attempts",
            "sweep",
            "started_at",
            "finished_at",
            "exit_code",
            "error",
        )
    ]
    lines.append(f"spec: {job['spec']}")
    for name, title in (("traceback", "traceback"), ("output_tail", "output (last lines)")):
        if job[name]:
            lines += [f"\n{title}:", job[name].rstrip()]
    return "\n".join(lines)
