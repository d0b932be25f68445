"""Build the static site from the database: render into a temporary folder, then swap it in.

A failed build removes its temporary folder and leaves the previous site untouched. Nothing
here imports torch or timm: the site reads only the database.
"""
import importlib.util
import json
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from db.export import export_records, write_export
from render.data import load
from render.filters import register
from render.pages import index_context, methodology_context, model_contexts
from render.payload import index_payload

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
MARKER = ".leaderboard-site"  # marks a folder this builder made, so a rebuild may replace it


class SiteError(ValueError):
    """A user error about the site's folders; the message says what to do."""


def jinja_env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.policies["json.dumps_kwargs"] = {"separators": (",", ":")}  # |tojson: compact, still HTML-safe
    register(env)
    return env


def plotly_js() -> Path:
    """plotly.min.js as bundled with the installed plotly package (found without importing it)."""
    spec = importlib.util.find_spec("plotly")
    path = Path(spec.submodule_search_locations[0]) / "package_data" / "plotly.min.js" if spec else None
    if path is None or not path.is_file():
        raise SiteError("plotly.min.js not found in the installed plotly package: pip install 'plotly>=5.20'.")
    return path


def check_target(out: Path) -> None:
    """Refuse to replace a folder that is not a site built here (e.g. --out . by mistake)."""
    if out.exists() and not out.is_dir():
        raise SiteError(f"{out} is a file, not a folder: pass --out with a folder for the site.")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SiteError(f"{out} is not empty and was not built by `invoke build`: pass another --out, or empty it.")


def write_downloads(db, folder: Path) -> None:
    """The data behind the site, in the export format `invoke import-results` reads back."""
    folder.mkdir()
    for kind in ("accuracy", "throughput"):
        records = export_records(db, kind)
        with open(folder / f"leaderboard-{kind}.csv", "w", newline="") as stream:
            write_export(records, kind, "csv", stream)
        # dumps, not dump: only dumps takes json's C encoder (4x faster on 30k records)
        (folder / f"leaderboard-{kind}.json").write_text(json.dumps(records))


def write_assets(folder: Path) -> None:
    shutil.copytree(TEMPLATES / "static", folder)
    shutil.copyfile(plotly_js(), folder / "plotly.min.js")


def render_pages(env: Environment, data: dict, folder: Path, built_at: str) -> int:
    payload = index_payload(data)
    common = {"built_at": built_at}
    (folder / "index.html").write_text(env.get_template("index.html").render(**common, **index_context(data, payload)))
    (folder / "methodology.html").write_text(
        env.get_template("methodology.html").render(**common, **methodology_context(data)))
    (folder / "models").mkdir()
    template = env.get_template("model.html")
    pages = 0
    for file_name, context in model_contexts(data):
        (folder / "models" / file_name).write_text(template.render(**common, **context))
        pages += 1
    return pages


def write_site(db, folder: Path) -> dict:
    data = load(db)
    built_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_assets(folder / "assets")
    write_downloads(db, folder / "data")
    pages = render_pages(jinja_env(), data, folder, built_at)
    (folder / ".nojekyll").touch()  # GitHub Pages: serve files as they are
    (folder / MARKER).write_text(built_at + "\n")
    return {"model_pages": pages, "accuracy_rows": len(data["accuracy"]), "throughput_rows": len(data["throughput"])}


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


def build_site(db, out) -> dict:
    """Render the whole site into `out`; returns what was built and how long it took."""
    started = time.perf_counter()
    out = Path(out).resolve()
    check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        summary = write_site(db, building)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    building.chmod(0o755)  # mkdtemp makes it private; a site is for serving
    swap_in(building, out)
    return {**summary, "out": str(out), "seconds": round(time.perf_counter() - started, 2)}
