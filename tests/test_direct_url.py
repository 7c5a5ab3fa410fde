"""A direct URL requirement is locked with its hash, installed and checked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from compiler.lockfile import parse_lock_body

from .conftest import run_cli, write_spec
from .wheels import make_wheel


def test_direct_url_is_locked_installed_and_healthy(
    project: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    wheel = make_wheel(tmp_path / "direct", "alpha", "1.0.0")
    write_spec(project, "u", f'[env]\npython = ["3.11"]\npackages = ["alpha @ {wheel.as_uri()}"]\n')
    assert run_cli(capfd, "lock", "--no-index")[0] == 0
    body = (project / "locks/u/default/py3.11.txt").read_text()
    [pkg] = parse_lock_body(body.split("# modelenv-body-sha256:")[1].split("\n", 1)[1])
    assert (pkg.name, pkg.version) == ("alpha", "")
    assert "--hash=sha256:" in pkg.text
    code, out, err = run_cli(capfd, "create", "u", "--no-index")
    assert code == 0, err
    assert "1 installed" in err
    env = Path(out.strip().splitlines()[-1])
    proc = subprocess.run(
        [env / "bin/python", "-c", "import alpha; print(alpha.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "1.0.0"
    code, out, _err = run_cli(capfd, "doctor", "u")
    assert (code, out) == (0, "ok      u [default, py3.11.7]\n".replace("3.11.7", env.name))


def test_an_unexpected_lock_line_is_a_clean_error() -> None:
    from compiler.errors import ModelenvError

    with pytest.raises(ModelenvError, match="unexpected line in a lock: 'alpha>=1'"):
        parse_lock_body("alpha>=1\n")
