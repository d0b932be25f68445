"""Runs over time: the changes between consecutive runs of one measurement that deserve a flag.

A measurement (a *series*: every setting that changes the number, on one environment) gets a new
run each time it is measured again. Its headline figure (samples/s, top-1) moving by more than the
threshold between two consecutive runs, beyond the spread the runs measured themselves (their
repeats' min-max ranges do not overlap), is a regression (down) or an improvement (up).
"""

from collections import defaultdict
from dataclasses import dataclass

from db.errors import LeaderboardError
from db.kinds import KINDS, get_kind

CHANGE_THRESHOLD = 0.05  # default: a relative change of 5% between consecutive runs is flagged


@dataclass
class Change:
    kind: str
    before: dict  # the earlier run (a stored row)
    after: dict  # the run that followed it
    ratio: float  # after / before, of the kind's headline figure

    @property
    def direction(self) -> str:
        return "improvement" if self.ratio > 1 else "regression"  # every headline is higher-is-better

    @property
    def percent(self) -> str:
        return f"{100 * (self.ratio - 1):+.1f}%"


def change_threshold(value) -> float:
    """--threshold / leaderboard.change_threshold as a fraction in (0, 1)."""
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        threshold = 0.0
    if not 0 < threshold < 1:
        raise LeaderboardError(
            f"Bad change threshold {value!r}: pass a fraction between 0 and 1, e.g. --threshold 0.05."
        )
    return threshold


def spreads_overlap(kind, before: dict, after: dict) -> bool:
    """Whether the two runs' measured ranges (min-max over repeats) overlap: then the change is within
    what each run varied by itself."""
    if not kind.spread:
        return False
    low, high = kind.spread
    ranges = [(run.get(low), run.get(high)) for run in (before, after)]
    if any(value is None for pair in ranges for value in pair):
        return False
    return ranges[0][0] <= ranges[1][1] and ranges[1][0] <= ranges[0][1]


def change_between(kind_name: str, before: dict, after: dict, threshold: float) -> Change | None:
    """The flagged change from run `before` to run `after` of one series, or None."""
    kind = get_kind(kind_name)
    old, new = before.get(kind.headline), after.get(kind.headline)
    if not old or new is None:
        return None
    ratio = new / old
    if abs(ratio - 1) <= threshold or spreads_overlap(kind, before, after):
        return None
    return Change(kind_name, before, after, ratio)


def runs_by_series(runs: list[dict]) -> dict[str, list[dict]]:
    """`runs` grouped by series, each oldest first."""
    grouped = defaultdict(list)
    for run in sorted(runs, key=lambda r: r["created_at"] or ""):
        grouped[run["series"]].append(run)
    return grouped


def changes(kind_name: str, runs: list[dict], threshold: float = CHANGE_THRESHOLD) -> list[Change]:
    """Every flagged change between consecutive runs of each series among `runs`."""
    found = []
    for series in runs_by_series(runs).values():
        for before, after in zip(series, series[1:]):
            change = change_between(kind_name, before, after, threshold)
            if change:
                found.append(change)
    return found


def repeated_runs(db, kind_name: str) -> list[dict]:
    """Every run of the series measured more than once."""
    kind = get_kind(kind_name)
    columns = ", ".join(f"[{f}]" for f in kind.site_fields)
    return list(
        db.query(
            f"SELECT {columns} FROM [{kind.name}] WHERE series IN "
            f"(SELECT series FROM [{kind.name}] GROUP BY series HAVING count(*) > 1)"
        )
    )


def latest_changes(db, threshold: float = CHANGE_THRESHOLD) -> list[Change]:
    """Of each series, the flagged change its latest run made: where each measurement stands now."""
    found = []
    for kind in KINDS:
        for series in runs_by_series(repeated_runs(db, kind)).values():
            change = change_between(kind, series[-2], series[-1], threshold)
            if change:
                found.append(change)
    return sorted(found, key=lambda c: c.after["created_at"], reverse=True)
