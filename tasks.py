"""timm leaderboard: `invoke --list` shows the tasks, `invoke --help TASK` their flags.

A thin shell: each task parses its flags, calls into jobs/, db/ or render/, prints, and exits.
Heavy imports (torch, timm) happen inside the tasks that need them, so `invoke --list` is instant.
"""
import glob
import shlex
import signal
import sqlite3
import sys
from pathlib import Path

from invoke import Collection, Exit, task

from jobs.settings import defaults

DB_HELP = "SQLite database file (default: leaderboard.db in invoke.yaml, else db/leaderboard.db)."
FORMATS = ("table", "json", "csv")


def open_database(c, db_flag):
    """The database from --db, INVOKE_LEADERBOARD_DB, invoke.yaml or the default, in that order."""
    from db.schema import open_db

    path = db_flag or c.config.leaderboard.db
    try:
        return open_db(path)
    except sqlite3.OperationalError as e:
        if "locked" in str(e):
            raise Exit(f"Database {path} is locked by another process: wait for it to finish, or pass --db OTHER.db.")
        raise Exit(f"Cannot open database {path}: {e}. Pass --db with a writable path.")


def check_choice(flag: str, value: str, choices) -> None:
    if value not in choices:
        raise Exit(f"--{flag} {value!r} is not one of {', '.join(choices)}. Try --{flag} {choices[0]}.")


@task(
    iterable=["models"],
    help={
        "models": "Model name or glob, repeatable (default: test_*). A weight tag (test_vit.r160_in1k) is accepted.",
        "format": "Output format: table, json or csv.",
        "db": DB_HELP,
    },
)
def catalog(c, models=None, format="table", db=None):
    """List models with family, norm type, parameters, GMACs and published weights; store them in the database."""
    check_choice("format", format, FORMATS)
    from db.report import format_records
    from jobs.catalog import DEFAULT_MODELS, UnknownModel, catalog as build_catalog, save_catalog

    try:
        entries = build_catalog(models or DEFAULT_MODELS)
    except UnknownModel as e:
        raise Exit(str(e))
    save_catalog(open_database(c, db), entries)
    for e in entries:
        e["params_m"] = round(e["params"] / 1e6, 3)
        e["weights"] = ",".join(e["pretrained_tags"]) or "-"
    columns = ["name", "family", "norm", "params_m", "gmacs", "input_size", "weights"]
    rows = entries if format != "table" else [{k: e[k] for k in columns} for e in entries]
    print(format_records(rows, columns, format))


@task(help={"db": DB_HELP})
def status(c, db=None):
    """Summarise what is stored: results per source, the job queue, recent failures."""
    from db.report import status_report

    print(status_report(open_database(c, db)))


def import_sources(source: str, remainder: str) -> list[str]:
    """Expand SOURCE and any after `--`: folders to their CSVs, quoted globs to their matches."""
    expanded = []
    for s in [source] + shlex.split(remainder or ""):
        if Path(s).is_dir():
            expanded += sorted(str(p) for p in Path(s).glob("*.csv"))
        elif any(ch in s for ch in "*?[") and not s.startswith(("http://", "https://")):
            expanded += sorted(glob.glob(s)) or [s]
        else:
            expanded.append(s)
    return expanded


@task(
    positional=["source"],
    help={
        "source": "A timm results-*.csv / benchmark-*.csv file, a reference CSV, a leaderboard export, "
        "a folder of CSVs, a quoted glob, or an http(s) URL. More sources may follow `--`.",
        "db": DB_HELP,
    },
)
def import_results(c, source, db=None):
    """Import timm's published results CSVs (and the tiny-test-model reference figures) with their provenance.

    Examples: invoke import-results ../shared/timm-results
              invoke import-results 'results-*.csv' -- https://host/benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv
    """
    from db.timm_csv import ImportRefused, import_file

    sources = import_sources(source, c.remainder)
    if not sources:
        raise Exit(f"No CSV files in {source}: pass a CSV file, a folder of CSVs or a URL.")
    database = open_database(c, db)
    refused = 0
    for s in sources:
        try:
            kind, rows = import_file(database, s)
            print(f"{s}: {rows} {kind} rows")
        except ImportRefused as e:
            refused += 1
            print(f"refused: {e}", file=sys.stderr)
    if refused:
        raise Exit(f"{refused} of {len(sources)} files refused (nothing of them stored); the others were imported.")


@task(
    help={
        "kind": "accuracy or throughput.",
        "format": "csv or json.",
        "out": "Output file (default: stdout). Name it leaderboard-<kind>....csv|json to import it back.",
        "db": DB_HELP,
    },
)
def export(c, kind="accuracy", format="csv", out=None, db=None):
    """Write stored results in timm's column conventions, with their provenance; re-importable."""
    check_choice("kind", kind, ("accuracy", "throughput"))
    check_choice("format", format, ("csv", "json"))
    from db.export import export_records, write_export

    records = export_records(open_database(c, db), kind)
    if out is None:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `invoke export | head` ends quietly
        write_export(records, kind, format, sys.stdout)
        return
    with open(out, "w", newline="") as stream:
        write_export(records, kind, format, stream)
    print(f"{len(records)} {kind} rows written to {out}", file=sys.stderr)


ns = Collection(catalog, status, import_results, export)
ns.configure({"leaderboard": defaults()})
