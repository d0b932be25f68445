"""Site figures: build time, page weight, and load/redraw times in headless Chromium, on the full timm import.

    python bench/bench_site.py [--results ../shared/timm-results] [--builds 3] [--clicks 5]

Imports timm's published CSVs and db/reference into a scratch database, builds the site several
times (median and best wall time), gzips what the index loads, then opens the index from file://
in Debian's Chromium and times the first draw and filter redraws (median of several clicks).
"""
import argparse
import gzip
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db.schema import open_db  # noqa: E402
from db.timm_csv import import_file  # noqa: E402
from render.build import build_site  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# (control, value) pairs clicked in turn; each is one filter change and one redraw
CLICKS = [("#f-size", "224"), ("#f-size", ""), ("#f-color", "norm"), ("#f-color", "family"),
          ("#f-ds", "1"), ("#f-ds", "0")]
REDRAW_JS = """([selector, value]) => new Promise(resolve => {
    const started = performance.now();
    document.addEventListener('leaderboard:drawn', e => requestAnimationFrame(() =>
        resolve({click_to_drawn_ms: performance.now() - started, phases: e.detail.phases})), {once: true});
    const control = document.querySelector(selector);
    control.value = value;
    control.dispatchEvent(new Event('change', {bubbles: true}));
})"""


def fill(db_path: Path, results: Path) -> int:
    db = open_db(db_path)
    files = sorted(results.glob("*.csv")) + sorted((ROOT / "db" / "reference").glob("*.csv"))
    return sum(import_file(db, str(f))[1] for f in files)


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process, and of its finished children (the forked model-page renderer)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def time_builds(db_path: Path, out: Path, builds: int) -> tuple[list[float], list[tuple]]:
    """Wall seconds and (parent, child) CPU seconds per build: on a shared machine the CPU times
    are the steadier figures, and the larger of the two is the build's wall time on 2 idle cores."""
    walls, cpus = [], []
    for _ in range(builds):
        started, (own, children) = time.perf_counter(), cpu_seconds()
        build_site(open_db(db_path), out)
        walls.append(time.perf_counter() - started)
        own_after, children_after = cpu_seconds()
        cpus.append((own_after - own, children_after - children))
    return walls, cpus


def gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=6))


def page_weight(site: Path) -> dict:
    index_files = [site / "index.html", site / "assets" / "site.css", site / "assets" / "lb-core.js",
                   site / "assets" / "lb-view.js"]
    plotly = site / "assets" / "plotly.min.js"
    return {"index_gz_kb": sum(gz(p) for p in index_files) / 1024, "index_raw_kb": sum(p.stat().st_size for p in index_files) / 1024,
            "plotly_gz_kb": gz(plotly) / 1024, "plotly_raw_kb": plotly.stat().st_size / 1024}


def browser_times(site: Path, loads: int, rounds: int) -> dict:
    from playwright.sync_api import sync_playwright

    first_draw, redraws, phases = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(loads):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto((site / "index.html").as_uri())
            page.wait_for_selector("body[data-drawn]")
            first_draw.append(page.evaluate("window.leaderboardStats.at"))
            page.close()
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto((site / "index.html").as_uri())
        page.wait_for_selector("body[data-drawn]")
        for _ in range(rounds):
            for click in CLICKS:
                result = page.evaluate(REDRAW_JS, list(click))
                redraws.append(result["click_to_drawn_ms"])
                phases.append(result["phases"])
        browser.close()
    split = {k: statistics.median(p[k] for p in phases) for k in phases[0]}
    return {"load_to_drawn_ms": statistics.median(first_draw), "redraw_median_ms": statistics.median(redraws),
            "phases": ", ".join(f"{k} {v:.0f}" for k, v in split.items()),
            "redraw_p90_ms": sorted(redraws)[int(0.9 * (len(redraws) - 1))], "redraws": len(redraws)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT.parent / "shared" / "timm-results")
    parser.add_argument("--builds", type=int, default=3)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="times each filter click is repeated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        db_path, out = Path(scratch) / "timm.db", Path(scratch) / "site"
        rows = fill(db_path, args.results)
        times, cpus = time_builds(db_path, out, args.builds)
        pages = len(list((out / "models").glob("*.html")))
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        print(f"build: {rows} result rows, {pages} model pages: wall median {statistics.median(times):.2f} s, "
              f"best {min(times):.2f} s over {len(times)} builds; CPU median: this process "
              f"{statistics.median(c[0] for c in cpus):.2f} s, forked model-page renderer {statistics.median(c[1] for c in cpus):.2f} s")
        weight = page_weight(out)
        print(f"index (html + css + js, without plotly.js): {weight['index_gz_kb']:.0f} KB gzipped "
              f"({weight['index_raw_kb']:.0f} KB raw); plotly.min.js {weight['plotly_gz_kb']:.0f} KB gzipped "
              f"({weight['plotly_raw_kb']:.0f} KB raw)")
        b = browser_times(out, args.loads, args.rounds)
        print(f"headless Chromium, file://: load to charts drawn {b['load_to_drawn_ms']:.0f} ms (median of {args.loads}); "
              f"filter click to redraw median {b['redraw_median_ms']:.0f} ms, p90 {b['redraw_p90_ms']:.0f} ms "
              f"({b['redraws']} clicks); median ms per phase: {b['phases']}")


if __name__ == "__main__":
    main()
