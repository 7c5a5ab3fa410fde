"""Relocking never passes a lock's hashes on, and ``lock --refresh-hashes``.

Issue #12, failure 1: relocking a hand-edited lock kept the hashes of the
version it replaced (uv keeps the hashes of an output file's pins), so the
lock passed ``--check`` and failed to install. Failure 5: a lock made through
a partial mirror kept its few hashes forever.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from compiler import uv
from compiler.lockfile import parse_lock

from .conftest import run_cli
from .test_lock import FIX, LOCK, header_field, lock, sha256_file, spec
from .wheels import make_wheel


def hashes(path: Path) -> dict[str, tuple[str, ...]]:
    return {p.pin: p.hashes for p in parse_lock(path.read_text()).packages}


def test_hand_edit_then_relock_ends_with_a_lock_that_installs(
    capsys: pytest.CaptureFixture[str], project: Path, wheelhouse: Path
) -> None:
    make_wheel(wheelhouse, "alpha", "1.1.0")
    spec(project, ["alpha>=1"])
    assert lock(capsys, wheelhouse)[0] == 0
    path = project / LOCK
    assert "alpha==1.1.0" in hashes(path)
    path.write_text(path.read_text().replace("alpha==1.1.0", "alpha==1.0.0"))
    code, out, _err = run_cli(capsys, "lock", "--check")
    assert (code, out) == (1, f"{LOCK}: edited by hand; run: {FIX}\n")

    code, _out, err = lock(capsys, wheelhouse, "m")
    assert code == 0, err
    assert "1 locked" in err
    # The pin is kept, its hash is the one of the file it names.
    assert hashes(path) == {
        "alpha==1.0.0": ("sha256:" + sha256_file(wheelhouse / "alpha-1.0.0-py3-none-any.whl"),)
    }
    assert run_cli(capsys, "lock", "--check")[0] == 0
    assert "1 up to date" in lock(capsys, wheelhouse, "m")[2]
    code, out, err = run_cli(capsys, "create", "m", "--no-index", "--find-links", str(wheelhouse))
    assert code == 0, err
    assert "from the committed lock: 1 installed" in err


def test_uv_is_never_given_a_hash_to_keep(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    wheelhouse: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec(project, ["beta"])
    assert lock(capsys, wheelhouse)[0] == 0
    (project / LOCK).write_text((project / LOCK).read_text() + "\n")  # edited: relocks
    seen: list[str] = []
    real = uv.run

    def spy(args: Any, **kw: Any) -> uv.UvResult:
        out = kw["cwd"] / args[args.index("--output-file") + 1]
        seen.append(out.read_text())
        return real(args, **kw)

    monkeypatch.setattr(uv, "run", spy)
    assert lock(capsys, wheelhouse)[0] == 0
    assert seen == ["alpha==1.0.0\nbeta==2.0.0\n"]


def simple_index(root: Path, files: list[Path]) -> str:
    """A PEP 503 index on disk: pages with every file's sha256, as a mirror serves them."""
    for f in files:
        project = root / f.name.split("-")[0]
        project.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        with (project / "index.html").open("a") as page:
            page.write(f'<a href="{f.as_uri()}#sha256={digest}">{f.name}</a>\n')
    return root.as_uri()


@pytest.fixture()
def mirrors(tmp_path: Path) -> tuple[str, str]:
    """A partial mirror with one file of alpha 1.0.0, and the full index with three."""
    wheel = make_wheel(tmp_path / "files", "alpha", "1.0.0")
    other = make_wheel(tmp_path / "other", "alpha", "1.0.0", files={"alpha/extra.py": "x = 1\n"})
    tagged = other.rename(tmp_path / "files" / "alpha-1.0.0-py311-none-any.whl")
    sdist = tmp_path / "files" / "alpha-1.0.0.tar.gz"
    sdist.write_bytes(b"not built in this test")
    return (
        simple_index(tmp_path / "partial", [wheel]),
        simple_index(tmp_path / "full", [wheel, tagged, sdist]),
    )


def test_refresh_hashes_takes_every_hash_from_the_current_index_and_keeps_pins(
    capsys: pytest.CaptureFixture[str], project: Path, mirrors: tuple[str, str]
) -> None:
    partial, full = mirrors
    spec(project, ["alpha"])
    spec(project, ["alpha"], name="n")
    assert run_cli(capsys, "lock", "--index-url", partial)[0] == 0
    path = project / LOCK
    before = hashes(path)
    assert [len(h) for h in before.values()] == [1]
    # A plain lock against the full index keeps the lock: it is up to date.
    code, _out, err = run_cli(capsys, "lock", "--index-url", full)
    assert (code, err.splitlines()[-1]) == (0, "0 locked, 2 up to date, 0 failed")
    # Lock n again through the full index: -v tells the two settings apart.
    assert run_cli(capsys, "lock", "n", "--index-url", full, "--refresh-hashes")[0] == 0
    code, _out, err = run_cli(capsys, "-v", "lock", "--check")
    assert code == 0
    assert "locks were made through 2 different index settings:" in err
    assert "modelenv lock --refresh-hashes" in err
    assert full not in err and partial not in err  # fingerprints, never the settings

    old_index = header_field(path.read_text(), "index-fingerprint")
    code, _out, err = run_cli(capsys, "lock", "m", "--index-url", full, "--refresh-hashes")
    assert code == 0, err
    after = hashes(path)
    assert list(after) == list(before)  # the same pins
    assert len(after["alpha==1.0.0"]) == 3 and set(before["alpha==1.0.0"]) < set(
        after["alpha==1.0.0"]
    )
    assert header_field(path.read_text(), "index-fingerprint") != old_index
    code, _out, err = run_cli(capsys, "-v", "lock", "--check")
    assert code == 0
    assert "different index settings" not in err


def test_refresh_hashes_fails_rather_than_move_a_pin(
    capsys: pytest.CaptureFixture[str], project: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    make_wheel(wheelhouse, "alpha", "1.1.0")
    spec(project, ["alpha"])
    assert lock(capsys, wheelhouse)[0] == 0
    path = project / LOCK
    text = path.read_text()
    older = tmp_path / "older"
    make_wheel(older, "alpha", "1.0.0")  # the index lost alpha 1.1.0
    code, _out, err = lock(capsys, older, "--refresh-hashes")
    assert code == 1
    assert "refreshing hashes would change pins" in err
    assert [line.strip() for line in err.splitlines()][2:4] == ["- alpha==1.1.0", "+ alpha==1.0.0"]
    assert path.read_text() == text


def test_refresh_hashes_needs_locks_that_satisfy_their_spec(
    capsys: pytest.CaptureFixture[str], project: Path, wheelhouse: Path
) -> None:
    spec(project, ["alpha"])
    code, _out, err = lock(capsys, wheelhouse, "--refresh-hashes")
    assert code == 1
    assert f"{LOCK} is missing: --refresh-hashes keeps its pins" in err
    assert f"run: {FIX}" in err
    code, _out, err = lock(capsys, wheelhouse, "--refresh-hashes", "--upgrade")
    assert code == 2
    assert "not with --check or --upgrade" in err
