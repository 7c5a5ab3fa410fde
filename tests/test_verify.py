"""verify.py and ``lock --check``: a lock must satisfy its spec, not only its header.

Issue #12, failure 2: a forged header (another model's body under this
model's fingerprint, or a pin that misses the spec with its checksum
recomputed) passed ``lock --check``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compiler.lockfile import LockedPackage, body_of, parse_lock, sha256_text
from compiler.verify import Expected, universal_environments, verify_body

from .conftest import run_cli
from .test_lock import FIX, LOCK, header_field, lock, sha256_file, spec
from .wheels import make_wheel

H = "--hash=sha256:" + "a" * 64
H2 = "--hash=sha256:" + "b" * 64


def packages(body: str) -> tuple[LockedPackage, ...]:
    return parse_lock(body).packages


def exp(requirement: str, **kw: object) -> Expected:
    written = str(kw.pop("written", requirement))
    return Expected(requirement, written, "specs/m.toml [env]", **kw)  # type: ignore[arg-type]


def messages(body: str, *expected: Expected) -> list[str]:
    return [str(p) for p in verify_body(packages(body), expected, universal_environments("3.11"))]


def test_parse_lock_reads_version_marker_and_hashes() -> None:
    body = (
        f"alpha==1.0 ; sys_platform == 'linux' \\\n    {H} \\\n    {H2}\n"
        "    # via m\nBeta_Pkg==2.0\n"
    )
    alpha, beta = packages(body)
    assert (alpha.name, alpha.version, alpha.marker) == ("alpha", "1.0", "sys_platform == 'linux'")
    assert alpha.hashes == ("sha256:" + "a" * 64, "sha256:" + "b" * 64)
    assert alpha.pin == "alpha==1.0 ; sys_platform == 'linux'"
    assert (beta.name, beta.version, beta.marker, beta.hashes) == ("beta-pkg", "2.0", "", ())
    assert parse_lock("# header\n\n" + body).preferences() == (
        "alpha==1.0 ; sys_platform == 'linux'\nbeta-pkg==2.0\n"
    )


def test_a_body_that_satisfies_its_spec_has_no_problem() -> None:
    body = f"alpha==2.1 \\\n    {H}\nbeta==1.0 \\\n    {H}\n"
    assert messages(body, exp("alpha>=2"), exp("beta"), exp("gamma<1", constraint=True)) == []


def test_a_pin_outside_the_requirement_and_a_missing_package() -> None:
    body = f"alpha==1.0 \\\n    {H}\n"
    assert messages(body, exp("alpha>=2"), exp("beta")) == [
        "alpha>=2 (specs/m.toml [env]) is pinned at alpha==1.0, which does not satisfy it",
        "beta (specs/m.toml [env]) is not pinned in the lock",
    ]


def test_a_constraint_applies_only_to_what_is_locked() -> None:
    body = f"alpha==1.0 \\\n    {H}\n"
    assert messages(body, exp("beta<2", constraint=True)) == []
    assert messages(body, exp("alpha<1", constraint=True)) == [
        "constraint alpha<1 (specs/m.toml [env]) is pinned at alpha==1.0, which does not satisfy it"
    ]


def test_markers_are_evaluated_for_the_locks_python_and_each_platform() -> None:
    body = f"alpha==1.0 ; sys_platform == 'linux' \\\n    {H}\n"
    # Asked for everywhere, locked only for Linux.
    assert messages(body, exp("alpha")) == [
        "alpha (specs/m.toml [env]) is not pinned for darwin arm64, Python 3.11.0 in the lock"
    ]
    # Asked for only on Linux, or only on Python 3.12 (never true for a 3.11 lock).
    assert messages(body, exp("alpha ; sys_platform == 'linux'")) == []
    assert messages(f"gamma==1 \\\n    {H}\n", exp("alpha ; python_version >= '3.12'")) == []
    # Split by uv on the patch version: both halves together cover 3.11.
    split = (
        f"alpha==1.0 ; python_full_version < '3.11.4' \\\n    {H}\n"
        f"alpha==1.1 ; python_full_version >= '3.11.4' \\\n    {H}\n"
    )
    assert messages(split, exp("alpha")) == []


def test_pinned_twice_for_overlapping_markers() -> None:
    body = (
        f"alpha==1.0 ; sys_platform != 'win32' \\\n    {H}\n"
        f"alpha==1.1 ; sys_platform == 'linux' \\\n    {H}\n"
    )
    assert messages(body) == [
        "alpha is pinned twice for overlapping markers (alpha==1.0 ; sys_platform != 'win32'"
        " and alpha==1.1 ; sys_platform == 'linux'; both apply on linux x86_64, Python 3.11.0)"
    ]


def test_a_targets_lock_is_verified_for_the_targets_own_platform() -> None:
    # A target's lock is resolved for one platform: no markers, nothing for Windows.
    target = tuple(
        sorted(
            {
                "sys_platform": "linux",
                "platform_machine": "x86_64",
                "python_version": "3.11",
                "python_full_version": "3.11.7",
                "os_name": "posix",
                "platform_system": "Linux",
                "implementation_name": "cpython",
                "extra": "",
            }.items()
        )
    )
    body = f"alpha==1.0 \\\n    {H}\n"
    wanted = (exp("alpha"), exp("pywin32 ; sys_platform == 'win32'"))
    assert [str(p) for p in verify_body(packages(body), wanted, [target])] == []
    # The universal check would want pywin32 on Windows.
    assert messages(body, *wanted) == [
        "pywin32 ; sys_platform == 'win32' (specs/m.toml [env]) is not pinned in the lock"
    ]


def test_a_pin_that_is_not_a_version() -> None:
    # A hand-made body: uv never writes one. No traceback whatever packaging says.
    body = f"alpha==not-a-version \\\n    {H}\n"
    assert messages(body, exp("alpha"), exp("alpha>=1")) == [
        "alpha==not-a-version: 'not-a-version' is not a PEP 440 version"
    ]


def test_every_entry_needs_a_hash() -> None:
    assert messages("alpha==1.0\n    # via m\n") == ["alpha==1.0 has no hash: uv cannot install it"]
    # A hash in uv's notes is no hash: pip and uv read none there.
    forged = f"alpha==1.0\n    # via m\n    # {H}\n"
    assert messages(forged) == ["alpha==1.0 has no hash: uv cannot install it"]
    (alpha,) = packages(f"alpha==1.0 \\\n    {H}\n    # via m\n")
    assert alpha.has_hash and alpha.text == f"alpha==1.0 \\\n    {H}"


def test_system_pins_equal_the_recorded_host_version() -> None:
    body = f"numpy==2.0.0 \\\n    {H}\n"
    system = exp("numpy==2.1.3", written="#system_numpy#", system="numpy")
    assert messages(body, system) == [
        "#system_numpy# must pin the recorded version 2.1.3, the lock pins numpy==2.0.0"
    ]
    unpinned = exp("numpy", written="#system_numpy#", system="numpy")
    assert messages(body, unpinned) == []


# ------------------------------------------------------------ forgeries (CLI)


def rewrite_body(path: Path, body: str) -> None:
    """Replace the body and recompute its checksum, as a forger would."""
    text = path.read_text()
    header = text[: len(text) - len(body_of(text))]
    old = header_field(text, "body-sha256")
    path.write_text(header.replace(old, sha256_text(body)) + body)


@pytest.fixture()
def two_alphas(wheelhouse: Path) -> Path:
    make_wheel(wheelhouse, "alpha", "2.0.0")
    return wheelhouse


def test_another_models_body_under_this_models_fingerprint_fails_the_check(
    capsys: pytest.CaptureFixture[str], project: Path, wheelhouse: Path
) -> None:
    spec(project, ["beta"])
    spec(project, ["gamma"], name="n")
    assert lock(capsys, wheelhouse)[0] == 0
    mine, other = project / LOCK, project / LOCK.replace("/m/", "/n/")
    fingerprint = header_field(mine.read_text(), "fingerprint")
    forged = other.read_text().replace(header_field(other.read_text(), "fingerprint"), fingerprint)
    mine.write_text(forged)
    code, out, err = run_cli(capsys, "lock", "--check")
    assert code == 1
    assert out.splitlines() == [
        f"{LOCK}: does not satisfy its spec; run: {FIX}",
        "    m: beta (specs/m.toml [env]) is not pinned in the lock",
    ]
    assert err == "1 of 2 locks missing, stale, edited or invalid (fix: modelenv lock)\n"
    # lock does not call it up to date: it relocks, and the result verifies.
    code, out, err = lock(capsys, wheelhouse)
    assert code == 0, err
    assert "1 locked, 1 up to date, 0 failed" in err
    assert run_cli(capsys, "lock", "--check")[0] == 0


def test_a_pin_below_the_spec_and_a_dropped_package_fail_the_check(
    capsys: pytest.CaptureFixture[str], project: Path, two_alphas: Path
) -> None:
    spec(project, ["alpha>=2", "beta"])
    assert lock(capsys, two_alphas)[0] == 0
    path = project / LOCK
    old_hash = sha256_file(two_alphas / "alpha-2.0.0-py3-none-any.whl")
    real_hash = sha256_file(two_alphas / "alpha-1.0.0-py3-none-any.whl")
    body = body_of(path.read_text())
    body = body.replace("alpha==2.0.0", "alpha==1.0.0").replace(old_hash, real_hash)
    body = re.sub(r"^beta==.*?(?=^\S|\Z)", "", body, flags=re.MULTILINE | re.DOTALL)
    rewrite_body(path, body)
    code, out, _err = run_cli(capsys, "lock", "--check")
    assert code == 1
    assert out.splitlines() == [
        f"{LOCK}: does not satisfy its spec; run: {FIX}",
        "    m: alpha>=2 (specs/m.toml [env]) is pinned at alpha==1.0.0, which does not satisfy it",
        "    m: beta (specs/m.toml [env]) is not pinned in the lock",
    ]
    # create does not build from it: it resolves a local lock instead, and says why.
    code, out, err = run_cli(capsys, "create", "m", "--no-index", "--find-links", str(two_alphas))
    assert code == 0, err
    assert f"the committed lock {LOCK} does not satisfy its spec (alpha>=2" in err
    assert "from the local lock" in err


def test_check_names_a_missing_hash(
    capsys: pytest.CaptureFixture[str], project: Path, wheelhouse: Path
) -> None:
    spec(project, ["gamma"])
    assert lock(capsys, wheelhouse)[0] == 0
    path = project / LOCK
    body = re.sub(r" \\\n    --hash=\S+", "", body_of(path.read_text()))
    rewrite_body(path, body)
    code, out, _err = run_cli(capsys, "lock", "--check")
    assert code == 1
    assert out.splitlines()[1:] == ["    m: gamma==0.5.0 has no hash: uv cannot install it"]


def test_the_bundled_locks_verify(capsys: pytest.CaptureFixture[str]) -> None:
    from .conftest import REPO

    code, out, err = run_cli(
        capsys, "--specs", str(REPO / "specs"), "--locks", str(REPO / "locks"), "lock", "--check"
    )
    assert (code, out) == (0, ""), out + err
