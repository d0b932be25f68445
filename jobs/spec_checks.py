"""Checks shared by the job specs: each bad value is a one-line LeaderboardError naming it and the fix."""

import re

from db.errors import LeaderboardError


def whole_number(key: str, value, minimum: int, example=None) -> int:
    """`value` as an int >= minimum ("8" and 8 alike; True, 2.5 and "big" refused)."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"[+-]?\d+", text) or int(text) < minimum:
        hint = f" Try --{key.replace('_', '-')} {example}." if example is not None else ""
        raise LeaderboardError(f"Bad {key} {value!r}: it must be a whole number >= {minimum}.{hint}")
    return int(text)


def yes_no(key: str, value) -> bool:
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise LeaderboardError(f"Bad {key} {value!r}: it must be true or false.")


def checked_spec(kind: str, spec: dict) -> dict:
    """`spec` checked by its kind's validator, as a job result: {"status": "done", "spec": filled}, or
    "failed" with the one-line error; so the command line can check a spec inside a job process."""
    from db.kinds import get_kind

    try:
        return {"status": "done", "spec": get_kind(kind).validator(spec)}
    except LeaderboardError as e:
        return {"status": "failed", "error": str(e)}


def resolve_device(device: str | None) -> str:
    """The device a job runs on: `device` if this machine has it, or cuda when available, else cpu."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise LeaderboardError(f"device {device!r} is not a torch device: try --device cpu or --device cuda.") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0 or (parsed.index or 0) >= count:
            raise LeaderboardError(
                f"device {device!r} is not available here ({count} CUDA devices visible): try --device cpu."
            )
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise LeaderboardError(f"device {device!r} is not available here: try --device cpu.")
    return device
