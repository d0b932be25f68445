"""Every imported file is untrusted: any bytes, size, encoding or names. Each is either
stored or refused with one line naming the spot (ImportRefused), never another exception; and
whatever was stored, the site builds, links every model page, and shows every string as text."""

import csv
import io
import json
import random
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from db.parsing import ImportRefused
from db.schema import open_db
from db.timm_csv import import_file
from render.build import build_site
from render.data import page_name

CASES = 60  # seeded: the same files every run; ~0.1 s each, and a site build after each stored one

# Names a model, dataset or precision may arrive with: markup, paths, unicode, absurd lengths.
HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    "<b>x</b>",
    '<a href="javascript:alert(1)">x</a>',
    "%{text}",
    "../../etc/passwd",
    "a/b\\c",
    ".",
    "..",
    ".hidden",
    "CON",
    "tiny test",
    "x" * 300,
    "y" * 2000,
    "mo\x00del",
    "tab\there",
    "new\nline",
    "\u202eevil",
    "zero\u200bwidth",
    "caf\u00e9",
    "\U0001f600\U0001f680",
    "\u0394\u03b9\u03ac",
    "\udcff",
    "\ufeffbom",
    'quote"comma,',
    "=cmd|' /C calc'!A0",
    "",
]

FILE_NAMES = [
    "results-imagenet.csv",
    "benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv",
    "benchmark-train-amp_bf16-nhwc-pt291-cpu-i7_12700h-dynamo.csv",
    "tiny-test-models-throughput.csv",
    "leaderboard-throughput.csv",
    "leaderboard-accuracy.csv",
    "leaderboard-throughput.json",
    "leaderboard-accuracy.json",
]


# --- what a case's file holds ---------------------------------------------------------------

PRINTABLE_RANGES = [(0x21, 0x7E), (0xAE, 0xFF), (0x3A3, 0x3C9), (0x4E00, 0x9FFF), (0x1F600, 0x1F64F)]


def random_name(rng: random.Random, printable_only: bool = False) -> str:
    """A hostile name, or random characters: printable ones, or any code point at all."""
    if rng.random() < 0.5:
        return rng.choice([n for n in HOSTILE_NAMES if n.isprintable()] if printable_only else HOSTILE_NAMES) or "x"
    anything = not printable_only and rng.random() < 0.3
    low, high = (0, 0x30000) if anything else rng.choice(PRINTABLE_RANGES)
    return "".join(chr(rng.randrange(low, high + 1)) for _ in range(rng.choice([1, 5, 20, 160, 400])))


def random_number(rng: random.Random) -> str:
    return rng.choice(
        [
            str(round(rng.uniform(0, 100), 3)),
            str(rng.randrange(1, 1024)),
            "1,014.45",
            "",
            "nan",
            "-inf",
            "1e400",
            "9" * 30,
            "0x10",
            "12abc",
            str(rng.uniform(-1e9, 1e9)),
        ]
    )


def columns_of(file_name: str) -> tuple[list[str], list[str]]:
    """(text columns, number columns) a real file of this name has."""
    if file_name.startswith("results-"):
        return ["model", "interpolation"], ["img_size", "top1", "top5", "param_count", "crop_pct"]
    if file_name.startswith("benchmark-"):
        bench = file_name.split("-")[1]
        return ["model"], [f"{bench}_samples_per_sec", f"{bench}_img_size", f"{bench}_batch_size", "param_count"]
    if file_name.startswith("tiny-test-models-"):
        return ["model", "compile_mode"], ["img_size", "infer_samples_per_sec", "train_samples_per_sec"]
    if "throughput" in file_name:
        return (
            ["model", "bench", "compile_mode", "precision", "source", "env_device", "env_torch"],
            ["infer_samples_per_sec", "train_samples_per_sec", "infer_img_size", "channels_last", "env_device_count"],
        )  # either bench's figure: a record without its own is refused
    return ["model", "dataset", "precision", "source", "env_device"], ["img_size", "top1", "top5", "env_device_count"]


def table(rng: random.Random, file_name: str, rows: int, clean: bool) -> list[dict]:
    """Records shaped like the real file with hostile names in them; unless `clean`, with odd
    numbers and unprintable names too."""
    texts, numbers = columns_of(file_name)
    records = []
    for _ in range(rows):
        record = {
            c: random_name(rng, clean) if rng.random() < 0.4 else f"test_{rng.choice(['vit', 'resnet'])}" for c in texts
        }
        record.update(
            {c: str(rng.randrange(1, 1000)) if clean or rng.random() < 0.7 else random_number(rng) for c in numbers}
        )
        if "bench" in record:
            record["bench"] = (
                rng.choice(["infer", "train"]) if clean else rng.choice(["infer", "train", random_name(rng)])
            )
        records.append(record)
    return records


def as_csv(records: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def as_json(rng: random.Random, records: list[dict], clean: bool) -> str:
    """Numbers as JSON numbers; unless `clean`, JSON's own oddities too: nulls, lists, objects,
    booleans, a top-level object."""
    odd = [None, [1], {"a": 1}, True, 1e308, -0.0, 12, "text"]
    for record in records:
        for key, value in record.items():
            record[key] = float(value) if value.replace(".", "", 1).isdigit() else value
            if not clean and rng.random() < 0.1:
                record[key] = rng.choice(odd)
    return json.dumps(records if clean or rng.random() < 0.8 else {"records": records})


def encoded(rng: random.Random, text: str) -> bytes:
    encoding = rng.choice(["utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1"])
    return text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace")  # bad bytes too


def damaged(rng: random.Random, data: bytes) -> bytes:
    """Cut short, or a few bytes flipped."""
    if rng.random() < 0.5:
        return data[: rng.randrange(len(data) + 1)]
    data = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def megabyte_of_rows(file_name: str) -> bytes:
    """1 MB of plain rows, read in full before its last row (a NUL in the name) is refused."""
    texts, numbers = columns_of(file_name)
    plain = {
        **{c: "test_vit" for c in texts},
        **{c: "1" for c in numbers},
        **({"bench": "infer"} if "bench" in texts else {}),
    }
    rows = [dict(plain, model=f"test_{i}") for i in range(2**20 // len(as_csv([plain]).splitlines()[1]))]
    rows.append(dict(plain, model="x\x00"))
    return (json.dumps(rows) if file_name.endswith(".json") else as_csv(rows)).encode()


def case_bytes(rng: random.Random, file_name: str) -> bytes:
    """One file's bytes: a well-shaped table (hostile names, odd numbers, other encodings), a
    damaged one, an empty or 1 MB file, a 200 KB cell, or random bytes."""
    shape = rng.choice(["table", "table", "table", "damaged", "empty", "huge", "long cell", "random"])
    if shape == "empty":
        return b""
    if shape == "random":
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4096)))
    if shape == "huge":
        return megabyte_of_rows(file_name)
    clean = shape == "table" and rng.random() < 0.7
    records = table(rng, file_name, rng.randrange(1, 6), clean)
    if shape == "long cell":
        records[-1][rng.choice(list(records[-1]))] = "z" * 200_000
    text = as_json(rng, records, clean) if file_name.endswith(".json") else as_csv(records)
    data = text.encode() if clean else encoded(rng, text)
    return damaged(rng, data) if shape == "damaged" else data


def case_file(rng: random.Random, folder: Path, case: int) -> Path:
    """The case's file, in a folder of its own, named as a real one is (an export's with any suffix)."""
    file_name = rng.choice(FILE_NAMES)
    if file_name.startswith("leaderboard-") and rng.random() < 0.3:  # any name after the kind is an export's
        suffix = "".join(c for c in random_name(rng) if c not in "/\x00" and not "\ud800" <= c <= "\udfff")[:40]
        file_name = file_name.replace(".", f"-{suffix}.", 1)
    path = folder / f"case{case:02d}" / file_name
    path.parent.mkdir(parents=True)
    path.write_bytes(case_bytes(rng, file_name))
    return path


# --- the property ---------------------------------------------------------------------------


def import_outcome(db, path: Path) -> str:
    """'stored' or 'refused'; anything else escapes (and fails the test with its traceback)."""
    try:
        kind, stored = import_file(db, str(path))
    except ImportRefused as refused:
        message = str(refused)
        assert message and "\n" not in message and message.isprintable(), message
        return "refused"
    found = db[kind].count_where("source_url = ?", [str(path)])  # rows alike in identity are one row
    assert (0 < found <= stored) or found == stored == 0
    return "stored"


def assert_every_model_page_is_linked(site: Path) -> None:
    """Every model of the index has its page where the index's script looks (payload "pages")."""
    soup = BeautifulSoup((site / "index.html").read_text(), "html.parser")
    payload = json.loads(soup.select_one("script#leaderboard-data").string)
    for i, name in enumerate(payload["models"]["name"]):
        file_name = payload["pages"].get(str(i), f"{name}.html")
        assert file_name == page_name(name) and (site / "models" / file_name).is_file(), name


def test_any_file_is_stored_or_refused_in_one_line_and_the_site_always_builds(tmp_path):
    db = open_db(tmp_path / "fuzz.db")
    outcomes = []
    for case in range(CASES):
        rng = random.Random(case)
        path = case_file(rng, tmp_path / "files", case)
        outcomes.append(import_outcome(db, path))
        if outcomes[-1] == "stored":  # a refused file stored nothing: the site would be the same
            site = Path(build_site(db, tmp_path / "site")["out"])
            assert_every_model_page_is_linked(site)
    # the cases cover both outcomes, and what was stored includes hostile names
    assert 10 < outcomes.count("stored") < CASES - 10, outcomes
    stored_names = {r["model"] for kind in ("accuracy", "throughput") for r in db[kind].rows}
    assert stored_names & {"<script>alert(1)</script>", "x" * 300, "../../etc/passwd", "caf\u00e9"}


def test_a_300_character_model_name_gets_a_page_the_index_links_to(tmp_path):
    db = open_db(tmp_path / "long.db")
    long_name = "test_" + "very_long_" * 30
    source = tmp_path / "results-imagenet.csv"
    source.write_text(f"model,img_size,top1\n{long_name}.r160_in1k,160,50.1\nresnet50.a1_in1k,224,80.4\n")
    import_file(db, str(source))
    site = Path(build_site(db, tmp_path / "site")["out"])
    assert len(page_name(long_name)) < 200 and page_name("resnet50") == "resnet50.html"
    assert_every_model_page_is_linked(site)
    page_ = BeautifulSoup((site / "models" / page_name(long_name)).read_text(), "html.parser")
    assert page_.select_one("h1").get_text() == long_name


@pytest.mark.parametrize("name", ["x" * 151, "y" * 2000, "\u00e9" * 200, ".hidden", "..", "resnet50\n", "a/b", ""])
def test_page_names_are_short_visible_plain_file_names(name):
    file_name = page_name(name)
    assert len(file_name.encode()) <= 200 and file_name.endswith(".html") and not file_name.startswith(".")
    assert file_name.isascii() and "/" not in file_name and "\n" not in file_name
    assert file_name != page_name(name + "z")  # the hash tells apart names cut to the same prefix


def test_plain_short_names_keep_their_page_names():
    assert page_name("resnet50.a1_in1k") == "resnet50.a1_in1k.html"
    assert page_name("x" * 150) == "x" * 150 + ".html"


# --- chart titles, legends and hovers show data strings as text (Chromium) -------------------

MARKUP_PRECISION = "<b>x</b>"
MARKUP_DATASET = '<a href="javascript:alert(1)">d</a>'
MARKUP_FAMILY = "<i>fam</i>"
MARKUP_MODELS = {"test_vit": (50.1, 2800.0), "test_resnet": (47.6, 3300.0)}


def markup_exports(folder: Path) -> list[Path]:
    """Our own export CSVs whose only precision, dataset and device are markup: accuracy on two
    devices (so the compare page has two groups to set side by side), throughput on one."""
    accuracy, throughput = folder / "leaderboard-accuracy.csv", folder / "leaderboard-throughput.csv"
    with open(accuracy, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "img_size", "top1", "dataset", "source", "env_device"])
        for device, bonus in (("cpu A", 0), ("<b>cpu B</b>", 1)):
            writer.writerows(
                [f"{m}.r160_in1k", 160, top1 + bonus, MARKUP_DATASET, "measured", device]
                for m, (top1, _) in MARKUP_MODELS.items()
            )
    with open(throughput, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["model", "bench", "compile_mode", "precision", "infer_img_size", "infer_samples_per_sec", "source"]
        )
        writer.writerows(
            [m, "infer", "eager", MARKUP_PRECISION, 160, speed, "measured"] for m, (_, speed) in MARKUP_MODELS.items()
        )
    return [accuracy, throughput]


@pytest.fixture(scope="module")
def markup_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("markup")
    db = open_db(folder / "markup.db")
    for path in markup_exports(folder):
        import_file(db, str(path))
    db["models"].insert_all(
        [{"name": m, "family": MARKUP_FAMILY, "norm": "LayerNorm"} for m in MARKUP_MODELS], pk="name", alter=True
    )
    return Path(build_site(db, folder / "site")["out"])


def chart_text(page, chart: str) -> dict:
    """The SVG text plotly drew in `chart` (axis titles, legend entries, hover label) and how many
    bold, italic or link elements its text holds: markup in data would make them."""
    return page.evaluate(f"""() => {{ const c = document.getElementById('{chart}');
        const texts = (selector) => [...c.querySelectorAll(selector)].map((t) => t.textContent);
        return {{ x: texts('.xtitle'), y: texts('.ytitle'), legend: texts('.legendtext'), hover: texts('.hovertext'),
                  bold: c.querySelectorAll('text tspan[style*="bold"]').length,
                  italic: c.querySelectorAll('text tspan[style*="italic"]').length,
                  links: c.querySelectorAll('text a').length }}; }}""")


def open_page(page, site: Path, name: str) -> None:
    page.goto(site.joinpath(name).as_uri())
    page.wait_for_selector("body[data-drawn]")


def hover_first_point(page, chart: str, curve: int) -> None:
    """Show the hover label of trace `curve`'s first point (negative: from the end). It must be an
    SVG trace: plotly hovers WebGL points only under a real mouse."""
    page.evaluate(f"""() => {{ const c = document.getElementById('{chart}'), n = {curve};
        Plotly.Fx.hover(c, [{{curveNumber: n < 0 ? c.data.length + n : n, pointNumber: 0}}]); }}""")
    page.wait_for_selector(f"#{chart} .hovertext")


def mouse_on_first_point(page, chart: str) -> None:
    """Move the mouse onto the first point of `chart`'s first trace (WebGL or SVG), so plotly shows its hover."""
    page.locator(f"#{chart}").scroll_into_view_if_needed()
    x, y = page.evaluate(f"""() => {{ const gd = document.getElementById('{chart}'), L = gd._fullLayout, t = gd.data[0];
        const box = gd.getBoundingClientRect();
        return [box.left + L.xaxis._offset + L.xaxis.c2p(L.xaxis.d2c(t.x[0])), box.top + L.yaxis._offset + L.yaxis.c2p(L.yaxis.d2c(t.y[0]))]; }}""")
    page.mouse.move(x, y)
    page.wait_for_selector(f"#{chart} .hovertext")


@pytest.mark.browser
def test_markup_in_data_shows_as_text_in_axis_titles_legends_and_hovers(page, markup_site):
    open_page(page, markup_site, "index.html")
    mouse_on_first_point(page, "chart-speed")
    speed = chart_text(page, "chart-speed")
    assert MARKUP_PRECISION in speed["x"][0]
    assert MARKUP_DATASET in speed["y"][0]
    assert MARKUP_FAMILY in page.text_content("#chart-legend")  # the charts' shared HTML legend
    assert page.eval_on_selector_all("#chart-legend i, #chart-legend a, #chart-legend b", "found => found.length") == 0
    assert MARKUP_FAMILY in speed["hover"][0] and MARKUP_DATASET not in speed["hover"][0]
    assert "<b>test_" not in speed["hover"][0]  # the hover's own bold model name stays bold
    assert (speed["italic"], speed["links"]) == (0, 0)
    assert page.problems == []


@pytest.mark.browser
def test_markup_in_data_shows_as_text_in_the_compare_chart(page, markup_site):
    open_page(page, markup_site, "compare.html")
    page.select_option("#c-kind", "accuracy")
    page.wait_for_function("document.getElementById('chart-compare').data?.length > 1")
    hover_first_point(page, "chart-compare", 0)
    chart = chart_text(page, "chart-compare")
    assert MARKUP_DATASET in chart["legend"] and MARKUP_DATASET in chart["hover"][0]
    assert (chart["italic"], chart["links"]) == (0, 0)
    assert page.problems == []
