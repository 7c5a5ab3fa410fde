"""The base interpreter's probe is kept across runs while its files are
unchanged (issue #14: a cold create paid a tenth of a second probing a host
whose answer it already had), and is asked anew as soon as they change."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from compiler import host, probecache

from .basevenv import base_venv
from .wheels import make_wheel

PAST_NS = time.time_ns() - 3600 * 10**9


@pytest.fixture()
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    probecache.use_home(home)
    host.inspect_interpreter.cache_clear()
    # The base venvs below were just made: outside tests, the racy rule keeps
    # a probe of files changed in the last two seconds out of the cache. Their
    # mtimes are set in the past instead, and the rule is off.
    monkeypatch.setattr(probecache, "_RACY_NS", 0)
    return home


@pytest.fixture()
def probes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The interpreters really started to be probed."""
    started: list[str] = []
    real = host.probe

    def counting(executable: str, what: str = "interpreter") -> dict[str, Any]:
        started.append(executable)
        return real(executable, what)

    monkeypatch.setattr(host, "probe", counting)
    return started


def backdate(venv: Path) -> None:
    """Set every folder of the venv (and each file in its site-packages' dist-infos) in the past."""
    for folder, _dirs, files in os.walk(venv):
        for name in files:
            os.utime(Path(folder) / name, ns=(PAST_NS, PAST_NS), follow_symlinks=False)
        os.utime(folder, ns=(PAST_NS, PAST_NS))


def ask(python: str) -> host.Interpreter:
    """What a new run would see (the in-process cache cleared, as ensure() does)."""
    host.inspect_interpreter.cache_clear()
    return host.inspect_interpreter(python)


@pytest.fixture()
def base(tmp_path: Path, uv_cache: Path) -> tuple[Path, Path]:
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "alpha", "1.0.0")
    make_wheel(wheels, "alpha", "1.1.0")
    make_wheel(wheels, "gamma", "0.5.0")
    venv = tmp_path / "base"
    base_venv(venv, wheels, ["alpha==1.0.0"], uv_cache)
    backdate(venv)
    return venv, wheels


def test_a_second_run_reuses_the_probe(
    cache_home: Path, base: tuple[Path, Path], probes: list[str]
) -> None:
    python = str(base[0] / "bin" / "python")
    first = ask(python)
    second = ask(python)
    assert probes == [python]
    assert second == first
    assert first.packages["alpha"] == "1.0.0"
    entries = list(cache_home.joinpath(*probecache.FOLDER).iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".json"


def test_an_install_into_the_base_is_seen_at_once(
    cache_home: Path, base: tuple[Path, Path], probes: list[str], uv_cache: Path
) -> None:
    from .basevenv import uv

    venv, wheels = base
    python = str(venv / "bin" / "python")
    assert "gamma" not in ask(python).packages
    uv("pip", "install", "--python", python, "--no-index", "--find-links", str(wheels),
       "gamma==0.5.0", "alpha==1.1.0", "--quiet", uv_cache=uv_cache)  # fmt: skip
    seen = ask(python)
    assert (seen.packages["gamma"], seen.packages["alpha"]) == ("0.5.0", "1.1.0")
    assert len(probes) == 2
    uv("pip", "uninstall", "--python", python, "gamma", "--quiet", uv_cache=uv_cache)
    assert "gamma" not in ask(python).packages
    assert len(probes) == 3


def test_a_metadata_rewritten_in_place_is_seen(
    cache_home: Path, base: tuple[Path, Path], probes: list[str]
) -> None:
    venv, _wheels = base
    python = str(venv / "bin" / "python")
    assert ask(python).packages["alpha"] == "1.0.0"
    (meta,) = venv.glob("lib/python*/site-packages/alpha-1.0.0.dist-info/METADATA")
    meta.write_text(meta.read_text().replace("Version: 1.0.0", "Version: 1.0.1"))
    assert ask(python).packages["alpha"] == "1.0.1"
    assert len(probes) == 2


def test_files_changed_just_now_are_not_cached(
    cache_home: Path, base: tuple[Path, Path], probes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The base was just made: its ctimes (which no one can set back) are now.
    monkeypatch.setattr(probecache, "_RACY_NS", 2 * 10**9)
    python = str(base[0] / "bin" / "python")
    ask(python)
    ask(python)
    assert len(probes) == 2
    assert not cache_home.joinpath(*probecache.FOLDER).exists()


def test_a_corrupt_or_foreign_entry_means_a_new_probe(
    cache_home: Path, base: tuple[Path, Path], probes: list[str]
) -> None:
    python = str(base[0] / "bin" / "python")
    ask(python)
    (entry,) = cache_home.joinpath(*probecache.FOLDER).iterdir()
    entry.write_text("{not json")
    assert ask(python).packages["alpha"] == "1.0.0"
    data = json.loads(entry.read_text())  # written anew
    data["watched"] = "nonsense"
    entry.write_text(json.dumps(data))
    assert ask(python).packages["alpha"] == "1.0.0"
    assert len(probes) == 3
    for edit in ({"version": 3}, {"packages": {"alpha": "1.0.0"}}, {"markers": None}):
        data = json.loads(entry.read_text())  # valid, watched files unchanged
        data["data"].update(edit)
        entry.write_text(json.dumps(data))
        assert ask(python).packages["alpha"] == "1.0.0"  # asked anew, no traceback
    assert len(probes) == 6


def test_a_link_out_of_the_home_is_never_followed(
    cache_home: Path, base: tuple[Path, Path], probes: list[str], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (cache_home / "cache").symlink_to(outside)
    python = str(base[0] / "bin" / "python")
    ask(python)
    ask(python)
    assert len(probes) == 2
    assert list(outside.iterdir()) == []


def test_a_planted_entry_link_is_not_read(
    cache_home: Path, base: tuple[Path, Path], probes: list[str], tmp_path: Path
) -> None:
    python = str(base[0] / "bin" / "python")
    ask(python)
    (entry,) = cache_home.joinpath(*probecache.FOLDER).iterdir()
    decoy = tmp_path / "decoy.json"
    decoy.write_text(entry.read_text().replace('"1.0.0"', '"9.9.9"'))
    entry.unlink()
    entry.symlink_to(decoy)
    assert ask(python).packages["alpha"] == "1.0.0"
    assert len(probes) == 2
    assert not entry.is_symlink()  # replaced by a real entry, the decoy untouched
    assert "9.9.9" in decoy.read_text()


def test_the_cache_can_be_turned_off(
    cache_home: Path, base: tuple[Path, Path], probes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELENV_NO_PROBE_CACHE", "1")
    python = str(base[0] / "bin" / "python")
    ask(python)
    ask(python)
    assert len(probes) == 2
    assert not cache_home.joinpath(*probecache.FOLDER).exists()


def test_an_unwritable_cache_is_not_an_error(
    cache_home: Path, base: tuple[Path, Path], probes: list[str]
) -> None:
    (cache_home / "cache").write_text("a file where the folder would be")
    python = str(base[0] / "bin" / "python")
    assert ask(python).packages["alpha"] == "1.0.0"
    assert ask(python).packages["alpha"] == "1.0.0"
    assert len(probes) == 2


def test_a_wrapper_that_now_starts_another_interpreter_is_probed_again(
    cache_home: Path, base: tuple[Path, Path], probes: list[str], tmp_path: Path, uv_cache: Path
) -> None:
    """A pyenv shim, a conda or module wrapper: the file at the path stays the
    same while the interpreter it starts changes (``pyenv local``)."""
    venv, wheels = base
    other = tmp_path / "other"
    base_venv(other, wheels, ["alpha==1.1.0"], uv_cache)
    backdate(other)
    choice = tmp_path / "choice"
    choice.write_text(str(venv / "bin" / "python"))
    shim = tmp_path / "python-shim"
    shim.write_text(f'#!/bin/sh\nexec "$(cat {choice})" "$@"\n')
    shim.chmod(0o755)
    assert ask(str(shim)).packages["alpha"] == "1.0.0"
    choice.write_text(str(other / "bin" / "python"))
    assert ask(str(shim)).packages["alpha"] == "1.1.0"
    assert len(probes) == 2


def test_another_kernel_or_c_library_means_a_new_probe(
    cache_home: Path, base: tuple[Path, Path], probes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same interpreter files on another kernel (an upgrade, another machine
    sharing the home): the probe's kernel markers and libc are not its files'."""
    python = str(base[0] / "bin" / "python")
    ask(python)
    ask(python)
    assert len(probes) == 1
    real = os.uname()
    moved = os.uname_result((real.sysname, real.nodename, real.release + "+new", *real[3:]))
    monkeypatch.setattr(os, "uname", lambda: moved)
    ask(python)
    assert len(probes) == 2
    monkeypatch.setattr(os, "confstr", lambda name: "glibc 1.0")
    ask(python)
    assert len(probes) == 3


def test_a_venv_config_rewritten_in_place_is_seen(
    cache_home: Path, base: tuple[Path, Path], probes: list[str]
) -> None:
    """``uv venv --allow-existing --system-site-packages`` over a base venv
    rewrites pyvenv.cfg and keeps its site-packages: sys.path changed."""
    venv, _wheels = base
    python = str(venv / "bin" / "python")
    ask(python)
    cfg = venv / "pyvenv.cfg"
    text = cfg.read_text()
    assert "include-system-site-packages = false" in text
    cfg.write_text(text.replace("site-packages = false", "site-packages = true"))
    ask(python)
    assert len(probes) == 2
