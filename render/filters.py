"""Jinja filters, registered in one place: how numbers, dates and settings read on the site."""
from render.data import layout_label


def number(value, digits: int = 2) -> str:
    """Fixed decimals; large numbers grouped (12,345); missing values empty."""
    if value is None:
        return ""
    if isinstance(value, float) and abs(value) >= 1e4:
        return f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


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


FILTERS = {"number": number, "millions": millions, "day": day, "yes_no": yes_no, "layout": layout}


def register(env) -> None:
    env.filters.update(FILTERS)
