"""The install delta: what goes into an environment and what the host lends it.

Versions are compared with PEP 440 (a host ``2.0.0+cpu`` satisfies ``==2.0.0``
and ``==2.0.0+cpu``), markers are evaluated before anything else, and the
counts printed and recorded are exactly the dist-infos in the environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.delta import install_delta, satisfies
from compiler.lockfile import LockedPackage, parse_lock_body

from .conftest import write_spec
from .test_materialise import (
    XY,
    create,
    created_path,
    dist_infos,
    in_env,
    lock,
    lock_file,
    make_base,
    record,
    site_packages,
)
from .wheels import make_wheel

# ---------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    ("installed", "pinned", "expected"),
    [
        ("2.13.0+cpu", "2.13.0", True),  # a pin without a label accepts any local build
        ("2.13.0+cpu", "2.13.0+cpu", True),
        ("2.13.0", "2.13.0+cpu", False),  # a pin with a label needs that very build
        ("2.13.0+cu121", "2.13.0+cpu", False),
        ("2.13", "2.13.0", True),  # PEP 440: zero padding
        ("2.13.1", "2.13.0", False),
        ("1.0.0rc1", "1.0.0rc1", True),
        ("1.0.0", "", False),  # a direct URL is never satisfied by the host
        ("not a version", "not a version", True),  # legacy: exact text
        ("not a version", "1.0", False),
    ],
)
def test_satisfies_follows_pep_440(installed: str, pinned: str, expected: bool) -> None:
    assert satisfies(installed, pinned) is expected


BODY = """\
alpha==1.0.0 \\
    --hash=sha256:aa
faketorch==2.0.0 ; sys_platform == 'linux' \\
    --hash=sha256:bb
nvidia-thing==1.0 ; sys_platform == 'win32' \\
    --hash=sha256:cc
numpy==2.0 ; python_full_version >= '3.99' \\
    --hash=sha256:dd
numpy==1.26.4 ; python_full_version < '3.99' \\
    --hash=sha256:ee
direct @ https://example.org/direct-1.0-py3-none-any.whl
"""
LINUX = {"sys_platform": "linux", "python_full_version": "3.11.7", "python_version": "3.11"}


def test_parse_lock_body_keeps_each_marker() -> None:
    pkgs = parse_lock_body(BODY)
    assert [(p.name, p.version, p.marker) for p in pkgs] == [
        ("alpha", "1.0.0", ""),
        ("faketorch", "2.0.0", "sys_platform == 'linux'"),
        ("nvidia-thing", "1.0", "sys_platform == 'win32'"),
        ("numpy", "2.0", "python_full_version >= '3.99'"),
        ("numpy", "1.26.4", "python_full_version < '3.99'"),
        ("direct", "", ""),
    ]


def names(pkgs: tuple[LockedPackage, ...]) -> list[str]:
    return [f"{p.name}=={p.version}" for p in pkgs]


def test_markers_are_evaluated_before_the_host_is_consulted() -> None:
    host = {"faketorch": "2.0.0+cpu", "nvidia-thing": "1.0", "numpy": "2.0"}
    delta = install_delta(parse_lock_body(BODY), host, LINUX)
    assert names(delta.reuse) == ["faketorch==2.0.0"]
    assert names(delta.install) == ["alpha==1.0.0", "numpy==1.26.4", "direct=="]
    assert names(delta.excluded) == ["nvidia-thing==1.0", "numpy==2.0"]


def test_without_the_host_everything_that_applies_is_installed() -> None:
    delta = install_delta(parse_lock_body(BODY), None, LINUX)
    assert delta.reuse == ()
    assert len(delta.install) == 4
    assert len(delta.excluded) == 2


# ---------------------------------------------------------------- real environments


@pytest.fixture()
def torch_host(tmp_path: Path, wheelhouse: Path) -> Path:
    """A base venv holding a torch-like build with a local label, as a CPU torch
    from a wheelhouse is; the index (``wheelhouse``) has the plain release."""
    local = tmp_path / "host-wheels"
    make_wheel(local, "faketorch", "2.0.0+cpu", requires=["alpha>=1.0"])
    make_wheel(local, "alpha", "1.0.0")
    make_wheel(wheelhouse, "faketorch", "2.0.0", requires=["alpha>=1.0"])
    return make_base(tmp_path / "base", local, "faketorch==2.0.0+cpu", "alpha==1.0.0")


def own_dist_infos(env: Path) -> list[str]:
    """``name==version`` of every distribution installed in the environment itself."""
    out = []
    for d in site_packages(env).glob("*.dist-info"):
        name, version = d.name[: -len(".dist-info")].split("-", 1)
        out.append(f"{name.replace('_', '-')}=={version}")
    return sorted(out)


@pytest.mark.parametrize("pin", ["faketorch==2.0.0", "faketorch==2.0.0+cpu"])
def test_the_host_build_satisfies_a_pin_with_or_without_its_label(
    project: Path,
    wheelhouse: Path,
    torch_host: Path,
    capfd: pytest.CaptureFixture[str],
    pin: str,
) -> None:
    if "+" in pin:
        make_wheel(wheelhouse, "faketorch", "2.0.0+cpu", requires=["alpha>=1.0"])
    write_spec(
        project,
        "m",
        f'[env]\npython = ["{XY}"]\npackages = ["{pin}", "beta",'
        " \"gamma ; sys_platform == 'win32'\"]\n",
    )
    lock(capfd, wheelhouse)
    text = lock_file(project).read_text()
    assert f"{pin} \\" in text
    assert "gamma==0.5.0 ; sys_platform == 'win32'" in text
    code, out, err = create(capfd, wheelhouse, "--base-python", str(torch_host))
    assert code == 0, err
    env = created_path(out)
    rec = record(env)
    # Nothing the host has at a satisfying version is installed again; gamma's
    # marker excludes this host, so it is neither installed nor counted.
    assert rec["reused"] == ["alpha==1.0.0", pin]
    assert rec["installed"] == ["beta==2.0.0"]
    assert own_dist_infos(env) == rec["installed"]
    assert "1 installed, 2 reused from the host" in err
    assert dist_infos(env, "faketorch") == []
    proc = in_env(env, "import faketorch; print(faketorch.__version__, faketorch.__file__)")
    assert proc.returncode == 0, proc.stderr
    version, where = proc.stdout.split()
    assert version == "2.0.0+cpu"
    assert where.startswith(str(torch_host.parent.parent))


def test_counts_are_the_dist_infos_in_the_environment_without_a_host(
    project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    write_spec(
        project,
        "m",
        f'[env]\npython = ["{XY}"]\npackages = ["beta", "gamma ; sys_platform == \'win32\'"]\n',
    )
    lock(capfd, wheelhouse)
    code, out, err = create(capfd, wheelhouse, "--no-skip-installed")
    assert code == 0, err
    env = created_path(out)
    rec = record(env)
    assert rec["installed"] == ["alpha==1.0.0", "beta==2.0.0"]
    assert own_dist_infos(env) == rec["installed"]
    assert "2 installed, 0 reused from the host" in err
