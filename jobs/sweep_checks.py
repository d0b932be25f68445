"""A sweep's definition checked whole when it is planned, in the invoke process and before any job
runs: a bad key or value is one line naming the sweep, the key and the fix (a UsageError), never
jobs failing one by one or a planner's "exited with code 1 without a result".

The values follow the job validators' rules (jobs/spec_checks.py's whole_number and yes_no, the
kinds' vocabularies in db/kinds.py); what is checked here is the sweep's own shape: the keys each
section takes (each kind's sweep_rules, beside its planner in jobs/kinds/) and the lists where a
sweep lists values.
"""

from db.errors import LeaderboardError, UsageError, not_one_of
from db.kinds import KINDS
from jobs.spec_checks import whole_number, yes_no

DEVICE_TYPES = ("cuda", "cpu")  # where jobs run; a throughput section may hold overrides for each


def as_mapping(value) -> dict | None:
    """`value` as a dict when it is one, or a mapping Invoke's configuration hands out (not a dict); else None."""
    if isinstance(value, dict):
        return value
    if hasattr(value, "keys") and not isinstance(value, (str, bytes)):
        return {key: value[key] for key in value.keys()}
    return None


# A rule checks one key's value: rule(key, value), raising LeaderboardError. A scalar setting may be
# null (the job's default); a list may not (the planner iterates it).


def count(minimum: int):
    return lambda key, value: value is None or whole_number(key, value, minimum)


def one_of(choices):
    def check(key, value):
        if value is not None and value not in choices:
            raise LeaderboardError(not_one_of(key, value, choices, f"Try {key}: {choices[0]} in invoke.yaml."))

    return check


def switch(key, value):
    return value is None or yes_no(key, value)


def list_of(rule, example: str):
    def check(key, values):
        if not isinstance(values, list):
            raise LeaderboardError(f"Bad {key} {values!r}: it must be a list, e.g. {key.split('.')[-1]}: {example}.")
        for value in values:
            rule(key, value)

    return check


def section(rules: dict | None):
    """A rule for a mapping of settings, each checked by its rule in `rules` (None: any setting), or
    null: none (no jobs of a kind; no overrides for a device)."""

    def check(key, value):
        if value is None:
            return
        settings = as_mapping(value)
        if settings is None:
            listed = f" ({', '.join(rules)})" if rules else ""
            raise LeaderboardError(f"Bad {key} {value!r}: it must be a mapping of settings{listed}, or null.")
        if rules is None:  # a kind registered without rules here: any settings
            return
        for name, setting in settings.items():
            if name not in rules:
                raise LeaderboardError(f"Unknown key {key}.{name}: use {', '.join(rules)}.")
            rules[name](f"{key}.{name}", setting)

    return check


def check_models(key, value):
    if value is not None and not (isinstance(value, list) and all(isinstance(m, str) and m for m in value)):
        raise LeaderboardError(
            f"Bad {key} {value!r}: it must be a list of model names or globs, e.g. models: [test_vit, 'test_resnet*']."
        )


def sweep_rules() -> dict:
    """The keys a sweep takes: its models, its fidelity, and a section per registered result kind."""
    return {
        "models": check_models,
        "low_fidelity": switch,
        **{name: section(kind.sweep_rules) for name, kind in KINDS.items()},
    }


def checked_sweep(name: str, sweep) -> dict:
    """`sweep`, as it is, when every key and value is one the planners take; else a UsageError naming
    the sweep, the key, the value and the fix."""
    rules = sweep_rules()
    try:
        definition = as_mapping(sweep)
        if definition is None:
            raise LeaderboardError(
                f"It is {sweep!r}, not a mapping: write models: [...] and a section per kind "
                f"({', '.join(KINDS)}) under it."
            )
        for key, value in definition.items():
            if key not in rules:
                raise LeaderboardError(f"Unknown key {key}: a sweep takes {', '.join(rules)}.")
            rules[key](key, value)
    except LeaderboardError as e:
        raise UsageError(f"Sweep {name!r}: {e} Fix it under leaderboard.sweeps.{name} in invoke.yaml.") from None
    return sweep
