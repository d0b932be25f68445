"""Jinja filters, registered in one place: how numbers, dates, settings and sources read on the site."""

from functools import lru_cache
from pathlib import PurePath
from urllib.parse import quote, urlsplit

from render.data import collection, layout_label

# timm's published tables, where `invoke import-results` users get them (the site never shows the
# build machine's own paths: a source is named by its file, and linked where it is published)
TIMM_RESULTS = "https://github.com/huggingface/pytorch-image-models/blob/main/results/"


def number(value, digits: int = 2) -> str:
    """Fixed decimals; large numbers grouped (12,345); missing values empty."""
    if value is None:
        return ""
    if isinstance(value, float) and abs(value) >= 1e4:
        return f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def significant(value, digits: int = 3) -> str:
    """`digits` significant digits, no exponent for the usual range (27.4, 0.0123); missing values empty."""
    return "" if value is None else f"{float(f'{value:.{digits}g}'):,}".removesuffix(".0")


def millions(value) -> str:
    """A raw count as millions with 3 decimals (1,014,450 → 1.014 M)."""
    return "" if value is None else f"{value / 1e6:,.3f} M"


def day(timestamp) -> str:
    """The date part of an ISO timestamp."""
    return (timestamp or "")[:10]


def yes_no(value) -> str:
    return "" if value is None else ("yes" if value else "no")


def layout(row) -> str:
    """A throughput row's layout and timing settings, e.g. "NHWC · fast-norm"."""
    return layout_label(vars(row))


def is_url(text) -> bool:
    return str(text or "").startswith(("https://", "http://"))


def file_name(source_url) -> str:
    """The file a source was read from, without the folder it sat in here (a URL's last part)."""
    if not source_url:
        return ""
    return PurePath(urlsplit(source_url).path if is_url(source_url) else source_url).name


@lru_cache(maxsize=None)  # once per source: model pages ask for every row
def source_href(source: str, source_url) -> str:
    """Where a source's file is published: the URL it was read from, timm's results folder on GitHub
    for timm's tables read from a local copy, else nothing ("")."""
    if is_url(source_url):
        return source_url
    if collection(source) == "timm" and file_name(source_url):
        return TIMM_RESULTS + quote(file_name(source_url))
    return ""


FILTERS = {
    "number": number,
    "significant": significant,
    "millions": millions,
    "day": day,
    "yes_no": yes_no,
    "layout": layout,
    "file_name": file_name,
}


def register(env) -> None:
    env.filters.update(FILTERS)
    env.globals["source_href"] = source_href
