"""The command line refuses bad values before any work, in one line (exit 2 for a malformed value,
1 for what the world disagrees with), and takes what users type (several paths, no surprising
short flags). Cheap: no job runs; only the sweep dry runs plan (importing timm)."""

import re

import pytest
import sqlite_utils

from checkout import REFERENCE, SWEEPS_YAML, invoke, make_project


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with our tasks.py and an invoke.yaml holding a one-job sweep ("tiny")."""
    return make_project(tmp_path, monkeypatch, SWEEPS_YAML)


def refused(result, code: int) -> str:
    """The one line a refused command printed, after checking its exit code and that nothing else came."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- 1. the job timeout -------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", ["60", "60.0"])
def test_eval_all_takes_a_timeout_in_seconds(project, seconds):
    result = invoke("eval-all", "--sweep", "tiny", "--dry-run", "--timeout", seconds, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "throughput: 1 jobs, 1 to run" in result.stdout


@pytest.mark.parametrize("seconds", ["abc", "0", "-5", "inf"])
def test_a_bad_timeout_is_one_line_before_any_work(project, seconds):
    line = refused(invoke("eval-all", "--dry-run", "--timeout", seconds, cwd=project), 2)
    assert line == f"Bad --timeout '{seconds}': pass the seconds a job may run, e.g. --timeout 1800."
    assert not (project / "lb.db").exists()


def test_a_bad_timeout_variable_names_the_variable(project):
    for value in ("abc", "0"):
        line = refused(invoke("eval-all", "--dry-run", cwd=project, env={"INVOKE_LEADERBOARD_JOB_TIMEOUT": value}), 2)
        assert (
            line.startswith(f"Bad INVOKE_LEADERBOARD_JOB_TIMEOUT '{value}': ")
            and "INVOKE_LEADERBOARD_JOB_TIMEOUT=1800" in line
        ), line
    # Invoke casts the variable for every task, before the task runs
    status = invoke("status", cwd=project, env={"INVOKE_LEADERBOARD_JOB_TIMEOUT": "abc"})
    assert "INVOKE_LEADERBOARD_JOB_TIMEOUT" in refused(status, 2)


def test_a_bad_timeout_in_invoke_yaml_names_the_setting(project):
    (project / "invoke.yaml").write_text("leaderboard:\n  job_timeout: 0\n")
    line = refused(invoke("eval-all", "--dry-run", cwd=project), 2)
    assert line == (
        "Bad leaderboard.job_timeout 0: pass the seconds a job may run, "
        "e.g. job_timeout: 1800 under leaderboard: in invoke.yaml."
    )


@pytest.mark.parametrize("workers", ["0", "3", "auto"])
def test_eval_all_takes_a_number_of_compile_workers_or_auto(project, workers):
    result = invoke("eval-all", "--sweep", "tiny", "--dry-run", "--compile-workers", workers, cwd=project)
    assert result.returncode == 0, result.stderr


def test_compile_workers_with_the_ray_executor_is_one_line(project):
    line = refused(invoke("eval-all", "--dry-run", "--executor", "ray", "--compile-workers", "2", cwd=project), 2)
    assert line == (
        "--compile-workers is the local executor's: Ray runs each job alone on its GPU. "
        "Drop it, or pass --executor local."
    )


@pytest.mark.parametrize("workers", ["-1", "two", "1.5"])
def test_a_bad_compile_worker_count_is_one_line_before_any_work(project, workers):
    line = refused(invoke("eval-all", "--dry-run", "--compile-workers", workers, cwd=project), 2)
    assert line == (
        f"Bad --compile-workers '{workers}': pass how many jobs compile beside the one measuring, "
        "0 or more, or auto, e.g. --compile-workers 2."
    )
    (project / "invoke.yaml").write_text("leaderboard:\n  compile_workers: lots\n")
    line = refused(invoke("eval-all", "--dry-run", cwd=project), 2)
    assert (
        line.startswith("Bad leaderboard.compile_workers 'lots': ") and "compile_workers: 2 under leaderboard:" in line
    )


# --- 2. bad values refused before any work ------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("--compile-mode", "fast"),
            "--compile-mode 'fast' is not one of eager, default, reduce-overhead, max-autotune. Try --compile-mode eager.",
        ),
        (("--bench", "both"), "--bench 'both' is not one of infer, train. Try --bench infer."),
        (("--bench", "infer", "--bench", "tain"), "--bench 'tain' is not one of infer, train. Try --bench infer."),
        (("--kind", "speed"), "--kind 'speed' is not one of accuracy, throughput. Try --kind accuracy."),
        (("--device", "tpu"), "--device 'tpu' is not cpu or cuda. Try --device cpu."),
        (
            ("--sweep", "nope"),
            "Unknown sweep 'nope': choose one of broken, default, smoke, tiny, or define it under "
            "leaderboard.sweeps in invoke.yaml.",
        ),
    ],
)
def test_eval_all_refuses_a_bad_flag_value_with_exit_2(project, args, message):
    assert refused(invoke("eval-all", "--dry-run", *args, cwd=project), 2) == message
    assert not (project / "lb.db").exists()


@pytest.mark.parametrize(
    "definition, message",
    [
        (
            "{models: [test_resnet], throughput: {batch_size: 0}}",
            "Bad throughput.batch_size 0: it must be a whole number >= 1.",
        ),
        (
            "{throughput: {compile_modes: [eager, fast]}}",
            "throughput.compile_modes 'fast' is not one of eager, default, reduce-overhead, max-autotune. "
            "Try throughput.compile_modes: eager in invoke.yaml.",
        ),
        ("{models: 5}", "Bad models 5: it must be a list of model names or globs"),
        (
            "{models: [test_resnet], throughput: {batch: 2}}",
            "Unknown key throughput.batch: use benches, compile_modes,",
        ),
        ("{model: [test_resnet]}", "Unknown key model: a sweep takes models, low_fidelity, accuracy, throughput."),
        ("{throughput: {cpu: {steps: 0}}}", "Bad throughput.cpu.steps 0: it must be a whole number >= 1."),
        ("{accuracy: {img_sizes: 160}}", "Bad accuracy.img_sizes 160: it must be a list, e.g. img_sizes: [160, 192]."),
    ],
)
def test_a_bad_sweep_is_refused_whole_before_any_job(project, definition, message):
    (project / "invoke.yaml").write_text(f"leaderboard:\n  db: lb.db\n  sweeps:\n    bad: {definition}\n")
    line = refused(invoke("eval-all", "--sweep", "bad", "--dry-run", cwd=project), 2)  # planned, not run
    assert line.startswith(f"Sweep 'bad': {message}") and line.endswith(
        "Fix it under leaderboard.sweeps.bad in invoke.yaml."
    ), line
    assert not (project / "lb.db").exists()


def test_the_built_in_sweeps_and_a_full_custom_one_pass_the_sweep_check():
    from jobs.sweep import BUILTIN_SWEEPS, get_sweep

    mine = {
        "models": ["test_vit*"],
        "low_fidelity": False,
        "accuracy": {"img_sizes": [160, None], "batch_size": 8, "workers": 0, "precision": "amp"},
        "throughput": {
            "benches": ["infer", "train"],
            "compile_modes": ["eager", "max-autotune"],
            "precision": "auto",
            "batch_size": 8,
            "warmup_steps": 0,
            "steps": 1,
            "repeats": 1,
            "img_size": None,
            "channels_last": True,
            "fast_norm": False,
            "cpu": {"batch_size": 2},
            "cuda": None,
        },
    }
    assert get_sweep("mine", {"mine": mine}) is mine  # checked, not rewritten: its job keys stay
    for name, sweep in BUILTIN_SWEEPS.items():
        assert get_sweep(name, None) is sweep


@pytest.mark.parametrize("workers", [["--workers", "-1"], ["--workers=-1"]])
def test_evaluate_refuses_negative_workers_in_one_line(run_invoke, db_path, workers):
    line = refused(run_invoke("evaluate", "--model", "test_resnet", *workers), 1)
    assert line == "Bad workers '-1': it must be a whole number >= 0. Try --workers 2."
    assert not db_path.exists()


@pytest.mark.parametrize(
    "port, message",
    [
        ("abc", "Bad port 'abc': it must be a whole number >= 0. Try --port 8000."),
        ("70000", "Bad port 70000: ports go up to 65535. Try --port 8000."),
    ],
)
def test_serve_refuses_a_bad_port(run_invoke, tmp_path, port, message):
    assert refused(run_invoke("serve", "--port", port, "--out", tmp_path), 2) == message


def test_export_to_a_missing_folder_or_a_folder_is_one_line(run_invoke, tmp_path, db_path):
    assert run_invoke("import-results", REFERENCE / "tiny-test-models-accuracy.csv").returncode == 0
    missing = tmp_path / "missing" / "x.csv"
    assert refused(run_invoke("export", "--out", missing), 1) == (
        f"No folder {missing.parent} for --out {missing}: create it, or pass --out in an existing folder."
    )
    assert refused(run_invoke("export", "--out", tmp_path), 1) == (
        f"Cannot write {tmp_path}: Is a directory. Pass --out with a writable file path."
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("leaderboard:\n  db: [lb.db\n", r"Bad YAML in .*invoke\.yaml, line 3, column 1: expected ',' or '\]'"),
        (
            "leaderboard:\n db: lb.db\n  site_dir: www\n",
            r"Bad YAML in .*invoke\.yaml, line 3, column 11: mapping values",
        ),
        ("- leaderboard\n", r".*invoke\.yaml holds a list, not settings"),
        ("leaderboard: 5\n", r"Bad leaderboard 5 in .*invoke\.yaml"),
        ("leaderboard:\n  sweeps: 5\n", r"Bad leaderboard\.sweeps 5 in .*invoke\.yaml: it must be a mapping"),
    ],
)
def test_a_bad_invoke_yaml_is_one_line_naming_the_place(project, text, message):
    (project / "invoke.yaml").write_text(text)
    for args in (["status"], ["--list"]):  # Invoke reads the file before any task, and for --list too
        assert re.match(message, refused(invoke(*args, cwd=project), 2)), args


def test_conflicting_or_unknown_choices_exit_2(run_invoke, db_path, tmp_path):
    assert refused(run_invoke("catalog", "--format", "xml"), 2).startswith("--format 'xml' is not one of")
    assert refused(run_invoke("export", "--kind", "models"), 2).startswith("--kind 'models' is not one of")
    assert refused(run_invoke("publish", "--out", tmp_path), 2).startswith("Pass exactly one of --target")
    assert not db_path.exists()


# --- 3. what users type -------------------------------------------------------------------------


def test_import_results_takes_several_paths_as_a_shell_glob_gives_them(run_invoke, db_path):
    accuracy, throughput = REFERENCE / "tiny-test-models-accuracy.csv", REFERENCE / "tiny-test-models-throughput.csv"
    result = run_invoke("import-results", accuracy, throughput)
    assert result.returncode == 0, result.stderr
    assert "26 accuracy rows" in result.stdout and "78 throughput rows" in result.stdout
    # flags anywhere, and another task after the paths
    chained = run_invoke("import-results", "--db", db_path, accuracy, throughput, "status")
    assert chained.returncode == 0, chained.stderr
    assert "accuracy results: 26 runs of 26 measurements" in chained.stdout
    assert sqlite_utils.Database(db_path)["throughput"].count == 78


def test_import_results_without_a_source_says_what_to_pass(run_invoke):
    assert refused(run_invoke("import-results"), 2) == (
        "Name what to import: invoke import-results FILE_FOLDER_OR_URL..., e.g. invoke import-results db/reference."
    )


def test_bare_words_after_the_task_are_its_paths():
    from tasks import bare_words_after

    def count(*argv):
        return bare_words_after({"import-results"}, list(argv), {"--db"}, stops={"status", "import-results"})

    assert count("import-results", "a.csv", "b.csv") == 2
    assert count("--echo", "import-results", "--db", "x.db", "a.csv", "--db=y.db", "b.csv", "c.csv") == 3
    assert count("import-results", "a.csv", "status", "--db", "x.db") == 1
    assert count("import-results", "a.csv", "--", "b.csv") == 1
    assert count("status") == 0


def test_no_task_has_automatic_short_flags(project):
    listing = invoke("--list", cwd=project).stdout
    for name in re.findall(r"^  ([a-z-]+)", listing, re.MULTILINE):
        options = invoke("--help", name, cwd=project).stdout.split("Options:")[-1]
        assert not re.search(r"^\s+-[a-zA-Z][ ,]", options, re.MULTILINE), (name, options)
    help_text = invoke("eval-all", "-h", cwd=project)  # -h is help, as everywhere
    assert help_text.returncode == 0 and "--checkpoint-dir" in help_text.stdout
