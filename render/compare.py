"""The compare page's context: which two groups (environments) of one kind it shows first.

The page's rows are the index's payload (render/payload.py), already built; this module only
picks the defaults, so the page adds no per-row work to a build.
"""

COMPARE_KINDS = ("throughput", "accuracy")  # the first with two full-fidelity groups is shown first


def default_pair(groups: list[dict], kind: str) -> dict:
    """The two largest groups of `kind` that are not low-fidelity (smoke) runs, A the larger;
    None where there are fewer than two (a low-fidelity group is listed, never picked)."""
    full = sorted((g for g in groups if g["kind"] == kind and not g.get("low_fidelity")), key=lambda g: -g["rows"])
    a, b = ([g["key"] for g in full[:2]] + [None, None])[:2]
    return {"a": a, "b": b}


def compare_choices(groups: list[dict]) -> dict | None:
    """{kind: shown first, pairs: {kind: default pair}} over the kinds with two groups or more;
    None when no kind has two (nothing to compare)."""
    kinds = [kind for kind in COMPARE_KINDS if sum(g["kind"] == kind for g in groups) >= 2]
    if not kinds:
        return None
    pairs = {kind: default_pair(groups, kind) for kind in kinds}
    return {"kind": next((k for k in kinds if pairs[k]["b"] is not None), kinds[0]), "pairs": pairs}


def compare_context(payload: dict) -> dict:
    return {"root": "", "payload": payload, "choices": compare_choices(payload["groups"])}
