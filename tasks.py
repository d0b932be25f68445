"""timm leaderboard: `invoke --list` shows the tasks, `invoke --help TASK` their flags.

A thin shell: each task parses its flags, calls into jobs/, db/ or render/, prints, and exits.
Heavy imports (torch, timm) happen inside the tasks that need them, so `invoke --list` is instant.
"""

import functools
import os
import shlex
import signal
import sys
from pathlib import Path

import invoke
from invoke import Collection, Exit
from invoke.parser import Argument
from invoke.parser.context import to_flag

from db.errors import LeaderboardError, UsageError, not_one_of
from jobs.settings import check_project_config, configured_job_timeout, defaults, env_name, usage_errors

PROJECT = Path(__file__).resolve().parent  # invoke.yaml's relative paths are relative to it
DB_HELP = "SQLite database file (default: leaderboard.db in invoke.yaml, else db/leaderboard.db)."
FORMATS = ("table", "json", "csv")


def task(*args, **kwargs):
    """Invoke's @task, with a LeaderboardError (something the user can fix) printed as its one line and
    exit code 2 for a usage error (a malformed value), 1 otherwise; every other exception is a bug and
    keeps its traceback. No automatic short flags: Invoke's gave eval-all -h for --checkpoint-dir."""
    kwargs.setdefault("auto_shortflags", False)

    def decorate(body):
        @functools.wraps(body)  # invoke reads the flags from the wrapped signature
        def run(c, *a, **kw):
            try:
                return body(c, *a, **kw)
            except LeaderboardError as e:
                raise Exit(str(e), code=2 if isinstance(e, UsageError) else 1) from None

        return invoke.task(*args, **kwargs)(run)

    return decorate


class WordsArgument(Argument):
    """A positional argument that takes several words where Invoke's take one: Invoke's parser hands the
    next bare word to a positional argument while its value reads None, so this one reads None until
    it holds the `wanted` words that the command line has for it (counted by WordsTask)."""

    def __init__(self, wanted: int, **options):
        super().__init__(**{**options, "kind": list, "positional": True})
        self.wanted = wanted

    @property
    def value(self):
        return self._value if len(self._value) >= self.wanted else None

    @value.setter
    def value(self, word):
        self.set_value(word)

    def set_value(self, word, cast=True):
        self.raw_value = word
        self._value = [*self._value, word]


class WordsTask(invoke.Task):
    """A task whose first positional argument takes every bare word after the task's name, as a shell
    glob expands `results-*.csv` to several paths (Invoke's parser would call the second an unknown
    task). The words are counted from the command line (sys.argv, which the `invoke` program parses)
    up to `--` or another task's name, skipping flags and the values of this task's flags."""

    def get_arguments(self, ignore_unknown_help=None):
        arguments = super().get_arguments(ignore_unknown_help=ignore_unknown_help)
        first = arguments[0]  # Invoke puts the positional ones first
        value_flags = {to_flag(name) for a in arguments if a.takes_value for name in a.names}
        wanted = bare_words_after(
            {self.name, self.name.replace("_", "-"), *self.aliases}, sys.argv[1:], value_flags, stops=set(ns.task_names)
        )
        return [
            WordsArgument(wanted, names=first.names, default=first.default, help=first.help, attr_name=first.attr_name),
            *arguments[1:],
        ]


def bare_words_after(names: set, argv: list[str], value_flags: set, stops: set) -> int:
    """How many words follow the first of `names` in `argv` that are neither flags, values of
    `value_flags`, nor after `--` or a word of `stops` (the next task)."""
    start = next((i for i, word in enumerate(argv) if word in names), len(argv))
    count, flag_value_next = 0, False
    for word in argv[start + 1 :]:
        if flag_value_next:
            flag_value_next = False
        elif word == "--" or word in stops:
            break
        elif word.startswith("-"):
            flag_value_next = word in value_flags  # --db PATH, not --db=PATH
        else:
            count += 1
    return count


def open_database(c, db_flag, create=True):
    """The database from --db, INVOKE_LEADERBOARD_DB, invoke.yaml or the default, in that order.
    Tasks that only read it pass create=False: a missing database is then one line, not a new file."""
    from db.schema import open_db

    try:
        return open_db(db_flag or configured_path(c, "db"), create=create)
    except LeaderboardError as e:  # missing, locked, read-only, not SQLite: one line, also outside @task
        raise Exit(str(e)) from None


def check_choice(flag: str, value: str, choices) -> None:
    """--`flag` (as typed: compile-mode) must be one of `choices`: a usage error (exit 2) otherwise."""
    if value not in choices:
        raise UsageError(not_one_of(f"--{flag}", value, choices))


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
        raise UsageError(
            "--imported catalogues the architectures that have results; drop --models, or drop --imported."
        )
    from db.report import catalog_listing, catalog_results_text

    database = open_database(c, db)
    if imported:  # in job processes: this one never imports torch
        print(catalog_results_text(catalog_imported_results(database)))
        return
    from db.catalog import save_catalog
    from jobs.catalog import DEFAULT_MODELS
    from jobs.catalog import catalog as build_catalog

    entries = build_catalog(models or DEFAULT_MODELS)
    save_catalog(database, entries)
    print(catalog_listing(entries, format))


def catalog_imported_results(database) -> dict:
    """`catalog --imported` with a progress line; a Ctrl-C keeps what is saved and says so."""
    from jobs.catalog_imported import catalog_imported
    from jobs.progress import CountProgress

    progress = CountProgress("catalogued")
    try:
        return catalog_imported(database, on_progress=progress.update)
    except KeyboardInterrupt:
        raise LeaderboardError(
            f"Interrupted after {progress.done} of {progress.total} architectures, all saved: "
            "`invoke catalog --imported` again does the rest."
        ) from None
    finally:
        progress.close()


@task(
    help={
        "job": "Show this job in full (its key, or the start of it from the job column): spec, error, "
        "traceback, output.",
        "threshold": "Flag a change of more than this fraction between a measurement's consecutive runs "
        "(default: leaderboard.change_threshold, 0.05).",
        "db": DB_HELP,
    }
)
def status(c, job=None, threshold=None, db=None):
    """Summarise what is stored: results per source, the job queue, flagged changes between runs, recent
    failures; or one job in full."""
    from db.report import job_report, status_report
    from jobs.executors.device_locks import held_devices

    limit = configured_threshold(c, threshold)
    database = open_database(c, db, create=False)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `invoke status | head` ends quietly
    print(status_report(database, threshold=limit) if job is None else job_report(database, job))
    if job is None:
        for device, holder in held_devices().items():  # what a waiting sweep waits for
            print(f"device {device} of this host: held by {holder}")


def configured_threshold(c, flag=None) -> float:
    """The change flagged between a measurement's consecutive runs: --threshold, else leaderboard.change_threshold."""
    from db.history import change_threshold

    with usage_errors():
        return change_threshold(flag if flag is not None else c.config.leaderboard.change_threshold)


@task(
    positional=["sources"],
    iterable=["sources"],
    klass=WordsTask,  # several paths, as a shell glob gives them
    help={
        "sources": "One or more: a timm results-*.csv / benchmark-*.csv file, a reference CSV, a leaderboard "
        "export, a folder of CSVs, a glob (expanded by the shell, or quoted), an http(s) URL.",
        "db": DB_HELP,
    },
)
def import_results(c, sources, db=None):
    """Import timm's published results CSVs (and the tiny-test-model reference figures) with their provenance.

    Examples: invoke import-results ../shared/timm-results
              invoke import-results results-*.csv https://host/benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv
    """
    from db.timm_csv import expand_sources, import_files

    given = [*sources, *shlex.split(c.remainder or "")]  # words after `--` are sources too, as they were
    if not given:
        raise UsageError(
            "Name what to import: invoke import-results FILE_FOLDER_OR_URL..., e.g. invoke import-results db/reference."
        )
    sources = expand_sources(given)
    if not sources:
        raise Exit(f"No CSV files in {' '.join(given)}: pass a CSV file, a folder of CSVs or a URL.")
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
    if out is not None:
        check_output_folder(out)

    records = export_records(open_database(c, db, create=False), kind, runs)
    if out is None:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `invoke export | head` ends quietly
        write_export(records, kind, format, sys.stdout)
        return
    try:
        with open(out, "w", newline="") as stream:
            write_export(records, kind, format, stream)
    except OSError as e:  # a folder named like the file, no permission, a full disk
        raise LeaderboardError(f"Cannot write {out}: {e.strerror}. Pass --out with a writable file path.") from None
    print(f"{len(records)} {kind} rows written to {out}", file=sys.stderr)


def check_output_folder(out: str) -> None:
    """--out's folder exists, checked before the database is read."""
    folder = Path(out).parent
    if not folder.is_dir():
        raise LeaderboardError(f"No folder {folder} for --out {out}: create it, or pass --out in an existing folder.")


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
def evaluate(
    c,
    model,
    data_dir=None,
    img_size=None,
    checkpoint=None,
    class_map=None,
    split="validation",
    dataset=None,
    dataset_type="",
    batch_size=None,
    workers=None,
    precision="fp32",
    channels_last=False,
    device=None,
    db=None,
):
    """Measure one model's top-1/top-5 exactly as timm's validate.py does, in a fresh job process; print and store it.

    Example: invoke evaluate --model test_vit.r160_in1k --data-dir /data/imagenet/val --img-size 192
    """
    from jobs.accuracy import summary_line

    settings = c.config.leaderboard
    spec = dict(
        model=model,
        data_dir=data_dir or settings.data_dir,
        weights=checkpoint or settings.checkpoint_dir,
        class_map=class_map or settings.get("class_map"),
        img_size=img_size,
        split=split,
        dataset=dataset,
        dataset_type=dataset_type,
        batch_size=batch_size,
        workers=workers,
        precision=precision,
        channels_last=channels_last,
        device=device,
    )
    run_one_job(c, "accuracy", spec, db, summary_line)
    print(f"Stored in {db or configured_path(c, 'db')} (accuracy, source measured).")


def run_one_job(c, kind: str, spec: dict, db_flag, describe) -> dict:
    """`invoke evaluate` and `invoke bench`: check `spec` (one line if it is bad, before the database is
    opened), run ONE job of `kind` in a fresh job process as eval-all would, print `describe(result)`,
    and store it; a failed job prints why and exits 1, storing nothing."""
    from db.kinds import get_kind
    from db.store import save_measured
    from jobs.executors.local import job_process

    with job_process(configured_job_timeout(c.config.leaderboard)) as runner:
        checked = runner.call("jobs.spec_checks:checked_spec", kind, spec)
        if checked["status"] != "done":
            raise Exit(checked["error"])
        database = open_database(c, db_flag)
        result = runner.call(get_kind(kind).job_path, checked["spec"])
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
    "model": "The same as --models (as invoke bench and evaluate spell it).",
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
    "compile_workers": "Jobs compiling beside the one measuring on each GPU: a number, or auto (default: "
    "leaderboard.compile_workers; auto is 0 on the CPU, on GPUs one per 4 spare cores).",
    "db": DB_HELP,
}


@task(iterable=["models", "model", "bench", "compile_mode"], help=EVAL_ALL_HELP)
def eval_all(
    c,
    sweep="default",
    models=None,
    model=None,
    kind=None,
    bench=None,
    compile_mode=None,
    executor=None,
    ray_address=None,
    data_dir=None,
    checkpoint_dir=None,
    class_map=None,
    device=None,
    force=False,
    retry_failed=False,
    dry_run=False,
    no_site=False,
    timeout=None,
    compile_workers=None,
    db=None,
):
    """Run the measurement campaign: plan the sweep, skip stored results, run the rest in isolated processes, build the site."""
    models = [*(models or []), *(model or [])]  # --model: the other tasks' spelling
    check_choice("executor", executor or c.config.leaderboard.executor, ("local", "ray"))
    from db.kinds import BENCHES, COMPILE_MODES, KINDS
    from jobs.campaign import Options, SweepInterrupted, run_campaign

    if kind is not None:
        check_choice("kind", kind, tuple(KINDS))
    for flag, values, choices in (("bench", bench, BENCHES), ("compile-mode", compile_mode, COMPILE_MODES)):
        for value in values or ():  # else a typo narrows the sweep to no jobs at all
            check_choice(flag, value, choices)

    options = Options.from_flags(
        c.config.leaderboard,
        sweep=sweep,
        models=models,
        kind=kind,
        bench=bench,
        compile_mode=compile_mode,
        executor=executor,
        ray_address=ray_address,
        data_dir=data_dir,
        checkpoint_dir=checkpoint_dir,
        class_map=class_map,
        device=device,
        timeout=timeout,
        compile_workers=compile_workers,
        force=force,
        retry_failed=retry_failed,
        dry_run=dry_run,
    )
    database = open_database(c, db)
    signal.signal(signal.SIGTERM, interrupt)  # `kill` stops a sweep as Ctrl-C does: kept, reported
    try:
        summary = run_campaign(database, options)
    except SweepInterrupted as stop:  # Ctrl-C: say what is kept, publish it, and how to go on
        print(stop.text())
        if not no_site:
            build_site_after_sweep(c, database)
        raise Exit(code=130) from None
    except KeyboardInterrupt:  # while planning: no job had started
        raise Exit("Interrupted while planning: no job ran. Run the same command again.", code=130) from None
    if summary is None:  # a dry run, or nothing left to run: the site still shows what is stored
        if not (dry_run or no_site):
            build_site_after_sweep(c, database)
        return
    print(summary.text())
    if not no_site:
        build_site_after_sweep(c, database)
    if summary.failed:
        raise Exit(code=1)


def interrupt(signum, frame):
    raise KeyboardInterrupt


def build_site_after_sweep(c, database) -> None:
    """The site shows what the sweep stored; a failed build is reported, the results stay stored."""
    from render.build import SiteError, build_site

    try:
        summary = build_site(database, site_folder(c, None), configured_threshold(c))
    except SiteError as e:
        raise Exit(f"Results are stored, but the site was not built: {e}") from None
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


@task(help=BENCH_HELP)
def bench(
    c,
    model,
    bench="infer",
    compile_mode="eager",
    precision="fp32",
    img_size=None,
    batch_size=None,
    channels_last=False,
    fast_norm=False,
    sync_each_step=False,
    device=None,
    steps=None,
    warmup=None,
    repeats=None,
    db=None,
):
    """Measure one model's throughput (samples/s, compile time, peak memory) in a fresh job process, as an eval-all job does; print and store it.

    Example: invoke bench --model test_vit --compile-mode default --bench train --batch-size 64
    """
    from db.kinds import BENCHES, COMPILE_MODES, PRECISIONS
    from jobs.throughput import describe

    for flag, value, choices in (("bench", bench, BENCHES), ("compile-mode", compile_mode, COMPILE_MODES),
                                 ("precision", precision, PRECISIONS)):  # fmt: skip
        check_choice(flag, value, choices)  # as eval-all does: one wording, exit 2, before any process starts
    spec = dict(
        model=model,
        bench=bench,
        compile_mode=compile_mode,
        precision=precision,
        img_size=img_size,
        batch_size=batch_size,
        channels_last=channels_last,
        fast_norm=fast_norm,
        sync_each_step=sync_each_step,
        device=device,
        steps=steps,
        warmup_steps=warmup,
        repeats=repeats,
    )
    run_one_job(c, "throughput", spec, db, describe)
    print(f"Stored in {db or configured_path(c, 'db')} (throughput, source measured).")


# --- the site -----------------------------------------------------------------------------------

SITE_OUT_HELP = "The site folder (default: site_dir in invoke.yaml, else site/)."


def site_folder(c, out):
    return Path(out or configured_path(c, "site_dir"))


def configured_path(c, key: str) -> Path:
    """leaderboard.<key> as a path: relative to the project folder (this file's) when it comes from
    invoke.yaml or the default, whatever folder invoke runs in (Invoke finds tasks.py in a parent);
    relative to the working folder when it comes from INVOKE_LEADERBOARD_<KEY>, as typed in a shell."""
    path = Path(c.config.leaderboard[key]).expanduser()
    if path.is_absolute() or env_name(key) in os.environ:
        return path
    return PROJECT / path


@task(help={"out": SITE_OUT_HELP + " Replaced whole, and only if empty or built here before.", "db": DB_HELP})
def build(c, out=None, db=None):
    """Render the database into the static site: index, model pages, methodology, CSV/JSON downloads (works from file://)."""
    from render.build import build_site

    summary = build_site(open_database(c, db, create=False), site_folder(c, out), configured_threshold(c))
    rows = " and ".join(f"{count} {kind}" for kind, count in summary["rows"].items())
    print(
        f"Built {summary['out']}/index.html: {summary['model_pages']} model pages from {rows} rows "
        f"in {summary['seconds']} s"
    )


DEFAULT_PORT = 8000


@task(help={"port": f"Port on localhost (default {DEFAULT_PORT}; 0: any free one).", "out": SITE_OUT_HELP})
def serve(c, port=None, out=None):  # port=None: an int default would make Invoke cast `abc` itself, a traceback
    """Serve the built site on http://localhost:PORT until Ctrl-C."""
    from render.publish import serve_site

    serve_site(site_folder(c, out), checked_port(port))


def checked_port(flag) -> int:
    """--port as a TCP port number (0: any free one); a bad one is a usage error."""
    from jobs.spec_checks import whole_number

    with usage_errors():
        port = whole_number("port", DEFAULT_PORT if flag is None else flag, 0, DEFAULT_PORT)
    if port > 65535:
        raise UsageError(f"Bad port {port}: ports go up to 65535. Try --port {DEFAULT_PORT}.")
    return port


@task(
    help={
        "target": "Folder to publish to (replaced whole; must be empty or published here before).",
        "branch": "Git branch to commit the site to instead, e.g. gh-pages (working tree and index untouched).",
        "repo": "Git repository for --branch (default: this one).",
        "out": SITE_OUT_HELP,
    }
)
def publish(c, target=None, branch=None, repo=".", out=None):
    """Copy the built site to a folder, or commit it to a git branch such as gh-pages for hosting."""
    from render.publish import publish_branch, publish_folder

    if bool(target) == bool(branch):
        raise UsageError("Pass exactly one of --target FOLDER or --branch NAME. Try --branch gh-pages.")
    print(publish_folder(site_folder(c, out), target) if target else publish_branch(site_folder(c, out), branch, repo))


ns = Collection(catalog, status, import_results, export, evaluate, eval_all, bench, build, serve, publish)
ns.configure({"leaderboard": defaults()})


def check_configuration() -> None:
    """Invoke imports this module, then reads invoke.yaml beside it and the INVOKE_LEADERBOARD_*
    variables, before any task runs: its YAML or type-cast error would be a traceback. This is the
    one moment our code runs first, so the same reading is checked here (see jobs/settings.py)."""
    try:
        check_project_config(Path(__file__).parent)
    except LeaderboardError as e:
        raise Exit(str(e), code=2) from None  # Invoke prints an Exit raised while importing tasks.py


check_configuration()
