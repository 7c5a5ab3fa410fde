"""uv's resolution failures in modelenv's terms (compiler/lockerrors.py): a
conflict in one part of a universal lock, and a source build that fails
without build isolation."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest

from compiler import host
from compiler.lockerrors import LockContext, describe_split, explain

from .basevenv import base_venv
from .conftest import run_cli, write_spec

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"

# uv 0.13's text for a conflict found only in one split of a universal lock.
SPLIT_FAILURE = """\
  × No solution found when resolving dependencies for split (markers: python_full_version >= '3.14'
  │ and sys_platform == 'win32'):
  ╰─▶ Because llama-cpp-python==0.3.19 has no wheels with a matching Python version tag and you
      require llama-cpp-python==0.3.19, we can conclude that your requirements are unsatisfiable.

      hint: While the active Python version is 3.11, the resolution failed for other Python
      versions supported by your project. Consider limiting your project's supported Python
      versions using `requires-python`.
"""

ISOLATED = LockContext("3.11", "Python 3.11.7 (/usr/bin/python3.11)", None)


@pytest.mark.parametrize(
    ("marker", "words"),
    [
        ("python_full_version >= '3.14' and sys_platform == 'win32'", "Python >= 3.14 on Windows"),
        ("sys_platform == 'darwin'", "every Python on macOS"),
        ("python_full_version == '3.9.*'", "Python == 3.9.*"),
        (
            "platform_machine == 'aarch64' and sys_platform == 'linux'",
            "machine == aarch64 on Linux",
        ),
        ("extra == 'x' or os_name == 'nt'", "extra == 'x' or os_name == 'nt'"),
    ],
)
def test_describe_split(marker: str, words: str) -> None:
    assert describe_split(marker) == words


def test_a_split_conflict_says_which_part_and_what_to_do() -> None:
    message = explain(SPLIT_FAILURE, ISOLATED)
    lead, _, uv_text = message.partition("\nuv says:\n")
    assert lead.splitlines() == [
        "uv found no solution for one part of the universal lock: Python >= 3.14 on Windows"
        " (python_full_version >= '3.14' and sys_platform == 'win32').",
        "A lock for Python 3.11 must resolve on every platform and for every Python from"
        " 3.11 up; uv stops at the first part that fails.",
        "fix: if the conflict is only there and the model does not run there, restrict the"
        " requirement that fails to where it runs with a marker in the spec, for example"
        ' \'llama-cpp-python ; python_full_version < "3.14" or sys_platform != "win32"\';'
        " otherwise the requirements conflict everywhere (uv's reasons are below). uv's"
        " hints name `requires-python` and `tool.uv.environments`: settings of uv projects,"
        " which a spec says with markers.",
    ]
    # uv's own text is kept, whole, below.
    assert uv_text.splitlines() == [f"  {line}" for line in SPLIT_FAILURE.strip().splitlines()]


def test_other_failures_are_uv_text_as_is() -> None:
    text = "  × No solution found when resolving dependencies:\n  ╰─▶ Because alpha==9 ..."
    assert explain(text, ISOLATED) == text.strip()
    build_failure = "  × Failed to build `zmq==0.0.0`\n  invalid command 'bdist_wheel'"
    assert explain(build_failure, ISOLATED) == build_failure.strip()  # isolated: not ours


def test_a_build_failure_without_isolation_names_where_the_setting_comes_from() -> None:
    build = LockContext("3.11", "Python 3.11.7 (/usr/bin/python3.11)", "specs/m.toml [env.index]")
    message = explain("  × Failed to build `zmq==0.0.0`\n  invalid command 'bdist_wheel'", build)
    assert message.splitlines()[:3] == [
        "building a source distribution failed without build isolation:"
        " no_build_isolation = true comes from specs/m.toml [env.index].",
        "It was built with Python 3.11.7 (/usr/bin/python3.11), which must have the package's"
        " build requirements installed (for example setuptools and wheel).",
        "fix: install them into that interpreter, or remove no_build_isolation so that uv"
        " builds in an isolated environment.",
    ]
    assert message.endswith("  invalid command 'bdist_wheel'")


def _broken_sdist(folder: Path) -> None:
    """An sdist with no static metadata whose build backend does not exist:
    uv must build it to learn its dependencies, and the build fails."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "broken-1.0/pyproject.toml": (
            '[build-system]\nrequires = []\nbuild-backend = "nosuch_backend_x"\n'
        ),
    }
    with tarfile.open(folder / "broken-1.0.tar.gz", "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_lock_with_no_build_isolation_builds_with_the_base_interpreter(
    capsys: pytest.CaptureFixture[str], project: Path, wheelhouse: Path
) -> None:
    _broken_sdist(wheelhouse)
    write_spec(
        project, "m", '[env]\npackages = ["broken"]\n\n[env.index]\nno_build_isolation = true\n'
    )
    code, _, err = run_cli(capsys, "lock", "--no-index", "--find-links", str(wheelhouse))
    assert code == 1
    base = host.find_interpreter(PY, beneath=True)  # the command line's default
    assert (
        "    building a source distribution failed without build isolation:"
        " no_build_isolation = true comes from specs/m.toml [env.index]."
    ) in err.splitlines()
    assert f"    It was built with Python {base.version} ({base.executable})," in err
    assert "    uv says:" in err.splitlines()
    assert "nosuch_backend_x" in err  # uv's own text, below


def test_a_target_lock_builds_with_the_target_interpreter(
    capsys: pytest.CaptureFixture[str], project: Path, wheelhouse: Path, uv_cache: Path
) -> None:
    """A target captured on this machine: its lock's builds use its interpreter,
    and the header says so (by version, not path)."""
    base = base_venv(project / "base", wheelhouse, ["alpha"], uv_cache)
    code, _, err = run_cli(capsys, "target", "capture", "here", "--python", base)
    assert code == 0, err
    write_spec(project, "m", '[env]\npackages = ["beta"]\n')
    code, _, err = run_cli(capsys, "lock", "--no-index", "--find-links", str(wheelhouse))
    assert code == 0, err
    (lock,) = (project / "locks" / "m").rglob("here.txt")
    version = ".".join(str(p) for p in sys.version_info[:3])
    assert (
        f"# builds:  Python {version} (target here's interpreter), in isolated build environments"
    ) in lock.read_text().splitlines()

    # Without build isolation a failed build names the target's interpreter.
    _broken_sdist(wheelhouse)
    write_spec(
        project, "m", '[env]\npackages = ["broken"]\n\n[env.index]\nno_build_isolation = true\n'
    )
    code, _, err = run_cli(capsys, "lock", "--no-index", "--find-links", str(wheelhouse))
    assert code == 1
    assert f"    It was built with Python {version} ({base})," in err


@pytest.mark.parametrize("columns", [None, "40"])
def test_a_real_split_conflict_from_lock(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    wheelhouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    columns: str | None,
) -> None:
    """uv's own output (not a terminal: one line, no ':') for a conflict that
    only the Windows part of the universal resolution has; a narrow COLUMNS
    (uv wraps to it) changes nothing."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    write_spec(
        project,
        "m",
        "[env]\npackages = ['beta>=1 ; sys_platform != \"win32\"',"
        " 'beta>=9 ; sys_platform == \"win32\"']\n",
    )
    code, _, err = run_cli(capsys, "lock", "--no-index", "--find-links", str(wheelhouse))
    assert code == 1
    lines = err.splitlines()
    assert (
        "    uv found no solution for one part of the universal lock: every Python on Windows"
        " (sys_platform == 'win32')."
    ) in lines
    assert "'beta ; sys_platform != \"win32\"'" in err
    assert "    uv says:" in lines
    assert "resolving dependencies for split (markers: sys_platform == 'win32')" in err


def test_a_conflict_with_a_system_pin_says_where_the_version_comes_from() -> None:
    """The corpus's vllm variants on a host with numpy 2.4.6: #system_numpy# pins
    it, and vllm needs numpy<2.4 (bench/RESULTS.md, "Corpus: 40 more models")."""
    text = (
        "error: No solution found when resolving dependencies:\n"
        "  cause: Because vllm>=0.11.2 depends on numpy>=1.24,<2.4 and you require"
        " numpy==2.4.6 and vllm>=0.11.2, we can conclude that your requirements are"
        " unsatisfiable.\n"
    )
    context = LockContext(
        "3.11", None, None, {"numpy": "2.4.6", "torch": None}, "the base interpreter /py"
    )
    assert explain(text, context).splitlines()[:3] == [
        "numpy==2.4.6 is #system_numpy#: the version the base interpreter /py has.",
        "fix: install a numpy the other requirements accept into the base interpreter /py,"
        " or write a version range for numpy in the spec instead of #system_numpy#.",
        "uv says:",
    ]
    # A pin uv does not name is not mentioned; numpy==2.4.60 is not numpy==2.4.6.
    other = LockContext("3.11", None, None, {"numpy": "2.4.6"})
    assert (
        explain(text.replace("2.4.6", "2.4.60"), other) == text.replace("2.4.6", "2.4.60").strip()
    )
