"""timm leaderboard: `invoke --list` shows the tasks, `invoke --help TASK` their flags.

A thin shell: each task parses its flags, calls into jobs/, db/ or render/, prints, and exits.
Heavy imports (torch, timm) happen inside the tasks that need them, so `invoke --list` is instant.
"""
import functools
import shlex
import signal
import sqlite3
import sys
from pathlib import Path

import invoke
from invoke import Collection, Exit

from db.errors import LeaderboardError
from jobs.settings import defaults, job_timeout

DB_HELP = "SQLite database file (default: leaderboard.db in invoke.yaml, else db/leaderboard.db)."
FORMATS = ("table", "json", "csv")


def task(*args, **kwargs):
    """Invoke's @task, with a LeaderboardError (something the user can fix) printed as its one line
    and exit code 1; every other exception is a bug and keeps its traceback."""
    def decorate(body):
        @functools.wraps(body)  # invoke reads the flags from the wrapped signature
        def run(c, *a, **kw):
            try:
                return body(c, *a, **kw)
            except LeaderboardError as e:
                raise Exit(str(e)) from None
        return invoke.task(*args, **kwargs)(run)
    return decorate


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
        "imported": "Instead, catalogue every architecture that has stored results (e.g. imported from timm's "
        "tables) and no entry yet, built on the meta device (no memory, minutes for ~1,500 models).",
        "db": DB_HELP,
    },
)
def catalog(c, models=None, format="table", imported=False, db=None):
    """List models with family, norm type, parameters, GMACs and published weights; store them in the database."""
    check_choice("format", format, FORMATS)
    if imported and models:
        raise Exit("--imported catalogues the architectures that have results; drop --models, or drop --imported.")
    from db.catalog import save_catalog
    from db.report import catalog_listing, catalog_results_text
    from jobs.catalog import DEFAULT_MODELS, catalog as build_catalog, catalog_results

    database = open_database(c, db)
    if imported:
        print(catalog_results_text(catalog_results(database)))
        return
    entries = build_catalog(models or DEFAULT_MODELS)
    save_catalog(database, entries)
    print(catalog_listing(entries, format))


@task(help={"job": "Show this job in full (its key, or the start of it from the job column): spec, error, "
            "traceback, output.",
            "threshold": "Flag a change of more than this fraction between a measurement's consecutive runs "
            "(default: leaderboard.change_threshold, 0.05).", "db": DB_HELP})
def status(c, job=None, threshold=None, db=None):
    """Summarise what is stored: results per source, the job queue, flagged changes between runs, recent
    failures; or one job in full."""
    from db.report import job_report, status_report

    limit = configured_threshold(c, threshold)
    database = open_database(c, db)
    print(status_report(database, threshold=limit) if job is None else job_report(database, job))


def configured_threshold(c, flag=None) -> float:
    """The change flagged between a measurement's consecutive runs: --threshold, else leaderboard.change_threshold."""
    from db.history import change_threshold

    return change_threshold(flag if flag is not None else c.config.leaderboard.change_threshold)


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
    from db.timm_csv import expand_sources, import_files

    sources = expand_sources([source, *shlex.split(c.remainder or "")])
    if not sources:
        raise Exit(f"No CSV files in {source}: pass a CSV file, a folder of CSVs or a URL.")
    refused = import_files(open_database(c, db), sources)
    if refused:
        raise Exit(f"{refused} of {len(sources)} files refused (nothing of them stored); the others were imported.")


@task(
    help={
        "kind": "accuracy or throughput.",
        "format": "csv or json.",
        "out": "Output file (default: stdout). Name it leaderboard-<kind>....csv|json to import it back.",
        "runs": "latest (default: the latest run of each measurement, as the site shows), earlier "
        "(the runs a later one followed) or all.",
        "db": DB_HELP,
    },
)
def export(c, kind="accuracy", format="csv", out=None, runs="latest", db=None):
    """Write stored results in timm's column conventions, with their provenance; re-importable."""
    from db.export import RUNS, export_records, write_export
    from db.kinds import KINDS

    check_choice("kind", kind, tuple(KINDS))
    check_choice("format", format, ("csv", "json"))
    check_choice("runs", runs, tuple(RUNS))

    records = export_records(open_database(c, db), kind, runs)
    if out is None:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `invoke export | head` ends quietly
        write_export(records, kind, format, sys.stdout)
        return
    with open(out, "w", newline="") as stream:
        write_export(records, kind, format, stream)
    print(f"{len(records)} {kind} rows written to {out}", file=sys.stderr)


EVALUATE_HELP = {
    "model": "Model and weight tag, e.g. test_vit.r160_in1k (an architecture alone takes its default tag).",
    "data_dir": "ImageNet-style folder (one sub-folder of images per class) or a root holding val/ "
    "(default: leaderboard.data_dir, INVOKE_LEADERBOARD_DATA_DIR).",
    "img_size": "Input size in pixels, e.g. 160 or 192 (default: the pretrained config's test size).",
    "checkpoint": "Offline weights: a checkpoint file, or a folder holding <model>.safetensors|.pth "
    "(default: leaderboard.checkpoint_dir, else the Hugging Face hub).",
    "class_map": "File whose line i names the folder of the model's class i, when folders are a subset or "
    "named otherwise (default: leaderboard.class_map).",
    "split": "Split looked for under --data-dir (default: validation, which also finds val/).",
    "dataset": "Name stored with the result (default: the folder's, e.g. imagenet for /data/imagenet/val).",
    "dataset_type": "timm create_dataset type for other sources, e.g. hfds/imagenet-1k (default: a folder or tar).",
    "batch_size": "Batch size (default 256); backs off on out-of-memory; the figures do not depend on it.",
    "workers": "Data-loader worker processes (default: 4, at most the CPU count).",
    "precision": "fp32, amp (float16 on CUDA, bfloat16 on CPU), amp_fp16 or amp_bf16.",
    "channels_last": "Run the model in channels_last memory format.",
    "device": "cpu, cuda or cuda:N (default: cuda when a GPU is visible).",
    "db": DB_HELP,
}


@task(help=EVALUATE_HELP)
def evaluate(c, model, data_dir=None, img_size=None, checkpoint=None, class_map=None, split="validation",
             dataset=None, dataset_type="", batch_size=None, workers=None, precision="fp32",
             channels_last=False, device=None, db=None):
    """Measure one model's top-1/top-5 exactly as timm's validate.py does, in a fresh job process; print and store it.

    Example: invoke evaluate --model test_vit.r160_in1k --data-dir /data/imagenet/val --img-size 192
    """
    from jobs.accuracy import summary_line

    settings = c.config.leaderboard
    spec = dict(model=model, data_dir=data_dir or settings.data_dir, weights=checkpoint or settings.checkpoint_dir,
                class_map=class_map or settings.get("class_map"), img_size=img_size, split=split, dataset=dataset,
                dataset_type=dataset_type, batch_size=batch_size, workers=workers, precision=precision,
                channels_last=channels_last, device=device)
    run_one_job(c, "accuracy", spec, db, summary_line)
    print(f"Stored in {db or settings.db} (accuracy, source measured).")


def run_one_job(c, kind: str, spec: dict, db_flag, describe) -> dict:
    """`invoke evaluate` and `invoke bench`: check `spec` (one line if it is bad, before the database is
    opened), run ONE job of `kind` in a fresh job process as eval-all would, print `describe(result)`,
    and store it; a failed job prints why and exits 1, storing nothing."""
    from db.kinds import get_kind
    from db.store import save_measured
    from jobs.executors import job_process

    with job_process(job_timeout(c.config.leaderboard.job_timeout)) as runner:
        checked = runner.call("jobs.spec_checks:checked_spec", kind, spec)
        if checked["status"] != "done":
            raise Exit(checked["error"])
        database = open_database(c, db_flag)
        result = runner.call(get_kind(kind).job, checked["spec"])
    if result.get("status") != "done":
        if not result.get("user_error") and (result.get("traceback") or result.get("output_tail")):
            print(result.get("traceback") or result["output_tail"], file=sys.stderr)  # a bug or a crash: where
        raise Exit(f"{kind.capitalize()} job {result.get('status', 'failed')}: {result['error']}")
    save_measured(database, kind, result)
    print(describe(result))
    return result


EVAL_ALL_HELP = {
    "sweep": "Named sweep: default (the tiny-test-model campaign), smoke, or one under leaderboard.sweeps in invoke.yaml.",
    "models": "Only these models (names or globs, repeatable), within the sweep's.",
    "kind": "Only the jobs of one result kind (accuracy, throughput: the kinds in db/kinds.py).",
    "bench": "Only these throughput benches (infer, train; repeatable).",
    "compile_mode": "Only these compile modes (eager, default, reduce-overhead, max-autotune; repeatable).",
    "executor": "local (one process per job, one slot per GPU or one CPU slot) or ray.",
    "ray_address": "Ray cluster address (default: RAY_ADDRESS, else a local Ray).",
    "data_dir": "ImageNet-style validation folder for accuracy jobs (else leaderboard.data_dir).",
    "checkpoint_dir": "Offline weights: a folder of <model>.safetensors|.pth (else leaderboard.checkpoint_dir; none: the hub).",
    "class_map": "Class-map file when the dataset's folders are a subset (else leaderboard.class_map).",
    "device": "cuda or cpu (default: cuda when a GPU is visible).",
    "force": "Run every planned job again, even finished ones.",
    "retry_failed": "Run jobs that failed before again (their attempts are counted).",
    "dry_run": "Print the plan (jobs per kind, already done) and run nothing.",
    "no_site": "Do not build the site afterwards.",
    "timeout": "Seconds before a job's process group is killed (default: leaderboard.job_timeout).",
    "db": DB_HELP,
}


@task(iterable=["models", "bench", "compile_mode"], help=EVAL_ALL_HELP)
def eval_all(c, sweep="default", models=None, kind=None, bench=None, compile_mode=None, executor=None,
             ray_address=None, data_dir=None, checkpoint_dir=None, class_map=None, device=None, force=False,
             retry_failed=False, dry_run=False, no_site=False, timeout=None, db=None):
    """Run the measurement campaign: plan the sweep, skip stored results, run the rest in isolated processes, build the site."""
    check_choice("executor", executor or c.config.leaderboard.executor, ("local", "ray"))
    from db.kinds import KINDS
    from jobs.campaign import Options, run_campaign

    if kind is not None:
        check_choice("kind", kind, tuple(KINDS))

    options = Options.from_flags(
        c.config.leaderboard, sweep, models, kind, bench, compile_mode, executor, ray_address, data_dir,
        checkpoint_dir, class_map, device, timeout, force=force, retry_failed=retry_failed, dry_run=dry_run)
    database = open_database(c, db)
    summary = run_campaign(database, options)
    if summary is None:  # a dry run, or nothing left to run
        return
    print(summary.text())
    if not no_site:
        build_site_after_sweep(c, database)
    if summary.failed:
        raise Exit(code=1)


def build_site_after_sweep(c, database) -> None:
    """The site shows what the sweep stored; a failed build is reported, the results stay stored."""
    from render.build import SiteError, build_site

    try:
        summary = build_site(database, site_folder(c, None), configured_threshold(c))
    except SiteError as e:
        raise Exit(f"Results are stored, but the site was not built: {e}")
    print(f"Site built: {summary['out']}/index.html (invoke serve to browse it).")


BENCH_HELP = {
    "model": "timm model, e.g. test_vit (random weights; a weight tag is ignored).",
    "bench": "infer (eval, inference_mode) or train (forward + cross-entropy + backward + SGD step).",
    "compile_mode": "eager, default, reduce-overhead (CUDA graphs on CUDA) or max-autotune.",
    "precision": "fp32, amp_bf16 or amp_fp16 (autocast).",
    "img_size": "Input size in pixels (default: the model's default input size).",
    "batch_size": "Batch size (default 256); steps down timm's sizes (192, 128, ...) only on out-of-memory.",
    "channels_last": "Model and input in channels_last memory format.",
    "fast_norm": "timm's fast norm layers (timm.layers.set_fast_norm).",
    "sync_each_step": "Time as timm's benchmark.py does: wait for the device after every step (default: steps "
    "queue freely and the device is synchronized around each timed repeat).",
    "device": "cpu, cuda or cuda:N (default: cuda when a GPU is visible, else cpu).",
    "steps": "Timed steps per repeat (default 30).",
    "warmup": "Untimed steps after the first (compiling) call (default 10); keep >= 2 with reduce-overhead "
    "so CUDA graphs are recorded before timing.",
    "repeats": "Timed repeats; the median is stored, min/max as the spread (default 5).",
    "db": DB_HELP,
}


@task(help=BENCH_HELP, auto_shortflags=False)  # no surprising -h for --channels-last
def bench(c, model, bench="infer", compile_mode="eager", precision="fp32", img_size=None, batch_size=None,
          channels_last=False, fast_norm=False, sync_each_step=False, device=None, steps=None, warmup=None,
          repeats=None, db=None):
    """Measure one model's throughput (samples/s, compile time, peak memory) in a fresh job process, as an eval-all job does; print and store it.

    Example: invoke bench --model test_vit --compile-mode default --bench train --batch-size 64
    """
    from jobs.throughput import describe

    spec = dict(model=model, bench=bench, compile_mode=compile_mode, precision=precision, img_size=img_size,
                batch_size=batch_size, channels_last=channels_last, fast_norm=fast_norm,
                sync_each_step=sync_each_step, device=device, steps=steps, warmup_steps=warmup, repeats=repeats)
    run_one_job(c, "throughput", spec, db, describe)
    print(f"Stored in {db or c.config.leaderboard.db} (throughput, source measured).")


# --- the site (issue 6) ------------------------------------------------------------------------

SITE_OUT_HELP = "The site folder (default: site_dir in invoke.yaml, else site/)."


def site_folder(c, out):
    return Path(out or c.config.leaderboard.site_dir)


@task(help={"out": SITE_OUT_HELP + " Replaced whole, and only if empty or built here before.", "db": DB_HELP})
def build(c, out=None, db=None):
    """Render the database into the static site: index, model pages, methodology, CSV/JSON downloads (works from file://)."""
    from render.build import build_site

    summary = build_site(open_database(c, db), site_folder(c, out), configured_threshold(c))
    rows = " and ".join(f"{count} {kind}" for kind, count in summary["rows"].items())
    print(f"Built {summary['out']}/index.html: {summary['model_pages']} model pages from {rows} rows "
          f"in {summary['seconds']} s")


@task(help={"port": "Port on localhost (default 8000).", "out": SITE_OUT_HELP})
def serve(c, port=8000, out=None):
    """Serve the built site on http://localhost:PORT until Ctrl-C."""
    from render.publish import serve_site

    serve_site(site_folder(c, out), int(port))


@task(help={
    "target": "Folder to publish to (replaced whole; must be empty or published here before).",
    "branch": "Git branch to commit the site to instead, e.g. gh-pages (working tree and index untouched).",
    "repo": "Git repository for --branch (default: this one).",
    "out": SITE_OUT_HELP,
})
def publish(c, target=None, branch=None, repo=".", out=None):
    """Copy the built site to a folder, or commit it to a git branch such as gh-pages for hosting."""
    from render.publish import publish_branch, publish_folder

    if bool(target) == bool(branch):
        raise Exit("Pass exactly one of --target FOLDER or --branch NAME. Try --branch gh-pages.")
    print(publish_folder(site_folder(c, out), target) if target else publish_branch(site_folder(c, out), branch, repo))


ns = Collection(catalog, status, import_results, export, evaluate, eval_all, bench, build, serve, publish)
ns.configure({"leaderboard": defaults()})
