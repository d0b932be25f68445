"""Configuration defaults: the one place they live; and where a configured value came from.

Invoke layers these under `invoke.yaml` (section `leaderboard:`), `INVOKE_LEADERBOARD_*`
environment variables and command-line flags; a key must be declared here for Invoke to read
its environment variable.

Invoke reads the project's invoke.yaml and those variables itself, after importing tasks.py and
before any task runs; a YAML error or a variable it cannot cast to its setting's type is then its
traceback. check_project_config reads them first, the way Invoke will, so either is one line.
"""

import json
import math
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from db.errors import LeaderboardError, UsageError, first_line
from db.history import CHANGE_THRESHOLD

ENV_PREFIX = "INVOKE_LEADERBOARD_"  # Invoke's INVOKE_ + our section's name
PROJECT_FILES = ("invoke.yaml", "invoke.yml", "invoke.json")  # beside tasks.py; Invoke loads the first it finds


@dataclass
class Settings:
    db: str = "db/leaderboard.db"  # the SQLite database (created and upgraded on first use)
    data_dir: str | None = None  # ImageNet-style validation folder; None skips accuracy jobs
    checkpoint_dir: str | None = None  # offline weights: <model>.safetensors|.pth per model; None: the hub
    class_map: str | None = None  # class-map file when data_dir's folders are a subset of the classes
    site_dir: str = "site"  # where `invoke build` writes the static site
    executor: str = "local"  # eval-all: local (this machine's slots) or ray
    ray_address: str | None = None  # Ray cluster address; None: RAY_ADDRESS, else a local Ray
    job_timeout: float = 1800.0  # seconds before a job's whole process group is killed
    compile_workers: str = "auto"  # jobs compiling beside the one measuring, per GPU: a number, or auto
    change_threshold: float = (
        CHANGE_THRESHOLD  # flag a change between a measurement's consecutive runs beyond this fraction
    )
    sweeps: dict = field(default_factory=dict)  # named sweeps added to the built-in default and smoke


def defaults() -> dict:
    return asdict(Settings())


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def origin(key: str, flag: str | None = None) -> tuple[str, str]:
    """Where leaderboard.<key>'s value was given, as (its name, how to write a value there, with {}):
    `flag` when given, else the environment variable when set (Invoke reads it over invoke.yaml),
    else invoke.yaml (a code default is never bad)."""
    if flag:
        return flag, flag + " {}"
    if env_name(key) in os.environ:
        return env_name(key), env_name(key) + "={}"
    return f"leaderboard.{key}", f"{key}: {{}} under leaderboard: in invoke.yaml"


def job_timeout(value, where: tuple[str, str] = ("--timeout", "--timeout {}")) -> float:
    """A job timeout (a string from the command line or the environment, or a number) as finite seconds > 0;
    a bad one is a UsageError naming `where` it was given (see origin)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if not (seconds > 0 and math.isfinite(seconds)):
        name, example = where
        raise UsageError(
            f"Bad {name} {value!r}: pass the seconds a job may run, e.g. {example.format(f'{Settings.job_timeout:g}')}."
        )
    return seconds


def configured_job_timeout(settings, flag=None) -> float:
    """--timeout when given, else leaderboard.job_timeout, as seconds (checked once, here)."""
    if flag is not None:
        return job_timeout(flag, origin("job_timeout", "--timeout"))
    return job_timeout(as_written(settings, "job_timeout"), origin("job_timeout"))


def compile_workers(value, where: tuple[str, str] = ("--compile-workers", "--compile-workers {}")) -> int | None:
    """A compile-worker count: a whole number >= 0, or None for auto (`auto`, or not given); a bad one
    is a UsageError naming `where` it was given (see origin)."""
    text = str(value).strip()
    if value is None or text == "auto":
        return None
    if not text.isdigit():
        name, example = where
        raise UsageError(
            f"Bad {name} {value!r}: pass how many jobs compile beside the one measuring, 0 or more, "
            f"or auto, e.g. {example.format(2)}."
        )
    return int(text)


def configured_compile_workers(settings, flag=None) -> int | None:
    """--compile-workers when given, else leaderboard.compile_workers; None for auto."""
    if flag is not None:
        return compile_workers(flag)
    return compile_workers(as_written(settings, "compile_workers"), origin("compile_workers"))


def as_written(settings, key: str):
    """leaderboard.<key> as the user wrote it, for an error to quote: its environment variable's text
    when set (Invoke reads it over invoke.yaml, cast to the setting's type), else the setting."""
    return os.environ.get(env_name(key), getattr(settings, key))


@contextmanager
def usage_errors():
    """A LeaderboardError raised inside (e.g. by jobs.spec_checks' value checks) is a UsageError: for
    checks of what the user typed, refused before any work."""
    try:
        yield
    except UsageError:
        raise
    except LeaderboardError as e:
        raise UsageError(str(e)) from None


# --- what Invoke reads before any task runs ----------------------------------------------------


def check_project_config(folder: Path, environ=os.environ) -> None:
    """The project's config file beside tasks.py (in `folder`) and the INVOKE_LEADERBOARD_* variables,
    checked as Invoke is about to read them; a UsageError names the file and line, or the variable."""
    check_environment(project_settings(folder), environ)


def project_settings(folder: Path) -> dict:
    """The `leaderboard:` section of the project's config file, as Invoke will load it ({} if none)."""
    path = next((folder / name for name in PROJECT_FILES if (folder / name).is_file()), None)
    if path is None:
        return {}
    data = parsed_config(path)
    if data is not None and not isinstance(data, dict):
        raise UsageError(
            f"{path} holds a {type(data).__name__}, not settings: write `leaderboard:` and "
            "indented `key: value` lines under it."
        )
    section = (data or {}).get("leaderboard")
    if section is not None and not isinstance(section, dict):
        raise UsageError(
            f"Bad leaderboard {section!r} in {path}: it must hold indented `key: value` lines, "
            "e.g. `leaderboard:` then `  db: lb.db`."
        )
    check_shapes(section or {}, path)
    return section or {}


def check_shapes(section: dict, path: Path) -> None:
    """Invoke merges a file's mapping into a default mapping key by key, and cannot merge a mapping with a
    single value either way (its AmbiguousMergeError, a traceback)."""
    for key, default in defaults().items():
        if key in section and isinstance(default, dict) != isinstance(section[key], dict):
            shape = (
                "a mapping (indented `name: ...` lines)" if isinstance(default, dict) else "one value, not a mapping"
            )
            raise UsageError(f"Bad leaderboard.{key} {section[key]!r} in {path}: it must be {shape}.")


MAX_CONFIG_BYTES = 64 * 1024  # every command parses the file (Invoke twice): a large one slows them all
MAX_CONFIG_NODES = 100_000  # values once YAML's aliases are expanded: an "alias bomb" expands to billions


def parsed_config(path: Path):
    """The file's data, parsed as Invoke parses it; a syntax error is one line with its place, and a
    file too large or expanding too far (YAML aliases) is refused before anything expands it."""
    import yaml  # Invoke's own YAML reader (PyYAML), needed by the invoke process only

    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise UsageError(
                f"{path} is {size // 1024} KB: every command reads it, so it may hold at most "
                f"{MAX_CONFIG_BYTES // 1024} KB. Shorten it (model globs instead of long lists)."
            )
        text = path.read_text()
        if path.suffix == ".json":
            return json.loads(text)
        check_expansion(yaml.compose(text, Loader=yaml.SafeLoader), path)
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        place = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UsageError(
            f"Bad YAML in {path}{place}: {e.problem or e.context}. Fix that line "
            "(`key: value`, nested keys indented by spaces)."
        ) from None
    except json.JSONDecodeError as e:
        raise UsageError(f"Bad JSON in {path}, line {e.lineno}, column {e.colno}: {e.msg}. Fix that line.") from None
    except (yaml.YAMLError, OSError, ValueError, RecursionError) as e:
        raise UsageError(f"Cannot read {path}: {first_line(e)}. Fix or remove the file.") from None


def check_expansion(root, path: Path) -> None:
    """Count the values the YAML document expands to, an alias counting as often as it is used (each
    node counted once, so an alias bomb costs no more to count than to read)."""
    sizes = {}

    def expanded(node) -> int:
        if id(node) not in sizes:
            sizes[id(node)] = 1  # a node that refers to itself counts once
            children = node.value if isinstance(node.value, list) else []
            parts = [part for child in children for part in (child if isinstance(child, tuple) else (child,))]
            sizes[id(node)] = 1 + sum(expanded(part) for part in parts)
        return sizes[id(node)]

    if root is not None and expanded(root) > MAX_CONFIG_NODES:
        raise UsageError(
            f"{path} expands to more than {MAX_CONFIG_NODES:,} values through YAML aliases (& and *): write "
            "the settings out, or use fewer aliases."
        )


def check_environment(project: dict, environ) -> None:
    """Invoke casts INVOKE_LEADERBOARD_<KEY> to the type of the key's value (invoke.yaml's, else the code
    default) with that type's constructor: the same cast here, for each numeric setting."""
    for key, default in defaults().items():
        value, name = project.get(key, default), env_name(key)
        if name not in environ or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        try:
            type(value)(environ[name])
        except ValueError:
            noun = "a whole number" if isinstance(value, int) else "a number"
            where = " in invoke.yaml" if key in project else ""
            raise UsageError(
                f"Bad {name} {environ[name]!r}: Invoke reads it as {noun}, the type of "
                f"leaderboard.{key}{where}. Set e.g. {name}={value:g}, or unset it."
            ) from None
