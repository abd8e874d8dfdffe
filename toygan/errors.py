"""The one exception type a user sees: a one-line message saying what is wrong and how to fix it."""


class ToyganError(Exception):
    """Bad input or a failed run, reported to the user as a single line without a traceback."""

    exit_code = 2  # the command's exit status
    label = "error"  # the word the command line prints before the message
