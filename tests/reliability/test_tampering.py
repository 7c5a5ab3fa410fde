"""Tampering: a committed lock edited by hand, with its body digest fixed up so
that it still looks valid, is refused at install with a message naming the
package; nothing half-built is left and an older environment survives. A
record edited by hand makes the environment rebuild (or, where only the view
of the host changed, be revalidated), never a crash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from compiler.lockfile import body_of, sha256_text
from compiler.store import RECORD_NAME, read_record

from ..conftest import run_cli, write_spec
from ..wheels import make_wheel
from .support import (
    XY,
    assert_clean,
    assert_environment_works,
    assert_no_broken_final_environment,
    created_path,
    env_dir,
    idx,
    leftovers,
    lock_file,
)

SPEC = f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n'
ORIGINAL = {"alpha": "1.0.0", "beta": "2.0.0"}


@pytest.fixture()
def locked(project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    write_spec(project, "m", SPEC)
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    return lock_file(project)


def hash_of(body: str, name: str) -> str:
    match = re.search(rf"^{name}==\S+ \\\n\s+--hash=sha256:([0-9a-f]{{64}})", body, re.MULTILINE)
    assert match is not None, (name, body)
    return match.group(1)


def rewrite_body(path: Path, edit: Callable[[str], str]) -> None:
    """Edit the lock's body and fix up ``# modelenv-body-sha256:``, as a careful
    attacker (or a confused merge) would: ``lock --check`` still passes."""
    text = path.read_text()
    body = body_of(text)
    new_body = edit(body)
    assert new_body != body
    header = text[: len(text) - len(body)]
    header = re.sub(
        r"# modelenv-body-sha256: \S+", f"# modelenv-body-sha256: {sha256_text(new_body)}", header
    )
    path.write_text(header + new_body)


def _other_version(body: str) -> str:
    return body.replace("beta==2.0.0", "beta==2.0.1")


def _other_hash(body: str) -> str:
    # A real digest, of another wheel: well-formed, wrong.
    return body.replace(hash_of(body, "beta"), hash_of(body, "alpha"))


def _swapped_hashes(body: str) -> str:
    a, b = hash_of(body, "alpha"), hash_of(body, "beta")
    return body.replace(a, "@").replace(b, a).replace("@", b)


def _smuggled_package(body: str) -> str:
    return body + f"gamma==0.5.0 \\\n    --hash=sha256:{hash_of(body, 'alpha')}\n"


TAMPERING = {
    # (edit, the package the error must name (uv stops at the first of several it
    # downloads in parallel), a matching wheel on the index?)
    "version-on-the-index": (_other_version, "beta", True),
    "version-not-on-the-index": (_other_version, "beta", False),
    "hash": (_other_hash, "beta", False),
    "swapped-hashes": (_swapped_hashes, "alpha|beta", False),
    "smuggled-package": (_smuggled_package, "gamma", False),
}


@pytest.mark.parametrize("with_old_env", [False, True], ids=["fresh", "over-an-old-env"])
@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_a_tampered_lock_is_refused_at_install_naming_the_package(
    locked: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    kind: str,
    with_old_env: bool,
) -> None:
    edit, package, on_index = TAMPERING[kind]
    old = None
    if with_old_env:
        code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
        assert code == 0, err
        old = read_record(env_dir())
    if on_index:
        make_wheel(wheelhouse, "beta", "2.0.1", requires=["alpha>=1.0"])
    rewrite_body(locked, edit)
    # Still a valid lock by its own header: the offline gate cannot tell.
    code, _out, err = run_cli(capfd, "lock", "--check")
    assert code == 0, err

    for command in (["create", "m"], ["run", "m", "--", "python", "-c", "print('ran')"]):
        code, out, err = run_cli(capfd, *command[:2], *idx(wheelhouse), *command[2:])
        assert_clean(code, err, allowed=(1,))
        assert "modelenv: error:" in err
        assert f"installing m [default, py{XY}] failed" in err, err
        assert re.search(rf"\b({package})\b", err), err
        assert "ran" not in out
        assert leftovers() == []
        if old is None:
            assert not env_dir().exists()
        else:
            # The environment built from the untampered lock is still there, intact.
            assert read_record(env_dir()) == old
            assert_environment_works(env_dir(), ORIGINAL)
    assert_no_broken_final_environment(capfd)
    if kind.startswith("version") or kind == "hash":
        assert "hash" in err.lower() or "not found" in err.lower() or "no version" in err.lower()


def test_a_lock_edited_without_fixing_its_digest_is_not_used(
    locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The careless edit: the header no longer matches the body, so the lock is
    'edited by hand'; create resolves its own lock rather than trust it."""
    text = locked.read_text()
    locked.write_text(text.replace("beta==2.0.0", "beta==2.0.1"))
    code, out, _err = run_cli(capfd, "lock", "--check")
    assert code == 1 and "edited by hand" in out
    code, out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert_clean(code, err, allowed=(0,))
    assert "edited by hand" in err
    assert_environment_works(created_path(out), ORIGINAL)
    record = read_record(env_dir())
    assert record is not None and record["lock_source"] == "local"


# ---------------------------------------------------------------- records


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    def edit(record: dict[str, Any]) -> Any:
        target = record
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
        return record

    return edit


RECORD_EDITS: dict[str, tuple[Callable[[dict[str, Any]], Any] | str, tuple[str, ...]]] = {
    # name: (edit, or raw text for the file; what create may do about it)
    "key": (_set("key", "0" * 64), ("rebuilt",)),
    "format": (_set("format", 99), ("rebuilt",)),
    "truncated": ('{"format": 1, "key": "', ("rebuilt",)),
    "not-an-object": ("[1, 2, 3]", ("rebuilt",)),
    "empty": ("", ("rebuilt",)),
    "base-stat": (_set("base.stat", [1, 2, 3]), ("rebuilt", "revalidated")),
    "host-site-stat": (
        lambda r: {**r, "host_site": [[p, [0, 0, 0]] for p, _s in r["host_site"]]},
        ("rebuilt", "revalidated"),
    ),
    "base-executable": (_set("base.executable", "/nonexistent/python"), ("rebuilt",)),
}

# Fields of the wrong JSON type: code that reads records must never trust them.
RECORD_TYPE_EDITS = {
    "base-null": _set("base", None),
    "base-string": _set("base", "x"),
    "base-executable-number": _set("base.executable", 5),
    "host-site-number": _set("host_site", 5),
    "host-site-short": _set("host_site", [["x"]]),
    "installed-number": _set("installed", 3),
    "reused-null": _set("reused", None),
}


def edit_record(env: Path, edit: Callable[[dict[str, Any]], Any] | str) -> None:
    path = env / RECORD_NAME
    if isinstance(edit, str):
        path.write_text(edit)
        return
    record = json.loads(path.read_text())
    path.write_text(json.dumps(edit(record)))


def check_recovery(
    capfd: pytest.CaptureFixture[str], wheelhouse: Path, actions: tuple[str, ...]
) -> None:
    # Every command that reads records copes with the edited one...
    for argv in (["list", "--json"], ["list"], ["doctor"], ["gc", "--dry-run"]):
        code, _out, err = run_cli(capfd, *argv)
        assert_clean(code, err, allowed=(0, 1))
    # ...and create puts a valid one back.
    code, out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert_clean(code, err, allowed=(0,))
    assert any(f"{action} m [default" in err for action in actions), err
    env = created_path(out)
    assert read_record(env) is not None
    assert_environment_works(env, ORIGINAL)
    code, out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert "up to date" in err, err
    code, out, err = run_cli(capfd, "doctor")
    assert code == 0, out + err
    code, out, err = run_cli(capfd, "run", *idx(wheelhouse), "m", "--", "python", "-c", "1")
    assert code == 0, err


@pytest.mark.parametrize("name", sorted(RECORD_EDITS))
def test_a_record_edited_by_hand_makes_the_environment_rebuild(
    locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str], name: str
) -> None:
    edit, actions = RECORD_EDITS[name]
    code, out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    edit_record(created_path(out), edit)
    check_recovery(capfd, wheelhouse, actions)


@pytest.mark.parametrize("name", sorted(RECORD_TYPE_EDITS))
def test_a_record_with_wrongly_typed_fields_is_treated_as_invalid(
    locked: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str], name: str
) -> None:
    edit = RECORD_TYPE_EDITS[name]
    code, out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    edit_record(created_path(out), edit)
    check_recovery(capfd, wheelhouse, ("rebuilt",))
