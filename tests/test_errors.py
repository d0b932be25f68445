"""One-line errors: what a job's error column and the command line show."""

from db.errors import LeaderboardError, one_line


class BackendCompilerFailed(Exception):
    pass


def test_a_line_that_only_introduces_the_reason_is_joined_with_it():
    error = BackendCompilerFailed(
        "backend='inductor' raised:\nImportError: /tmp/x/main.so: file too short\n\n"
        "Set TORCHDYNAMO_VERBOSE=1 for the internal stack trace"
    )
    assert one_line(error) == (
        "BackendCompilerFailed: backend='inductor' raised: ImportError: /tmp/x/main.so: file too short"
    )


def test_a_user_error_is_its_message_and_a_bug_its_type_and_first_line():
    assert one_line(LeaderboardError("No dataset at /d: pass --data-dir.")) == "No dataset at /d: pass --data-dir."
    assert one_line(ValueError("bad\nmore detail")) == "ValueError: bad"
