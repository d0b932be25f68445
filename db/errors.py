"""The one exception type for "the user can fix this".

Raise LeaderboardError (or a subclass) with a one-line message that names the thing and the fix:
`No dataset at /data/imagenet/val: pass --data-dir or set leaderboard.data_dir in invoke.yaml.`
The command line prints it as that one line and exits 1; a job stores it as the job's error.
Every other exception is a bug, and keeps its traceback. It lives in db/, the bottom layer, so
that every layer can raise it.
"""


class LeaderboardError(Exception):
    """Something the user can fix; the message says what and how, in one line."""


class UsageError(LeaderboardError):
    """A value the user typed is malformed (a flag, an INVOKE_LEADERBOARD_* variable or an invoke.yaml
    setting: not a number, not one of the choices, an unknown key), refused before any work: the
    command line exits 2, as for a bad flag. What the world disagrees with (no such file or model)
    stays a plain LeaderboardError, exit 1."""


def not_one_of(what: str, value, choices, fix: str | None = None) -> str:
    """The one wording of a value outside its choices: what, the value, the choices, and a fix (by
    default the first choice, as `what` would take it)."""
    choices = [str(choice) for choice in choices]
    return f"{what} {value!r} is not one of {', '.join(choices)}. {fix or f'Try {what} {choices[0]}.'}"


def storage_cause(error: BaseException) -> str:
    """Why SQLite could not store something, for a person: a full disk by name, else its first line."""
    return "its disk is full" if "full" in str(error) else one_line(error)


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first non-blank line of the error's message (its type's name if it has none), at most `limit`
    long. A line that only introduces the next ("backend='inductor' raised:") is joined with it, so the
    reason is in the line."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = lines.pop(0) if lines else type(error).__name__
    while text.endswith(":") and lines:
        text += " " + lines.pop(0)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(error: BaseException, limit: int = 500) -> str:
    """An error as one line for a result or a report: a user error's message as it is (it names the
    thing and the fix), any other error as `Type: message`. The traceback keeps the rest."""
    if isinstance(error, LeaderboardError):
        return first_line(error, limit)
    return first_line(f"{type(error).__name__}: {first_line(error, limit)}", limit)
