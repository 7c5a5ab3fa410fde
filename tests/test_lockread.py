"""lockread.py: locks read in one run share the bodies they have in common,
and ``lock --check`` proves as much of each lock as before.

No uv resolution: each lock is a hand-written body under the header modelenv
writes for its spec (locking.render_lock), as bench/verify.py makes them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.errors import ModelenvError
from compiler.fsutil import read_regular_into
from compiler.lockfile import (
    body_of,
    header_end,
    parse_header,
    parse_lock_body,
    scan_body,
    sha256_text,
)
from compiler.locking import render_lock
from compiler.lockread import LockReader
from compiler.paths import Paths
from compiler.plan import Plan, make_plan
from compiler.request import Request
from compiler.verify import Examiner, Status, examine

from .conftest import run_cli, write_spec

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
H = "--hash=sha256:" + "a" * 64
H2 = "--hash=sha256:" + "b" * 64
GOOD = (
    f"alpha==1.0.0 \\\n    {H} \\\n    {H2}\n    # via m\n"
    f"zeta==3.0 ; sys_platform == 'linux' \\\n    {H}\n    # via alpha\n"
)


def plan_of(project: Path, model: str, packages: str = '"alpha>=1"') -> Plan:
    write_spec(project, model, f'[env]\npython = ["{PY}"]\npackages = [{packages}]\n')
    paths = Paths(specs=project / "specs", locks=project / "locks", home=project / "home")
    return make_plan(paths, Request(model=model, python=PY), inspect_host=False)


def write_lock(project: Path, plan: Plan, body: str) -> Path:
    path = project / "locks" / plan.spec.name / "default" / f"py{PY}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_lock(plan, body), encoding="utf-8")
    return path


def test_locks_that_share_a_body_share_one_parse(project: Path) -> None:
    m, n = plan_of(project, "m"), plan_of(project, "n")
    reader = LockReader()
    first = reader.read(write_lock(project, m, GOOD))
    second = reader.read(write_lock(project, n, GOOD))
    assert second.body is first.body and second.intact
    assert [p.pin for p in second.lock.packages] == [
        "alpha==1.0.0",
        "zeta==3.0 ; sys_platform == 'linux'",
    ]
    assert second.lock.header == parse_header(
        (project / "locks/n/default" / f"py{PY}.txt").read_text()
    )
    examiner = Examiner()
    assert examiner.examine(project / "locks/m/default" / f"py{PY}.txt", m).ok
    assert examiner.examine(project / "locks/n/default" / f"py{PY}.txt", n).ok


@pytest.mark.parametrize("order", ["edited first", "edited last"])
def test_a_body_one_byte_off_one_read_before_is_not_taken_for_it(project: Path, order: str) -> None:
    # n's header names the checksum of m's body; its body differs in one byte.
    m, n = plan_of(project, "m"), plan_of(project, "n")
    good, forged = write_lock(project, m, GOOD), write_lock(project, n, GOOD)
    text = forged.read_text()
    forged.write_text(text.replace("alpha==1.0.0", "alpha==1.0.1"))
    examiner = Examiner()
    pairs = [(good, m), (forged, n)]
    if order == "edited first":
        pairs.reverse()
    found = {path: examiner.examine(path, plan).status for path, plan in pairs}
    assert found == {good: Status.UP_TO_DATE, forged: Status.EDITED}


def test_a_bad_body_shared_by_two_locks_fails_both(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    # A transitive entry (nobody's requirement) without a hash, and a package
    # pinned twice where both pins apply: the body's own problems, checked once
    # for the body and reported for every lock that has it.
    bad = (
        f"alpha==1.0.0 \\\n    {H}\n    # via m\n"
        "omega==2.0\n    # via alpha\n"
        f"zeta==3.0 ; sys_platform != 'win32' \\\n    {H}\n"
        f"zeta==3.1 ; sys_platform == 'linux' \\\n    {H}\n"
    )
    for model in ("m", "n"):
        write_lock(project, plan_of(project, model), bad)
    code, out, err = run_cli(capsys, "lock", "--check")
    assert code == 1
    for model in ("m", "n"):
        fix = f"modelenv lock {model} --engine default --python {PY}"
        assert (
            f"locks/{model}/default/py{PY}.txt: does not satisfy its spec; run: {fix}\n"
            f"    {model}: omega==2.0 has no hash: uv cannot install it\n"
            f"    {model}: zeta is pinned twice for overlapping markers (zeta==3.0 ;"
            " sys_platform != 'win32' and zeta==3.1 ; sys_platform == 'linux'; both apply on"
            " linux x86_64, Python " + PY + ".0)\n"
        ) in out
    assert err == "2 of 2 locks missing, stale, edited or invalid (fix: modelenv lock)\n"


def test_each_lock_is_held_to_its_own_spec_when_the_body_is_shared(project: Path) -> None:
    m = plan_of(project, "m", '"alpha>=1"')
    n = plan_of(project, "n", '"alpha>=2", "beta"')
    examiner = Examiner()
    assert examiner.examine(write_lock(project, m, GOOD), m).ok
    check = examiner.examine(write_lock(project, n, GOOD), n)
    shown = "specs/n.toml [env]"
    assert [str(p) for p in check.problems] == [
        f"alpha>=2 ({shown}) is pinned at alpha==1.0.0, which does not satisfy it",
        f"beta ({shown}) is not pinned in the lock",
    ]


def test_a_small_budget_drops_old_bodies_and_stays_right(project: Path) -> None:
    plans = [plan_of(project, f"m{i}") for i in range(4)]
    bodies = [GOOD.replace("# via m", f"# via m{i}") for i in range(4)]
    reader = LockReader(budget=2 * 2 * len(GOOD) + 10)  # room for two bodies
    paths = [write_lock(project, plan, body) for plan, body in zip(plans, bodies, strict=True)]
    read = [reader.read(path) for path in paths]
    again = [reader.read(path) for path in reversed(paths)][::-1]
    assert all(r.intact for r in read + again)
    assert [a.body is r.body for a, r in zip(again, read, strict=True)] == [
        False,  # dropped, read afresh
        False,
        True,  # kept
        True,
    ]


def test_a_fifo_in_place_of_a_lock_is_unreadable_not_a_hang(project: Path) -> None:
    m = plan_of(project, "m")
    path = project / "locks" / "m" / "default" / f"py{PY}.txt"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    check = examine(path, m)
    assert check.status is Status.UNREADABLE
    assert [str(p) for p in check.problems] == [f"{path} is not a regular file (a named pipe)"]


def test_a_lock_that_is_not_utf8_is_unreadable(project: Path) -> None:
    m = plan_of(project, "m")
    path = write_lock(project, m, GOOD)
    path.write_bytes(path.read_bytes().replace(b"# via m", b"# via \xff"))
    assert examine(path, m).status is Status.UNREADABLE


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# a\n# b\n",
        "# a\n\n  \t\nalpha==1\n",
        "# a\n \xa0\nalpha==1\n",  # no-break space: not blank, the body starts there
        "alpha==1\n# not header\n",
        "# a\r\n\r\nalpha==1",
        "# only a comment, no newline",
    ],
)
def test_the_header_ends_at_the_same_line_in_text_and_in_bytes(text: str) -> None:
    data = text.encode() + b"garbage past the end"
    size = len(text.encode())
    assert data[header_end(data, size) : size].decode() == body_of(text)


def test_read_regular_into_reuses_and_grows_its_buffer(tmp_path: Path) -> None:
    big, small = tmp_path / "big", tmp_path / "small"
    big.write_bytes(b"x" * 100_000)
    small.write_bytes(b"y" * 10)
    buffer, size = read_regular_into(small, bytearray())
    assert bytes(buffer[:size]) == b"y" * 10
    buffer, size = read_regular_into(big, buffer)
    assert size == 100_000 and bytes(buffer[:size]) == b"x" * 100_000
    again, size = read_regular_into(small, buffer)
    assert again is buffer and bytes(buffer[:size]) == b"y" * 10


def test_a_shared_body_is_hashed_like_any_other(project: Path) -> None:
    m = plan_of(project, "m")
    path = write_lock(project, m, GOOD)
    read = LockReader().read(path)
    assert read.body.sha256 == sha256_text(GOOD) == read.header.body_sha256  # type: ignore[union-attr]


# ------------------------------------------------------- one walk of locks/


def test_one_walk_finds_links_leftovers_and_locks_without_entering_a_link(
    tmp_path: Path,
) -> None:
    from compiler.fsutil import links_out, walk
    from compiler.lockkey import orphan_locks

    locks, outside = tmp_path / "locks", tmp_path / "outside"
    (locks / "m" / "default").mkdir(parents=True)
    (outside / "default").mkdir(parents=True)
    (outside / "default" / "py3.11.txt").write_text("# not reached\n")
    (locks / "m" / "default" / "py3.11.txt").write_text("")
    (locks / "m" / "default" / ".py3.11.txt.99999999.x.tmp").write_text("")
    (locks / "m" / "default" / "notes.md").write_text("")
    (locks / "m" / "default" / "py3.12.txt").symlink_to(locks / "m" / "default" / "py3.11.txt")
    (locks / "n").symlink_to(outside)  # a linked folder: listed, never entered
    tree = walk(locks)
    assert tree.links == (str(locks / "m/default/py3.12.txt"), str(locks / "n"))
    assert tree.temps == (str(locks / "m/default/.py3.11.txt.99999999.x.tmp"),)
    assert sorted((p, d, f) for p, d, f in tree.files if p.endswith(".txt")) == [
        (str(locks / "m/default/py3.11.txt"), 3, True),
        (str(locks / "m/default/py3.12.txt"), 3, True),
    ]
    assert links_out(locks, tree) == links_out(locks) == [locks / "n"]
    paths = Paths(specs=tmp_path / "specs", locks=locks, home=tmp_path / "home")
    expected = {locks / "m/default/py3.11.txt"}
    assert orphan_locks(paths, expected, tree) == orphan_locks(paths, expected)
    assert orphan_locks(paths, expected) == [locks / "m/default/py3.12.txt"]


# ------------------------------------------- one pass over a body in uv's shape

BUNDLED = sorted((Path(__file__).resolve().parent.parent / "locks").rglob("*.txt"))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(p.parents[3])))
def test_the_scan_of_a_bundled_lock_reads_what_the_parser_reads(path: Path) -> None:
    body = body_of(path.read_text(encoding="utf-8"))
    scan = scan_body(body)
    assert scan is not None
    parsed = parse_lock_body(body)
    assert [scan.package(i) for i in range(len(scan.names))] == parsed
    assert (scan.names, scan.versions, scan.markers) == (
        tuple(p.name for p in parsed),
        tuple(p.version for p in parsed),
        tuple(p.marker for p in parsed),
    )


@pytest.mark.parametrize(
    "body",
    [
        f"alpha @ https://example.org/alpha-1.0.whl \\\n    {H}\n",  # a direct URL
        "alpha==1.0\n    # via m\n",  # no hash
        f"alpha==1.0 \\\n    # via m\n    {H}\n",  # the hash after a note
        f"# a comment at the margin\nalpha==1.0 \\\n    {H}\n",
        f"alpha==1.0 \\\n    {H}\n# a comment at the margin\n",
        f"  alpha==1.0 \\\n    {H}\n",  # indented first line
        f"alpha==1.0 \\\r\n    {H}\r\n",  # CRLF
        f"alpha==1.0 ; sys_platform == 'linux'  \\\n    {H}\n",  # two spaces
        f"alpha==1.0 ;  sys_platform == 'linux' \\\n    {H}\n",
        f"alpha==1.0 ; x --hash=sha256:{'c' * 64} \\\n    {H}\n",  # a hash in the marker
        f"alpha==1.0 {H}\n",  # the hash on the entry's line
        f"alpha[extra]==1.0 \\\n    {H}\n",
        f"alpha ==1.0 \\\n    {H}\n",
        f"alpha==1.0;sys_platform == 'linux' \\\n    {H}\n",
        "--index-url https://example.org/simple\n",
    ],
)
def test_a_body_not_in_uvs_shape_is_left_to_the_parser(body: str) -> None:
    assert scan_body(body) is None


def test_scan_and_parser_find_the_same_problems() -> None:
    # Pinned twice (overlapping or not), a version that is not one, a blank line.
    body = (
        f"alpha==1.0 ; sys_platform != 'win32' \\\n    {H}\n"
        f"alpha==1.1 ; sys_platform == 'linux' \\\n    {H}\n\n"
        f"beta==not-a-version \\\n    {H} \\\n    {H2}\n    # via m\n"
        f"gamma==2.0 ; sys_platform == 'win32' \\\n    {H}\n"
        f"Gamma==2.1 ; sys_platform == 'linux' \\\n    {H}"
    )
    from compiler.bodycheck import own_problems, scan_problems
    from compiler.lockenvs import universal_environments

    envs = universal_environments(PY)
    scan = scan_body(body)
    assert scan is not None
    problems, by_name = scan_problems(scan, envs)
    expected_problems, expected_by_name = own_problems(parse_lock_body(body), envs)
    assert problems == expected_problems and len(problems) == 2
    assert dict(by_name) == dict(expected_by_name)


def test_a_body_the_parser_refuses_is_unreadable(project: Path) -> None:
    m = plan_of(project, "m")
    path = write_lock(project, m, f"{GOOD}--index-url https://example.org/simple\n")
    check = examine(path, m)
    assert check.status is Status.UNREADABLE
    assert [str(p) for p in check.problems] == [
        "unexpected line in a lock: '--index-url https://example.org/simple'"
    ]


# Whole entries, most in uv's shape, some not, and stray lines.
_BLOCKS = [
    f"alpha==1.0 \\\n    {H}",
    f"Beta.Pkg==2.0rc1 ; sys_platform == 'linux' \\\n    {H} \\\n    {H2}\n    # via alpha",
    f"gamma==3 ; python_full_version < '3.12' and sys_platform != 'win32' \\\n    {H}",
    f"alpha==1.1 ; sys_platform == 'win32' \\\n    {H}\n    # via\n    #   beta",
    f"delta @ https://example.org/delta-1.0.whl \\\n    {H}",
    "epsilon==1.0\n    # via m",
    f"zeta==1 ;  x \\\n    {H}",
    f"eta==1 {H}",
    "# at the margin",
    "",
    "  ",
]


@given(st.lists(st.sampled_from(_BLOCKS), max_size=8), st.booleans())
def test_the_scan_never_reads_a_body_otherwise_than_the_parser(
    blocks: list[str], newline_at_end: bool
) -> None:
    body = "\n".join(blocks) + ("\n" if newline_at_end and blocks else "")
    scan = scan_body(body)
    try:
        parsed = parse_lock_body(body)
    except ModelenvError:
        assert scan is None
        return
    if scan is not None:
        assert [scan.package(i) for i in range(len(scan.names))] == parsed
        assert all(p.has_hash for p in parsed)


def test_a_lock_checked_out_with_crlf_line_ends_is_read_as_the_build_reads_it(
    project: Path,
) -> None:
    """git with core.autocrlf (or eol=crlf) writes a lock with CRLF line ends:
    the build reads it with universal newlines (Path.read_text), and so did
    lock --check; the checksum is of that text, so the lock is not "edited"."""
    m = plan_of(project, "m")
    path = write_lock(project, m, GOOD)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    check = Examiner().examine(path, m)
    assert check.ok, (check.status, check.problems)
    assert check.lock is not None
    assert [p.pin for p in check.lock.packages] == [
        "alpha==1.0.0",
        "zeta==3.0 ; sys_platform == 'linux'",
    ]
    edited = path.read_bytes().replace(b"alpha==1.0.0", b"alpha==1.0.1")
    path.write_bytes(edited)
    assert Examiner().examine(path, m).status is Status.EDITED
