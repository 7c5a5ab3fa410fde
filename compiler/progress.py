"""Progress of a multi-lock run: a live status line on a terminal, plain lines otherwise.

On a terminal (and without -q) one line at the bottom names what uv is
resolving right now and for how long, redrawn every half second, with each
result printed above it as it arrives. Piped, only the results are printed,
one plain line each: logs stay free of escape codes.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from types import TracebackType

from .ui import UI

__all__ = ["LockProgress"]

_CLEAR = "\r\033[K"


class LockProgress:
    def __init__(
        self, ui: UI, total: int, *, clock: Callable[[], float] = time.monotonic, tick: float = 0.5
    ) -> None:
        self.ui, self.total, self.done_count = ui, total, 0
        self.live = ui.is_tty and ui.verbosity >= 0 and total > 0
        self._clock, self._tick = clock, tick
        self._running: dict[str, float] = {}
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> LockProgress:
        if self.live:
            self._ticker = threading.Thread(target=self._tick_loop, daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        with self._mutex:
            self._write(_CLEAR)

    def started(self, label: str) -> None:
        """Called from the worker that is about to run uv for ``label``."""
        with self._mutex:
            self._running[label] = self._clock()
            self._draw()

    def finished(self, label: str, text: str) -> None:
        """``label`` is done: print ``text`` (hidden by -q) above the status line."""
        with self._mutex:
            self._end(label)
            self._write(_CLEAR)
            self.ui.info(text)
            self._draw()

    def failed(self, label: str, message: str) -> None:
        with self._mutex:
            self._end(label)
            self._write(_CLEAR)
            indented = "\n".join(f"    {line}" for line in message.splitlines())
            print(f"modelenv: error: {label}: resolution failed:\n{indented}", file=self.ui.err)
            self._draw()

    def status_line(self) -> str:
        """What the live line says now: done count, what is resolving, for how long."""
        head = f"[{self.done_count}/{self.total}]"
        if not self._running:
            return f"{head} locking..."
        oldest = min(self._running.values())
        names = sorted(self._running, key=self._running.__getitem__)
        shown = names[0] + (f" and {len(names) - 1} more" if len(names) > 1 else "")
        return f"{head} resolving {shown} ({self._clock() - oldest:.0f} s)"

    def _end(self, label: str) -> None:
        self._running.pop(label, None)
        self.done_count += 1

    def _draw(self) -> None:
        if not self.live:
            return
        width = shutil.get_terminal_size((80, 24)).columns - 1
        self._write(_CLEAR + self.status_line()[:width])

    def _write(self, text: str) -> None:
        if self.live:
            self.ui.err.write(text)
            self.ui.err.flush()

    def _tick_loop(self) -> None:
        # Bounded by the run: __exit__ sets the event and joins.
        while not self._stop.wait(self._tick):
            with self._mutex:
                self._draw()
