"""Host facts: #system_NAME# expanded against a real base interpreter (a uv venv)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler import host
from compiler.errors import ModelenvError, UsageError
from compiler.probescript import HEADERS
from compiler.uv import uv_binary

from .conftest import run_cli, write_spec
from .wheels import make_wheel

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
OTHER_PY = "3.10" if PY != "3.10" else "3.12"
SPEC_BODY = f"""\
[env]
python = ["{OTHER_PY}", "{PY}"]
packages = ["#system_alpha#", "gamma"]
"""


def _uv(*args: str, uv_cache: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    env.update(
        UV_CACHE_DIR=str(uv_cache),
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
    )
    subprocess.run([uv_binary(), *args], check=True, env=env, capture_output=True, text=True)


def _venv(folder: Path, uv_cache: Path) -> str:
    _uv("venv", str(folder), "--python", sys.executable, "--quiet", uv_cache=uv_cache)
    return str(folder / "bin" / "python")


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory, uv_cache: Path) -> dict[str, str]:
    """Two real base interpreters: one with alpha 1.2.3+cu130 installed, one bare."""
    root = tmp_path_factory.mktemp("host")
    wheels = root / "wheels"
    make_wheel(wheels, "alpha", "1.2.3+cu130")
    with_alpha = _venv(root / "with-alpha", uv_cache)
    _uv(
        "pip",
        "install",
        "--python",
        with_alpha,
        "--no-index",
        "--find-links",
        str(wheels),
        "alpha",
        "--quiet",
        uv_cache=uv_cache,
    )
    bare = _venv(root / "bare", uv_cache)
    return {"alpha": with_alpha, "bare": bare}


@pytest.fixture()
def model(project: Path) -> Path:
    write_spec(project, "m", SPEC_BODY)
    return project


@pytest.fixture()
def fresh_cache() -> Iterator[None]:
    host.inspect_interpreter.cache_clear()
    yield
    host.inspect_interpreter.cache_clear()


def show_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, Any], str]:
    code, out, err = run_cli(capsys, "show", *args, "--json")
    assert code == 0, err
    return json.loads(out), err


def test_system_entry_pinned_to_host_version(
    capsys: pytest.CaptureFixture[str], model: Path, venvs: dict[str, str]
) -> None:
    doc, err = show_json(capsys, "m", "--base-python", venvs["alpha"])
    assert err == ""
    assert doc["base_interpreter"] == {"path": venvs["alpha"], "version": platform.python_version()}
    assert doc["requirements"][0] == {
        "requirement": "alpha==1.2.3",
        "written": "#system_alpha#",
        "key": "alpha",
        "source": "specs/m.toml",
        "layer": "env",
        "replaces": [],
        "host_version": "1.2.3",
    }
    assert "host_version" not in doc["requirements"][1]
    assert doc["warnings"] == []

    code, out, _ = run_cli(capsys, "show", "m", "--base-python", venvs["alpha"])
    assert code == 0
    lines = out.splitlines()
    assert f"base:    {venvs['alpha']} (Python {platform.python_version()})" in lines
    assert "  alpha==1.2.3   (specs/m.toml [env], #system_alpha#: host has 1.2.3)" in lines
    assert "  gamma          (specs/m.toml [env])" in lines


def test_base_python_from_environment(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    venvs: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELENV_BASE_PYTHON", venvs["alpha"])
    doc, _ = show_json(capsys, "m")
    assert doc["base_interpreter"]["path"] == venvs["alpha"]
    assert doc["requirements"][0]["requirement"] == "alpha==1.2.3"
    # the option wins over the variable
    doc, _ = show_json(capsys, "m", "--base-python", venvs["bare"])
    assert doc["requirements"][0]["requirement"] == "alpha"


def test_placeholder_with_marker_and_other_spelling(
    capsys: pytest.CaptureFixture[str], project: Path, venvs: dict[str, str]
) -> None:
    write_spec(project, "m", "[env]\npackages = [\"#system_Alpha# ; python_version >= '3'\"]\n")
    doc, _ = show_json(capsys, "m", "--base-python", venvs["alpha"])
    item = doc["requirements"][0]
    assert item["key"] == "alpha"
    assert item["requirement"] == 'Alpha==1.2.3 ; python_version >= "3"'
    assert item["host_version"] == "1.2.3"


def test_override_of_a_system_entry_is_not_looked_up(
    capsys: pytest.CaptureFixture[str], model: Path, venvs: dict[str, str]
) -> None:
    doc, err = show_json(capsys, "m", "--base-python", venvs["bare"], "-p", "alpha==1.0")
    assert err == ""
    item = doc["requirements"][0]
    assert item["requirement"] == "alpha==1.0"
    assert "host_version" not in item
    assert item["replaces"] == [
        {"written": "#system_alpha#", "source": "specs/m.toml", "layer": "env"}
    ]


def test_host_without_the_package_leaves_it_unpinned(
    capsys: pytest.CaptureFixture[str], model: Path, venvs: dict[str, str]
) -> None:
    warning = (
        f"#system_alpha#: the base interpreter {venvs['bare']} has no alpha; it is left unpinned"
    )
    doc, err = show_json(capsys, "m", "--base-python", venvs["bare"])
    assert err == f"modelenv: warning: {warning}\n"
    assert doc["requirements"][0]["requirement"] == "alpha"
    assert doc["requirements"][0]["host_version"] is None
    assert doc["warnings"] == [warning]

    code, out, err = run_cli(capsys, "show", "m", "--base-python", venvs["bare"])
    assert code == 0
    assert "  alpha   (specs/m.toml [env], #system_alpha#: not on the host)" in out.splitlines()
    assert err == f"modelenv: warning: {warning}\n"


def test_strict_system_fails_when_the_host_lacks_the_package(
    capsys: pytest.CaptureFixture[str], model: Path, venvs: dict[str, str]
) -> None:
    code, out, err = run_cli(capsys, "show", "m", "--base-python", venvs["bare"], "--strict-system")
    assert code == 1
    assert out == ""
    assert err == (
        f"modelenv: error: #system_alpha#: the base interpreter {venvs['bare']} has no alpha\n"
        "  hint: install alpha into the base interpreter, or drop --strict-system\n"
    )
    code, out, err = run_cli(
        capsys, "show", "m", "--base-python", venvs["alpha"], "--strict-system"
    )
    assert code == 0
    assert err == ""


def test_base_interpreter_of_the_wrong_version(
    capsys: pytest.CaptureFixture[str], model: Path, venvs: dict[str, str]
) -> None:
    code, out, err = run_cli(
        capsys, "show", "m", "--python", OTHER_PY, "--base-python", venvs["alpha"]
    )
    assert code == 2
    assert out == ""
    assert err == (
        f"modelenv: error: the base interpreter {venvs['alpha']} is Python"
        f" {platform.python_version()}, not {OTHER_PY}\n"
        f"  hint: pass --python {PY}, or a Python {OTHER_PY} interpreter as --base-python\n"
    )


def test_base_interpreter_that_does_not_exist(
    capsys: pytest.CaptureFixture[str], model: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "python"
    code, _, err = run_cli(capsys, "show", "m", "--base-python", str(missing))
    assert code == 2
    assert err == (
        f"modelenv: error: base interpreter {missing} (--base-python) does not exist\n"
        f"  hint: point --base-python at a Python {PY} interpreter, or leave it unset\n"
    )


def test_strict_system_fails_when_no_interpreter_is_found(
    capsys: pytest.CaptureFixture[str], model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # regression: this used to warn and exit 0
    monkeypatch.setattr(host, "_candidates", lambda xy: [])
    code, out, err = run_cli(capsys, "show", "m", "--python", OTHER_PY, "--strict-system")
    assert code == 1, err
    assert out == ""
    assert err == (
        f"modelenv: error: no Python {OTHER_PY} interpreter found (looked with 'uv python find',"
        f" in the pyenv versions folder and for python{OTHER_PY} on PATH)\n"
        f"  hint: install Python {OTHER_PY} (for example 'uv python install {OTHER_PY}')"
        " or pass --base-python\n"
    )


def test_no_interpreter_found_leaves_system_entries_unpinned(
    capsys: pytest.CaptureFixture[str], model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host, "_candidates", lambda xy: [])
    doc, err = show_json(capsys, "m", "--python", OTHER_PY)
    assert doc["base_interpreter"] is None
    assert doc["requirements"][0]["requirement"] == "alpha"
    assert doc["warnings"] == [
        f"no Python {OTHER_PY} interpreter found (looked with 'uv python find', in the pyenv"
        f" versions folder and for python{OTHER_PY} on PATH); #system_NAME# entries are left"
        " unpinned"
    ]
    assert err == f"modelenv: warning: {doc['warnings'][0]}\n"


def test_lock_records_host_versions(
    capsys: pytest.CaptureFixture[str], model: Path, venvs: dict[str, str], tmp_path: Path
) -> None:
    wheels = tmp_path / "wh"
    make_wheel(wheels, "alpha", "1.2.3")
    make_wheel(wheels, "alpha", "1.3.0")
    make_wheel(wheels, "gamma", "0.5.0")
    code, _, err = run_cli(
        capsys,
        "lock",
        "m",
        "--python",
        PY,
        "--base-python",
        venvs["alpha"],
        "--no-index",
        "--find-links",
        str(wheels),
    )
    assert code == 0, err
    text = (model / "locks" / "m" / "default" / f"py{PY}.txt").read_text()
    assert "#   #system_alpha# -> alpha==1.2.3   (specs/m.toml [env])\n" in text
    assert (
        f"# host versions used for #system_NAME# entries (Python {platform.python_version()}):\n"
        "#   alpha: 1.2.3\n" in text
    )
    assert '# modelenv-system: {"alpha": "1.2.3"}\n' in text
    assert "\nalpha==1.2.3 \\\n" in text


def test_interpreter_facts(venvs: dict[str, str]) -> None:
    interp = host.inspect_interpreter(venvs["alpha"])
    assert interp.executable == venvs["alpha"]
    assert interp.version == platform.python_version()
    assert interp.xy == PY
    assert interp.is_venv
    assert interp.prefix == str(Path(venvs["alpha"]).parent.parent)
    assert interp.packages["alpha"] == "1.2.3+cu130"
    assert interp.version_of("alpha") == "1.2.3"
    assert interp.version_of("gamma") is None
    assert any(p.endswith("site-packages") for p in interp.site_packages)
    assert host.inspect_interpreter(venvs["bare"]).packages == {}


def test_inspect_interpreter_is_cached(
    venvs: dict[str, str], monkeypatch: pytest.MonkeyPatch, fresh_cache: None
) -> None:
    calls: list[list[str]] = []
    real = subprocess.run

    def counting(argv: list[str], *args: Any, **kw: Any) -> Any:
        calls.append(list(argv))
        return real(argv, *args, **kw)

    monkeypatch.setattr(host.subprocess, "run", counting)
    first = host.inspect_interpreter(venvs["alpha"])
    second = host.inspect_interpreter(venvs["alpha"])
    assert second is first
    assert len(calls) == 1
    assert calls[0][:3] == [venvs["alpha"], "-I", "-c"]
    # find_interpreter reuses the cached facts
    assert host.find_interpreter(PY, venvs["alpha"]) is first
    assert len(calls) == 1


def test_inspect_interpreter_that_fails(tmp_path: Path, fresh_cache: None) -> None:
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\necho first >&2\necho 'it broke' >&2\nexit 3\n")
    script.chmod(0o755)
    with pytest.raises(ModelenvError) as info:
        host.inspect_interpreter(str(script))
    assert str(info.value) == f"the base interpreter {script} failed to start: it broke"

    with pytest.raises(ModelenvError) as info:
        host.inspect_interpreter(str(tmp_path / "missing"))
    assert str(info.value) == (
        f"cannot run the base interpreter {tmp_path / 'missing'}: No such file or directory"
    )


def test_find_interpreter_uses_the_running_one() -> None:
    interp = host.find_interpreter(PY)
    assert interp.version == platform.python_version()


def test_find_interpreter_skips_broken_and_mismatched_candidates(
    venvs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache: None
) -> None:
    broken = tmp_path / "python-broken"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(host, "_candidates", lambda xy: [str(broken), venvs["alpha"]])
    with pytest.raises(ModelenvError) as info:
        host.find_interpreter(OTHER_PY)
    assert not isinstance(info.value, UsageError)
    assert info.value.hint == (
        f"install Python {OTHER_PY} (for example 'uv python install {OTHER_PY}')"
        " or pass --base-python"
    )
    # pretend the running Python is another version: the venv candidate then matches
    monkeypatch.setattr(host, "running_xy", lambda: OTHER_PY)
    assert host.find_interpreter(PY).executable == venvs["alpha"]


def _fake_python(root: Path, version: str, xy: str | None = None) -> Path:
    xy = xy or ".".join(version.split(".")[:2])
    exe = root / "versions" / version / "bin" / f"python{xy}"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    return exe


def test_pyenv_pythons_newest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "pyenv"
    v5 = _fake_python(root, "3.12.5")
    v10 = _fake_python(root, "3.12.10")
    v9 = _fake_python(root, "3.12.9")
    (root / "versions" / "3.12.11" / "bin").mkdir(parents=True)  # no interpreter in it
    _fake_python(root, "3.12.3t", "3.12")  # free-threaded build: not X.Y.Z
    _fake_python(root, "3.12-dev", "3.12")
    _fake_python(root, "3.1.2")
    _fake_python(root, "3.11.7")
    (root / "versions" / "mambaforge").mkdir()
    monkeypatch.setenv("PYENV_ROOT", str(root))
    assert host._pyenv_pythons("3.12") == [str(v10), str(v9), str(v5)]
    assert host._pyenv_pythons("3.1") == [str(root / "versions" / "3.1.2" / "bin" / "python3.1")]
    assert host._pyenv_pythons("3.13") == []


def test_pyenv_root_defaults_to_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYENV_ROOT", raising=False)
    exe = _fake_python(Path.home() / ".pyenv", "3.12.1")
    assert host._pyenv_pythons("3.12") == [str(exe)]
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "nowhere"))
    assert host._pyenv_pythons("3.12") == []


def test_first_distribution_on_sys_path_wins_across_spellings(
    tmp_path: Path, uv_cache: Path, fresh_cache: None
) -> None:
    python = _venv(tmp_path / "venv", uv_cache)
    (site,) = (tmp_path / "venv" / "lib").glob("python*/site-packages")
    first = site / "Foo_Bar-1.0.dist-info"
    later = tmp_path / "later" / "foo_bar-2.0.dist-info"
    for folder, name, version in ((first, "Foo_Bar", "1.0"), (later, "foo-bar", "2.0")):
        folder.mkdir(parents=True)
        (folder / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
    (site / "later.pth").write_text(f"{later.parent}\n")
    seen = subprocess.run(
        [python, "-I", "-c", "from importlib import metadata; print(metadata.version('foo-bar'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert seen == "1.0"
    assert host.inspect_interpreter(python).version_of("foo-bar") == seen


class _Dist:
    """What the probe's header reader asks of a distribution."""

    def __init__(self, text: str | None, name: str = "METADATA") -> None:
        self.text, self.name, self.parsed = text, name, 0

    def read_text(self, filename: str) -> str | None:
        return self.text if filename == self.name else None

    @property
    def metadata(self) -> Any:
        import email

        self.parsed += 1
        return email.message_from_string(self.text or "")


@pytest.mark.parametrize(
    "text",
    [
        "Metadata-Version: 2.1\nName: alpha\nVersion: 1.0.0\n\nName: not-this\n",
        "metadata-version: 2.1\nname: Alpha.Beta\nversion: 2.0rc1\n",
        "Summary: a long\n  folded summary\nName: alpha\nVersion: 1.0\nName: second\n",
        "Name: alpha  \nVersion:\t1.0\n",  # the parser keeps trailing spaces
        "Name: alpha\n\nVersion: 1.0\n",  # no Version among the headers
        "Name: alpha\nnot a header\nVersion: 1.0\n",  # the parser's own judgement
        # Lines end at "\n" only (the parser's), not at str.splitlines' others.
        "Metadata-Version: 2.1\x85Name: not-this\nName: alpha\nVersion: 1.0\n",
        "Name: alpha\nSummary: s\u2028Version: 0\nVersion: 1.0\n",
        "Name: alpha\nVersion: 1.0\n \nSummary: s\n",  # a blank-looking line goes on a header
        "Summary: s\nNot a header: s\nName: alpha\nVersion: 1.0\n",  # the headers end there
        "Name: alpha\rVersion: 1.0\r\nName: beta\n",
        "",
    ],
)
def test_the_probe_reads_name_and_version_as_importlib_metadata_does(text: str) -> None:
    space: dict[str, Any] = {}
    exec(HEADERS, space)
    for name in ("METADATA", "PKG-INFO"):
        dist = _Dist(text, name)
        expected = (dist.metadata["Name"], dist.metadata["Version"])
        assert space["headers"](dist) == expected


def test_the_probe_parses_plain_headers_without_the_email_parser() -> None:
    space: dict[str, Any] = {}
    exec(HEADERS, space)
    dist = _Dist("Metadata-Version: 2.1\nName: alpha\nVersion: 1.0.0\nSummary: s\n\nbody\n")
    assert space["headers"](dist) == ("alpha", "1.0.0")
    assert dist.parsed == 0
