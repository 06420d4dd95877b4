"""The exception SIGINT and SIGTERM raise in the `cairn` command (kept light: no imports)."""


class Interrupted(BaseException):  # noqa: N818 - named for what happened, like KeyboardInterrupt
    """SIGINT or SIGTERM: unwinds like KeyboardInterrupt (runs every `finally`, is not caught
    by `except Exception`), but click does not turn it into "Aborted!" and exit 1."""
