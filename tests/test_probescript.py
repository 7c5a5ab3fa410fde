"""The probe lists distributions as importlib.metadata does, mostly without it
(`compiler.probescript`): the same JSON either way, on real interpreters and
on site folders laid out the odd ways installers leave them, and the walk
steps aside for importlib.metadata wherever it could see otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.version import InvalidVersion, Version

from compiler.probescript import PROBE

from .basevenv import uv

# The probe as it would run with the walk off, and with importlib.metadata out
# of reach (a run that needs it fails): both made from the one source.
SLOW = PROBE.replace("\nFAST = True\n", "\nFAST = False\n")
WALK_ONLY = PROBE.replace(
    "    from importlib import metadata\n",
    "    raise SystemExit('importlib.metadata was needed')\n",
)
assert SLOW != PROBE and WALK_ONLY != PROBE


# The walk replicates importlib.metadata 3.10 to 3.13: each one this machine
# has (pyenv's, read at import, before a test moves the home), the running
# one always.
_PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
_RUNNING = "{}.{}".format(*sys.version_info[:2])


def _newest(minor: str) -> list[str]:
    """pyenv's newest X.Y.Z of ``minor`` (release folders only: not 3.13.0t)."""
    found = []
    for python in _PYENV.glob(f"{minor}.*/bin/python{minor}"):
        try:
            found.append((Version(python.parent.parent.name), str(python)))
        except InvalidVersion:
            continue
    return [max(found)[1]] if found else []


PYTHONS = [
    sys.executable,
    *(p for minor in ("3.10", "3.11", "3.12", "3.13") if minor != _RUNNING for p in _newest(minor)),
]


def facts(python: str, source: str) -> dict[str, Any]:
    proc = subprocess.run(
        [python, "-I", "-c", source], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def dist_info(folder: Path, dirname: str, text: str | None, member: str = "METADATA") -> None:
    where = folder / dirname
    where.mkdir(parents=True)
    if text is not None:
        (where / member).write_text(text, encoding="utf-8")


def meta(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: s\n\nbody\n"


@pytest.fixture(params=PYTHONS[:1], ids=lambda p: Path(p).name)
def site(request: pytest.FixtureRequest, tmp_path: Path, uv_cache: Path) -> tuple[str, Path, Path]:
    """A venv (its python, its site-packages) and a second folder on its
    sys.path through a .pth file, both holding distributions laid out as
    installers leave them: normalised and not, shadowed, duplicated."""
    uv("venv", str(tmp_path / "venv"), "--python", request.param, "--quiet", uv_cache=uv_cache)
    python = str(tmp_path / "venv" / "bin" / "python")
    sp = Path(
        subprocess.run(
            [python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    extra = tmp_path / "extra"
    extra.mkdir()
    (sp / "zz-extra.pth").write_text(f"{extra}\n{tmp_path / 'missing'}\n")
    dist_info(sp, "alpha-1.0.0.dist-info", meta("alpha", "1.0.0"))
    dist_info(sp, "Beta_Pkg-2.0.dist-info", meta("Beta.Pkg", "2.0"))
    dist_info(sp, "gamma-1.0.dist-info", meta("gamma", "1.0"))
    dist_info(sp, "other-3.dist-info", meta("other", "3"))
    dist_info(sp, "Gamma-2.0.dist-info", meta("Gamma", "2.0"))  # the same name twice
    dist_info(sp, "Epsilon-1.0.DIST-INFO", meta("Epsilon", "1.0"))
    dist_info(sp, "delta-0.1-py3.11.egg-info", meta("delta", "0.1"), "PKG-INFO")
    dist_info(sp, "empty-1.0.dist-info", "")  # an empty METADATA: PKG-INFO decides
    (sp / "empty-1.0.dist-info" / "PKG-INFO").write_text(meta("empty", "1.0"))
    dist_info(sp, "spaced-1.dist-info", "Name: spaced  \nVersion:\t1\n")
    dist_info(extra, "alpha-9.0.dist-info", meta("alpha", "9.0"))  # shadowed
    dist_info(extra, "zeta-0.5.dist-info", meta("zeta", "0.5"))
    return python, sp, extra


@pytest.mark.parametrize("site", PYTHONS, indirect=True, ids=lambda p: Path(p).name)
def test_the_walk_answers_as_importlib_metadata_without_importing_it(
    site: tuple[str, Path, Path],
) -> None:
    python, _sp, extra = site
    walked = facts(python, WALK_ONLY)
    assert walked == facts(python, SLOW)
    packages = walked["packages"]
    assert packages["alpha"][0] == "1.0.0"  # the first on sys.path
    assert packages["gamma"][0] in ("1.0", "2.0")
    assert packages["zeta"] == ["0.5", str(extra)]
    assert {"beta-pkg", "epsilon", "delta", "empty", "spaced  ", "other"} <= set(packages)


@pytest.mark.parametrize(
    "odd",
    [
        "egg-info file",
        "folded name",
        "no metadata",
        "zip on sys.path",
        "egg on sys.path",
        "relative entry",
        "metadata not utf-8 text",
        "path finder twice",
    ],
)
def test_whatever_the_walk_cannot_promise_is_left_to_importlib_metadata(
    site: tuple[str, Path, Path], tmp_path: Path, odd: str
) -> None:
    python, sp, extra = site
    if odd == "egg-info file":
        (sp / "legacy-1.0-py3.11.egg-info").write_text(meta("legacy", "1.0"))
    elif odd == "folded name":
        dist_info(extra, "folded-1.dist-info", "Name:\n  folded\nVersion: 1\n")
    elif odd == "no metadata":
        dist_info(extra, "bare-1.dist-info", None)
    elif odd == "zip on sys.path":
        with zipfile.ZipFile(tmp_path / "zipped.zip", "w") as z:
            z.writestr("zipped-1.0.dist-info/METADATA", meta("zipped", "1.0"))
        (sp / "zz-zip.pth").write_text(f"{tmp_path / 'zipped.zip'}\n")
    elif odd == "egg on sys.path":
        egg = tmp_path / "old-1.0-py3.11.egg"
        dist_info(egg, "EGG-INFO", meta("old", "1.0"), "PKG-INFO")
        (sp / "zz-egg.pth").write_text(f"{egg}\n")
    elif odd == "path finder twice":  # importlib.metadata lists every distribution twice
        (sp / "zz-finder.pth").write_text(
            "import sys, importlib.machinery as m; sys.meta_path.append(m.PathFinder)\n"
        )
    elif odd == "relative entry":
        (sp / "zz-rel.pth").write_text("import sys; sys.path.append('rel/../here')\n")
    else:
        dist_info(extra, "latin-1.dist-info", None)
        (extra / "latin-1.dist-info" / "METADATA").write_bytes(b"Name: latin\nVersion: 1\n\xe9\n")
    slow = subprocess.run([python, "-I", "-c", SLOW], capture_output=True, text=True, check=False)
    walk = subprocess.run(
        [python, "-I", "-c", WALK_ONLY], capture_output=True, text=True, check=False
    )
    assert "importlib.metadata was needed" in walk.stderr  # the walk stepped aside
    fast = subprocess.run([python, "-I", "-c", PROBE], capture_output=True, text=True, check=False)
    assert (fast.returncode, fast.stdout) == (slow.returncode, slow.stdout)
    seen = {"egg-info file": "legacy", "folded name": "folded", "zip on sys.path": "zipped"}
    seen["egg on sys.path"] = "old"
    if odd in seen:
        assert any(seen[odd] in key for key in json.loads(slow.stdout)["packages"])


def test_the_walk_agrees_on_this_interpreter() -> None:
    """The test run's own interpreter: a real site-packages of a hundred-odd
    distributions, modelenv's editable install among them."""
    walked = facts(sys.executable, PROBE)
    assert walked == facts(sys.executable, SLOW)
    assert "packaging" in walked["packages"]
