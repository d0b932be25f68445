"""Driving and reading the built site's pages in Playwright: the browser tests' shared steps."""

from pathlib import Path


def open_index(page, site: Path, hash_: str = "") -> None:
    page.goto(site.joinpath("index.html").as_uri() + hash_)
    page.wait_for_selector("body[data-drawn]")


def redraw(page, action) -> None:
    """Run `action` and wait until the view has been drawn again."""
    drawn = int(page.get_attribute("body", "data-drawn"))
    action()
    page.wait_for_function(f"+document.body.dataset.drawn > {drawn}")


def table_models(page) -> list[str]:
    return page.eval_on_selector_all("#leaderboard-body tr", "rows => rows.map(r => r.dataset.model)")


def column(page, header: str) -> list[str]:
    index = page.eval_on_selector_all("#leaderboard-head th", "ths => ths.map(t => t.textContent.trim())").index(header)
    return page.eval_on_selector_all(
        f"#leaderboard-body tr td:nth-child({index + 1})", "tds => tds.map(t => t.textContent)"
    )


def chart_models(page, chart: str) -> set[str]:
    """Model names of every point drawn in a chart (the points traces' customdata)."""
    return set(
        page.evaluate(f"""() => document.getElementById('{chart}').data
        .filter(t => t.name !== 'Pareto frontier').flatMap(t => t.customdata || [])""")
    )
