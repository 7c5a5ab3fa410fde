"""New environments copied from a template uv made (compiler/venvtemplate.py):
the same files as ``uv venv``, never a changed template, never through a link."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import compiler.uv
from compiler import venvtemplate
from compiler.venvtemplate import MANIFEST, make_venv

from .conftest import run_cli, write_spec
from .test_materialise import XY, idx

BASE = os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def uv_venvs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The ``uv venv`` runs from now on."""
    calls: list[tuple[str, ...]] = []
    real = compiler.uv.run

    def run(args: list[str], **kw: Any) -> compiler.uv.UvResult:
        if args[0] == "venv":
            calls.append(tuple(args))
        return real(args, **kw)

    monkeypatch.setattr(compiler.uv, "run", run)
    return calls


def listing(root: Path) -> dict[str, Any]:
    found = venvtemplate._listing(root, {})
    assert found is not None
    return found


def templates(home: Path) -> list[Path]:
    folder = home / "cache" / "venvs"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_a_copy_holds_what_uv_makes_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    calls = uv_venvs(monkeypatch)
    make_venv(tmp_path / ".a.build-staging", BASE, system_site=True, home=home)
    assert len(calls) == 1 and len(templates(home)) == 1
    copied = tmp_path / ".b.build-staging"
    make_venv(copied, BASE, system_site=True, home=home)
    assert len(calls) == 1  # no second uv
    by_uv = tmp_path / "by-uv"
    compiler.uv.run(compiler.uv.venv_command(str(by_uv), BASE, system_site_packages=True))
    assert listing(copied) == listing(by_uv)
    assert os.readlink(copied / "bin" / "python") == os.readlink(by_uv / "bin" / "python")
    proc = subprocess.run(
        [str(copied / "bin" / "python"), "-c", "import sys; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == str(copied)


def test_each_site_packages_choice_has_its_own_template(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_venv(tmp_path / ".a.build-staging", BASE, system_site=True, home=home)
    make_venv(tmp_path / ".b.build-staging", BASE, system_site=False, home=home)
    assert len(templates(home)) == 2
    make_venv(tmp_path / ".c.build-staging", BASE, system_site=False, home=home)
    cfg = (tmp_path / ".c.build-staging" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg


def test_a_changed_template_is_not_used_and_is_made_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    make_venv(tmp_path / ".a.build-staging", BASE, system_site=True, home=home)
    (template,) = templates(home)
    (template / "pyvenv.cfg").write_text("home = /nowhere\n")
    calls = uv_venvs(monkeypatch)
    dest = tmp_path / ".b.build-staging"
    make_venv(dest, BASE, system_site=True, home=home)
    assert len(calls) == 1  # uv made it
    assert "include-system-site-packages = true" in (dest / "pyvenv.cfg").read_text()
    # uv's result is the template now: the next copy needs no uv.
    make_venv(tmp_path / ".c.build-staging", BASE, system_site=True, home=home)
    assert len(calls) == 1
    assert "/nowhere" not in (tmp_path / ".c.build-staging" / "pyvenv.cfg").read_text()


@pytest.mark.parametrize("planted", ["link", "file", "fifo"])
def test_anything_planted_in_a_template_is_never_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted: str
) -> None:
    home = tmp_path / "home"
    make_venv(tmp_path / ".a.build-staging", BASE, system_site=True, home=home)
    (template,) = templates(home)
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    evil = template / "bin" / "evil"
    if planted == "link":
        evil.symlink_to(secret)
    elif planted == "file":
        evil.write_text("#!/bin/sh\n")
    else:
        os.mkfifo(evil)
    calls = uv_venvs(monkeypatch)
    dest = tmp_path / ".b.build-staging"
    make_venv(dest, BASE, system_site=True, home=home)
    assert len(calls) == 1
    assert not os.path.lexists(dest / "bin" / "evil")


def test_a_cache_folder_linked_out_of_the_home_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    outside = tmp_path / "outside"
    outside.mkdir()
    (home / "cache").mkdir(parents=True)
    (home / "cache" / "venvs").symlink_to(outside)
    calls = uv_venvs(monkeypatch)
    for name in (".a.build-staging", ".b.build-staging"):
        make_venv(tmp_path / name, BASE, system_site=True, home=home)
    assert len(calls) == 2 and list(outside.iterdir()) == []


def test_a_template_folder_linked_out_of_the_home_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template whose own folder is a link (to a look-alike out of the home,
    manifest and all) is not copied: uv makes the environment, the link is
    replaced by a template of its own, and what it pointed to is untouched."""
    home = tmp_path / "home"
    make_venv(tmp_path / ".a.build-staging", BASE, system_site=True, home=home)
    (template,) = templates(home)
    outside = tmp_path / "outside"
    os.rename(template, outside)
    template.symlink_to(outside)
    calls = uv_venvs(monkeypatch)
    make_venv(tmp_path / ".b.build-staging", BASE, system_site=True, home=home)
    assert len(calls) == 1
    assert not template.is_symlink() and (template / MANIFEST).is_file()
    assert (outside / MANIFEST).is_file() and listing(outside) == listing(template)


def test_a_copy_writes_every_byte_of_each_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.write may write less than it is given (a signal, a filesystem near
    full): a copy writes the rest, never a truncated file."""
    home = tmp_path / "home"
    made = tmp_path / ".a.build-staging"
    make_venv(made, BASE, system_site=True, home=home)
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data[:7])))
    copied = tmp_path / ".b.build-staging"
    make_venv(copied, BASE, system_site=True, home=home)
    monkeypatch.setattr(os, "write", real)
    assert listing(copied) == listing(made)


def test_a_fifo_planted_as_the_manifest_never_blocks_a_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a FIFO waits for a writer that never comes: the template is
    not used, and the build goes on (uv makes the environment)."""
    home = tmp_path / "home"
    make_venv(tmp_path / ".a.build-staging", BASE, system_site=True, home=home)
    (template,) = templates(home)
    (template / MANIFEST).unlink()
    os.mkfifo(template / MANIFEST)
    calls = uv_venvs(monkeypatch)
    dest = tmp_path / ".b.build-staging"
    done = threading.Thread(
        target=make_venv, args=(dest, BASE), kwargs={"system_site": True, "home": home}
    )
    done.daemon = True
    done.start()
    done.join(timeout=120)  # a bound on a hang, not a measure of speed
    if done.is_alive():  # let the blocked reader go before failing
        os.close(os.open(template / MANIFEST, os.O_WRONLY | os.O_NONBLOCK))
        done.join()
        raise AssertionError("reading the template's manifest blocked the build")
    assert len(calls) == 1 and (dest / "pyvenv.cfg").is_file()


def test_no_template_is_kept_when_the_environment_names_its_own_folder(tmp_path: Path) -> None:
    made = tmp_path / ".x.build-staging"
    made.mkdir()
    (made / "pyvenv.cfg").write_text(f"prompt = {made.name}\n")
    template = tmp_path / "home" / "cache" / "venvs" / "t"
    venvtemplate._keep(made, template)
    assert not template.exists()
    (made / "pyvenv.cfg").write_text("home = /usr/bin\n")
    venvtemplate._keep(made, template)
    assert (template / MANIFEST).is_file() and (template / "pyvenv.cfg").is_file()


def test_templates_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELENV_NO_VENV_TEMPLATE", "1")
    home = tmp_path / "home"
    calls = uv_venvs(monkeypatch)
    for name in (".a.build-staging", ".b.build-staging"):
        make_venv(tmp_path / name, BASE, system_site=True, home=home)
    assert len(calls) == 2 and templates(home) == []


def test_a_second_build_starts_no_uv_venv(
    project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_spec(project, "m", f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n')
    assert run_cli(capfd, "lock", *idx(wheelhouse))[0] == 0
    calls = uv_venvs(monkeypatch)
    assert run_cli(capfd, "create", "m", *idx(wheelhouse))[0] == 0
    code, out, err = run_cli(capfd, "create", "m", "--force", *idx(wheelhouse))
    assert code == 0, err
    assert len(calls) == 1
    env = Path(out.splitlines()[-1])
    proc = subprocess.run(
        [str(env / "bin" / "python"), "-c", "import beta, alpha; print(beta.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_uvs_own_settings_for_new_environments_get_their_own_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """UV_VENV_SEED puts pip in what uv makes: a template made without it
    never stands in for one made with it, nor the other way round."""
    home = tmp_path / "home"
    make_venv(tmp_path / ".a.build-staging", BASE, system_site=True, home=home)
    monkeypatch.setenv("UV_VENV_SEED", "1")
    calls = uv_venvs(monkeypatch)
    make_venv(tmp_path / ".b.build-staging", BASE, system_site=True, home=home)
    assert len(calls) == 1 and len(templates(home)) == 2
