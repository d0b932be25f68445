"""Build the static site from the database: render into a temporary folder, then swap it in.

A failed build removes its temporary folder and leaves the previous site untouched. Nothing
here imports torch or timm: the site reads only the database.
"""

import errno
import json
import multiprocessing
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from db.errors import LeaderboardError
from db.export import export_records, without_nulls, write_export
from db.history import CHANGE_THRESHOLD
from db.kinds import KINDS
from render.compare import compare_context
from render.data import load, model_names
from render.filters import register
from render.pages import index_context, methodology_context, model_contexts
from render.payload import index_payload
from render.speedups import annotate
from render.vendor import vendored_files

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
MARKER = ".leaderboard-site"  # marks a folder this builder made, so a rebuild may replace it


class SiteError(LeaderboardError):
    """A user error about the site's folders; the message says what to do."""


def jinja_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_kwargs"] = {"separators": (",", ":")}  # |tojson: compact, still HTML-safe
    register(env)
    return env


def check_target(out: Path) -> None:
    """Refuse to replace a folder that is not a site built here (e.g. --out . by mistake)."""
    if out.exists() and not out.is_dir():
        raise SiteError(f"{out} is a file, not a folder: pass --out with a folder for the site.")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SiteError(f"{out} is not empty and was not built by `invoke build`: pass another --out, or empty it.")


DOWNLOADS = {"latest": "", "earlier": "-earlier-runs"}  # runs → file name suffix: together, every run


def write_downloads(db, folder: Path) -> None:
    """The data behind the site, in the export format `invoke import-results` reads back: the latest
    run of each measurement (what the site shows), and the earlier runs beside it."""
    folder.mkdir()
    for kind in KINDS:
        for runs, suffix in DOWNLOADS.items():
            records = export_records(db, kind, runs)
            with open(folder / f"leaderboard-{kind}{suffix}.csv", "w", newline="") as stream:
                write_export(records, kind, "csv", stream)
            # dumps, not dump: only dumps takes json's C encoder (4x faster on 30k records)
            (folder / f"leaderboard-{kind}{suffix}.json").write_text(json.dumps(without_nulls(records)))


def write_assets(folder: Path) -> None:
    shutil.copytree(TEMPLATES / "static", folder)
    for path in vendored_files():  # plotly.js and its licence
        shutil.copyfile(path, folder / path.name)


def render_pages(env: Environment, data: dict, folder: Path, built_at: str) -> None:
    """The index, the methodology page, and the compare pages (environments; models)."""
    payload = index_payload(data)
    # three pages embed the payload (1.5 MB on a full timm import): serialized once, as |tojson would
    payload_json = Markup(htmlsafe_json_dumps(payload, **env.policies["json.dumps_kwargs"]))
    (folder / "index.html").write_text(
        env.get_template("index.html").render(
            built_at=built_at, payload_json=payload_json, **index_context(data, payload)
        )
    )
    (folder / "methodology.html").write_text(
        env.get_template("methodology.html").render(built_at=built_at, **methodology_context(data))
    )
    (folder / "compare.html").write_text(
        env.get_template("compare.html").render(
            built_at=built_at, payload_json=payload_json, **compare_context(payload)
        )
    )
    (folder / "models.html").write_text(
        env.get_template("models.html").render(built_at=built_at, payload_json=payload_json, root="")
    )


def render_model_pages(data: dict, names: list[str], folder: Path, built_at: str, threshold: float) -> None:
    template = jinja_env().get_template("model.html")
    for file_name, context in model_contexts(data, names, threshold):
        (folder / file_name).write_text(template.render(built_at=built_at, **context))


class Background:
    """Run function(*args) in a forked process beside the caller (the model pages are half the
    build's work and need only memory the fork inherits); where fork is missing, run it now."""

    def __init__(self, function, *args):
        self.process = None
        if "fork" not in multiprocessing.get_all_start_methods():
            function(*args)
            return
        self.process = multiprocessing.get_context("fork").Process(target=function, args=args, daemon=True)
        self.process.start()

    def wait(self) -> None:
        if self.process is None:
            return
        self.process.join()
        if self.process.exitcode != 0:
            raise RuntimeError(
                f"Rendering the model pages failed (exit code {self.process.exitcode}); see the error above."
            )

    def cancel(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join()


def write_site(db, folder: Path, threshold: float) -> dict:
    data = load(db)
    annotate(data)  # speed-ups and FLOP/s, once, before the fork: the index and the model pages read them
    built_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    (folder / "models").mkdir()
    names = model_names(data)
    # The forked child takes 7 in 8 model pages (with their histories); this process writes the
    # downloads and the index (about as much work), then the rest: both cores finish together.
    model_pages = Background(
        render_model_pages, data, [n for i, n in enumerate(names) if i % 8], folder / "models", built_at, threshold
    )
    try:
        write_assets(folder / "assets")
        write_downloads(db, folder / "data")
        render_pages(jinja_env(), data, folder, built_at)
        render_model_pages(data, names[::8], folder / "models", built_at, threshold)
    except BaseException:
        model_pages.cancel()
        raise
    model_pages.wait()
    (folder / ".nojekyll").touch()  # GitHub Pages: serve files as they are
    (folder / MARKER).write_text(built_at + "\n")
    return {"model_pages": len(list((folder / "models").iterdir())), "rows": {kind: len(data[kind]) for kind in KINDS}}


def site_error(error: OSError, out: Path) -> SiteError:
    """What the file system refused, for the user: the cause named, and the fix."""
    where = error.filename or out.parent
    if error.errno == errno.ENOSPC:
        return SiteError(f"no room to write {where}: the disk is full. Free space (df -h {out.parent}) "
                         "or pass --out on another disk.")  # fmt: skip
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return SiteError(f"{where} cannot be written ({error.strerror}): make {out.parent} writable, "
                         "or pass --out with a writable folder.")  # fmt: skip
    return SiteError(f"cannot write {where}: {error.strerror or error}. Pass --out with another folder.")


def swap_in(new: Path, out: Path) -> None:
    """Replace `out` by `new` with renames on the same file system; the old site is removed last."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        old.rmdir()
        out.rename(old)
    new.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_site(db, out, threshold: float = CHANGE_THRESHOLD) -> dict:
    """Render the whole site into `out`, flagging changes beyond `threshold` between consecutive runs;
    returns what was built and how long it took."""
    started = time.perf_counter()
    out = Path(out).resolve()
    check_target(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    except OSError as e:
        raise site_error(e, out) from None
    try:
        summary = write_site(db, building, threshold)
        building.chmod(0o755)  # mkdtemp makes it private; a site is for serving
        swap_in(building, out)
    except BaseException as e:
        shutil.rmtree(building, ignore_errors=True)
        if isinstance(e, OSError):  # the disk or the folder refused: what the user can fix, in one line
            raise site_error(e, out) from None
        raise
    return {**summary, "out": str(out), "seconds": round(time.perf_counter() - started, 2)}
