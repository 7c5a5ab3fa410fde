"""The one error type modelenv raises for anything a user can fix.

The CLI turns a :class:`ModelenvError` into ``modelenv: error: <message>`` and
its exit status; anything else is a bug and is reported as one.
"""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "ModelenvError", "Terminated", "UsageError"]

EXIT_FAILED = 1
EXIT_USAGE = 2


class ModelenvError(Exception):
    """A failure the user can act on: the message says what, where and how to fix it."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(ModelenvError):
    """Bad command-line usage, or a model/engine that does not exist (exit 2)."""

    exit_code = EXIT_USAGE


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived while modelenv waited for uv (see
    :mod:`compiler.children`): uv was stopped; cleanup runs as for Ctrl-C.
    A BaseException, as KeyboardInterrupt is: ``except Exception`` lets it by."""

    def __init__(self, signum: int) -> None:
        import signal

        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        super().__init__(f"terminated by {name}")
        self.signum = signum
        self.name = name
        self.exit_code = 128 + signum  # as a shell reports it
