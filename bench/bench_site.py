"""Site figures: build time, page weight, and load/redraw times in headless Chromium, on the full timm import.

    python bench/bench_site.py [--results ../shared/timm-results] [--rounds 3] [--baseline DIR]

Imports timm's published CSVs and db/reference into a scratch database, builds the site, gzips what
the index loads, then opens the index from file:// in Debian's Chromium and times the first draw and
filter redraws. With --baseline DIR (another version's source tree, e.g. from
`git archive COMMIT | tar -x -C DIR`), both trees fill their own database, then each round builds and
times both, alternating which goes first, so a shared machine's load hits both alike: the ratios
(this code / baseline) are the figures to trust there, the absolute times only on an idle machine.
Builds run in a fresh interpreter of their tree; CPU seconds include the forked model-page renderer.
"""

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# (control, value) pairs changed in turn; each is one filter change and one redraw
CLICKS = [
    ("#f-size", "224"),
    ("#f-size", ""),
    ("#f-color", "norm"),
    ("#f-color", "family"),
    ("#f-ds", "1"),
    ("#f-ds", "0"),
]
# Times to the frame after 'leaderboard:shown' (what is on screen redrawn: the charts, and the table where it
# is in view) and after 'leaderboard:drawn' (an off-screen table too); a version without the first event
# draws everything before its 'drawn', which then stands for both.
REDRAW_JS = """([selector, value]) => new Promise(resolve => {
    const started = performance.now(), times = {};
    const at = (name) => document.addEventListener(name, () => requestAnimationFrame(() => {
        times[name] = performance.now() - started;
        if (name === 'leaderboard:drawn') resolve({click_to_shown_ms: times['leaderboard:shown'] ?? times[name],
                                                  click_to_drawn_ms: times[name], phases: window.leaderboardStats.phases});
    }), {once: true});
    at('leaderboard:shown');
    at('leaderboard:drawn');
    const control = document.querySelector(selector);
    control.value = value;
    control.dispatchEvent(new Event('change', {bubbles: true}));
})"""
# Resolves once the page has been idle after its load's last work (the dot plots below the charts).
SETTLED_JS = """() => new Promise(resolve => setTimeout(() => requestIdleCallback(resolve, {timeout: 2000}), 500))"""
# Run in the tree being measured (its own code): fill a database, or build a site and report times.
FILL = """import sys; from pathlib import Path; sys.path.insert(0, '.')
import jobs; from db.schema import open_db; from db.timm_csv import import_file
db = open_db(sys.argv[1])
files = sorted(Path(sys.argv[2]).glob('*.csv')) + sorted(Path('db/reference').glob('*.csv'))
print(sum(import_file(db, str(f))[1] for f in files))"""
BUILD = """import json, resource, sys, time; sys.path.insert(0, '.')
import jobs; from db.schema import open_db; from render.build import build_site
started = time.perf_counter(); summary = build_site(open_db(sys.argv[1]), sys.argv[2])
wall = time.perf_counter() - started
cpu = lambda who: sum(getattr(resource.getrusage(who), f) for f in ('ru_utime', 'ru_stime'))
print(json.dumps({'wall': wall, 'cpu': cpu(resource.RUSAGE_SELF), 'child_cpu': cpu(resource.RUSAGE_CHILDREN),
                  'pages': summary['model_pages']}))"""


def run_in(tree: Path, code: str, *args) -> str:
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=tree, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{tree}: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


def gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=6))


def page_weight(site: Path) -> dict:
    """What the index loads (its html with the inline data, css, scripts), apart from plotly.js."""
    html = (site / "index.html").read_text()
    scripts = [site / s for s in re.findall(r'<script src="([^"]+)"', html)]
    index_files = [site / "index.html", site / "assets" / "site.css"] + [
        s for s in scripts if s.name != "plotly.min.js"
    ]
    plotly = site / "assets" / "plotly.min.js"
    return {
        "index_gz_kb": sum(gz(p) for p in index_files) / 1024,
        "index_raw_kb": sum(p.stat().st_size for p in index_files) / 1024,
        "plotly_gz_kb": gz(plotly) / 1024,
        "plotly_raw_kb": plotly.stat().st_size / 1024,
    }


def load_times(browser, site: Path) -> dict:
    """Navigation start to the first chart drawn (where the page reports it) and to every chart and the
    table drawn: performance.now() at those moments."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto((site / "index.html").as_uri())
    page.wait_for_selector("body[data-drawn]")
    at = page.evaluate("({first: window.LB.firstChartAt ?? null, all: window.leaderboardStats.at})")
    page.close()
    return at


def redraws(browser, site: Path) -> list[dict]:
    """One round of filter changes on the index: click-to-shown and click-to-drawn times, in-page phases."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto((site / "index.html").as_uri())
    page.wait_for_selector("body[data-drawn]")
    page.evaluate(SETTLED_JS)  # a user's first click comes after the page has finished loading
    results = [page.evaluate(REDRAW_JS, list(click)) for click in CLICKS]
    page.close()
    return results


def median_or_none(values: list):
    return None if None in values else statistics.median(values)


def summarize(samples: dict) -> dict:
    clicks = [r["click_to_drawn_ms"] for r in samples["redraws"]]
    shown = [r["click_to_shown_ms"] for r in samples["redraws"]]
    phases = samples["redraws"][0]["phases"].keys()
    return {
        "build_wall_s": statistics.median(b["wall"] for b in samples["builds"]),
        "build_cpu_s": statistics.median(b["cpu"] + b["child_cpu"] for b in samples["builds"]),
        "build_cpu_main_s": statistics.median(b["cpu"] for b in samples["builds"]),
        "build_cpu_child_s": statistics.median(b["child_cpu"] for b in samples["builds"]),
        "first_chart_ms": median_or_none([load["first"] for load in samples["loads"]]),
        "first_draw_ms": statistics.median(load["all"] for load in samples["loads"]),
        "shown_ms": statistics.median(shown),
        "shown_p90_ms": sorted(shown)[int(0.9 * (len(shown) - 1))],
        "redraw_ms": statistics.median(clicks),
        "redraw_p90_ms": sorted(clicks)[int(0.9 * (len(clicks) - 1))],
        "phases": {k: statistics.median(r["phases"][k] for r in samples["redraws"]) for k in phases},
    }


def measure_round(tree: Path, db: Path, site: Path, browser, loads: int, samples: dict) -> None:
    samples["builds"].append(json.loads(run_in(tree, BUILD, db, site)))
    samples["loads"] += [load_times(browser, site) for _ in range(loads)]
    samples["redraws"] += redraws(browser, site)


def measure(trees: dict, results: Path, scratch: Path, rounds: int, loads: int) -> dict:
    """{name: figures} per tree, the trees alternating within each round (first one first, then reversed)."""
    from playwright.sync_api import sync_playwright

    rows = {name: run_in(tree, FILL, scratch / f"{name}.db", results) for name, tree in trees.items()}
    samples = {name: {"builds": [], "loads": [], "redraws": []} for name in trees}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for i in range(rounds):
            for name in list(trees) if i % 2 == 0 else list(trees)[::-1]:
                measure_round(
                    trees[name], scratch / f"{name}.db", scratch / f"site-{name}", browser, loads, samples[name]
                )
        browser.close()
    return {
        name: {
            **summarize(samples[name]),
            "rows": rows[name],
            "pages": samples[name]["builds"][0]["pages"],
            **page_weight(scratch / f"site-{name}"),
        }
        for name in trees
    }


def report(figures: dict, rounds: int, loads: int) -> None:
    print(
        f"machine: {os.cpu_count()} CPUs, load average now {os.getloadavg()[0]:.1f}; {rounds} rounds, "
        f"{loads} loads and {len(CLICKS)} filter changes per round and tree"
    )
    for name, f in figures.items():
        print(
            f"{name}: {f['rows']} result rows, {f['pages']} model pages; index {f['index_gz_kb']:.0f} KB gzipped "
            f"({f['index_raw_kb']:.0f} KB raw) + plotly.min.js {f['plotly_gz_kb']:.0f} KB gzipped ({f['plotly_raw_kb']:.0f} KB raw)"
        )
        first = "not reported" if f["first_chart_ms"] is None else f"{f['first_chart_ms']:.0f} ms"
        print(
            f"  build wall median {f['build_wall_s']:.2f} s (CPU {f['build_cpu_s']:.2f} s: main process "
            f"{f['build_cpu_main_s']:.2f} s, forked model-page renderer {f['build_cpu_child_s']:.2f} s); load to first chart "
            f"{first}, to all charts and the table {f['first_draw_ms']:.0f} ms; filter change to on-screen redraw median "
            f"{f['shown_ms']:.0f} ms, p90 {f['shown_p90_ms']:.0f} ms; to the table too median {f['redraw_ms']:.0f} ms, p90 "
            f"{f['redraw_p90_ms']:.0f} ms; phases (median ms): "
            + ", ".join(f"{k} {v:.0f}" for k, v in f["phases"].items())
        )
    if "baseline" in figures:
        base, now = figures["baseline"], figures["this code"]
        print(
            "ratio this code / baseline: "
            + ", ".join(
                f"{key} {now[key] / base[key]:.2f}"
                for key in ("build_wall_s", "build_cpu_s", "first_draw_ms", "shown_ms", "redraw_ms")
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT.parent / "shared" / "timm-results")
    parser.add_argument("--baseline", type=Path, help="another version's source tree, measured alternately")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loads", type=int, default=3, help="index loads per round and tree")
    args = parser.parse_args()
    trees = {"this code": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    with tempfile.TemporaryDirectory() as scratch:
        report(measure(trees, args.results.resolve(), Path(scratch), args.rounds, args.loads), args.rounds, args.loads)


if __name__ == "__main__":
    main()
