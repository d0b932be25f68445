"""The one exception type for "the user can fix this".

Raise LeaderboardError (or a subclass) with a one-line message that names the thing and the fix:
`No dataset at /data/imagenet/val: pass --data-dir or set leaderboard.data_dir in invoke.yaml.`
The command line prints it as that one line and exits 1; a job stores it as the job's error.
Every other exception is a bug, and keeps its traceback. It lives in db/, the bottom layer, so
that every layer can raise it.
"""


class LeaderboardError(Exception):
    """Something the user can fix; the message says what and how, in one line."""
