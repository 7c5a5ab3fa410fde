"""Live progress on a terminal only; plain lines when piped; -v lists uv's commands."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compiler import uv
from compiler.progress import LockProgress
from compiler.ui import UI

from .conftest import run_cli, write_spec
from .test_materialise import SPEC, idx


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def screen(raw: str) -> list[str]:
    """What a terminal shows: each \\r\\033[K erases the line being drawn."""
    lines = []
    for line in raw.split("\n"):
        lines.append(line.split("\r\033[K")[-1])
    return lines


def test_the_status_line_names_what_is_being_resolved() -> None:
    err, clock = FakeTerminal(), Clock()
    ui = UI(0, out=io.StringIO(), err=err)
    with LockProgress(ui, 3, clock=clock, tick=3600) as progress:
        progress.started("a [default, py3.11]")
        assert screen(err.getvalue())[-1] == "[0/3] resolving a [default, py3.11] (0 s)"
        clock.now += 7
        progress.started("b [vllm, py3.12]")
        assert progress.status_line() == "[0/3] resolving a [default, py3.11] and 1 more (7 s)"
        progress.finished("a [default, py3.11]", "locked      a [default, py3.11]")
        shown = screen(err.getvalue())
        assert shown[-2:] == [
            "locked      a [default, py3.11]",
            "[1/3] resolving b [vllm, py3.12] (0 s)",
        ]
        progress.failed("b [vllm, py3.12]", "error: no solution")
    shown = screen(err.getvalue())
    assert shown[-3:] == [
        "modelenv: error: b [vllm, py3.12]: resolution failed:",
        "    error: no solution",
        "",
    ]
    assert err.getvalue().endswith("\r\033[K")  # the status line is gone at the end


def test_piped_or_quiet_there_is_no_status_line() -> None:
    for verbosity, err in ((0, io.StringIO()), (-1, FakeTerminal())):
        ui = UI(verbosity, out=io.StringIO(), err=err)
        with LockProgress(ui, 2, tick=3600) as progress:
            progress.started("a [default, py3.11]")
            progress.finished("a [default, py3.11]", "locked      a")
        assert "\033" not in err.getvalue()
        assert err.getvalue() == ("locked      a\n" if verbosity == 0 else "")


def test_verbose_lists_uv_commands_with_timings_and_masked_credentials(
    project: Path, wheelhouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(project, "m", SPEC)
    code, _, err = run_cli(capsys, "lock", "-v", *idx(wheelhouse))
    assert code == 0, err
    (ran,) = [line for line in err.splitlines() if line.startswith("ran uv pip compile")]
    assert f"--no-index --find-links {wheelhouse} (" in ran
    assert re.search(r" \(\d+\.\d\d s\)$", ran), ran
    secret = "https://alice:s3cret@mirror.invalid/simple"
    assert uv.shown(["pip", "compile", "--index-url", secret]) == (
        "uv pip compile --index-url 'https://alice:****@mirror.invalid/simple'"
    )
    # Without -v, none of that.
    code, _, err = run_cli(capsys, "lock", "--upgrade", *idx(wheelhouse))
    assert code == 0, err
    assert "ran uv" not in err


def test_a_verbose_command_leaves_no_reporting_behind(
    project: Path, wheelhouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-v logs each uv command to that command's stderr; a caller running
    commands in its own process (a server, the tests) gets the API's silence
    back after it, not a log writing to a stream it may have closed since."""
    from compiler.ui import REPORTING

    write_spec(project, "m", SPEC)
    code, _, err = run_cli(capsys, "lock", "-v", *idx(wheelhouse))
    assert code == 0, err
    assert "ran uv pip compile" in err
    assert (REPORTING.live, REPORTING.log) == (False, None)
    code, _, err = run_cli(capsys, "create", "m", "-v", "--python", "3.99")
    assert code != 0
    assert (REPORTING.live, REPORTING.log) == (False, None)


def run_on_a_terminal(argv: list[str], cwd: Path) -> tuple[int, str]:
    """``modelenv ARGV`` with its stderr on a pseudo-terminal; what the terminal got."""
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "compiler", *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=secondary,
        text=True,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the other end closed: the process is done
            break
        if not data:
            break
        chunks.append(data.decode(errors="replace"))
    proc.communicate(timeout=120)
    os.close(main)
    return proc.returncode, "".join(chunks)


def test_create_lets_uv_show_its_progress_on_a_terminal_only(
    project: Path, wheelhouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(project, "m", SPEC)
    assert run_cli(capsys, "lock", *idx(wheelhouse))[0] == 0
    code, shown = run_on_a_terminal(["create", "m", *idx(wheelhouse)], project)
    assert code == 0, shown
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert "Installed 2 packages" in plain  # uv's own report, no longer --quiet
    # Piped: only modelenv's lines.
    code, _, err = run_cli(capsys, "create", "m", *idx(wheelhouse), "--force")
    assert code == 0, err
    assert "Installed" not in err
    assert err.startswith("rebuilt m [default, py")
