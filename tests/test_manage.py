"""Managing environments: `modelenv list`, `remove`, `gc` and `doctor`, and the
leases `run` and `ensure_env` take.

Every home here is built by the test: one real v4 environment made from the
``wheelhouse`` fixture (as in test_materialise), and hand-made directories for
everything else (v1 to v3 layouts, broken and half-built v4 directories, hard
links, symlinks out of the home, an Xinference-style home).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import compiler.manage as manage
import compiler.uv
from compiler import leases
from compiler.manage import format_size, parse_size
from compiler.store import LOCK_NAME, RECORD_FORMAT, RECORD_NAME, seal

from .conftest import cli_base_env, run_cli, write_spec
from .test_materialise import SPEC, XY, XYZ, idx, make_base
from .wheels import make_wheel

# Fixed last-used times (UTC), so that list --json is exact.
T_OLD = 1_600_000_000  # 2020-09-13T12:26:40Z
T_MID = 1_650_000_000  # 2022-04-15T05:20:00Z
T_NEW = 1_700_000_000  # 2023-11-14T22:13:20Z
ISO = {
    T_OLD: "2020-09-13T12:26:40Z",
    T_MID: "2022-04-15T05:20:00Z",
    T_NEW: "2023-11-14T22:13:20Z",
}

# ---------------------------------------------------------------- helpers


def home() -> Path:
    return Path(os.environ["MODELENV_HOME"])


def venvs(root: Path | None = None) -> Path:
    return (root or home()) / "virtualenv"


def v4(model: str, version: str = XYZ, engine: str = "default", root: Path | None = None) -> Path:
    return venvs(root) / "v4" / model / engine / version


def disk_usage(path: Path, seen: set[tuple[int, int]]) -> int:
    """Bytes on disk below ``path`` as documented for `list`: every non-directory
    (symlinks not followed) at st_blocks * 512, a hard-linked file once per ``seen``."""
    if path.is_symlink():
        return 0
    total = 0
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            st = os.lstat(os.path.join(folder, name))
            if stat.S_ISDIR(st.st_mode):
                continue
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            total += st.st_blocks * 512
    return total


def sizes_in_order(*paths: Path) -> list[int]:
    """Sizes of ``paths`` listed in this order (hard links go to the first)."""
    seen: set[tuple[int, int]] = set()
    return [disk_usage(p, seen) for p in paths]


def touch_tree(path: Path, files: dict[str, bytes | str]) -> Path:
    for rel, data in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            target.write_text(data)
        else:
            target.write_bytes(data)
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_used(path: Path, when: float) -> None:
    """Set an environment's last use: its record's mtime and its folder's."""
    record = path / RECORD_NAME
    if record.exists() and not path.is_symlink():
        os.utime(record, (when, when))
    os.utime(path, (when, when), follow_symlinks=False)


def hand_made_v4(
    model: str,
    version: str = "3.11.7",
    engine: str = "default",
    *,
    payload: int = 64 * 1024,
    root: Path | None = None,
    installed: tuple[str, ...] = ("alpha==1.0.0",),
    reused: tuple[str, ...] = (),
) -> Path:
    """A v4 directory with a valid (sealed) record and ``payload`` bytes of data."""
    path = v4(model, version, engine, root)
    record = {
        "format": RECORD_FORMAT,
        "model": model,
        "engine": engine,
        "python": version.rsplit(".", 1)[0],
        "lock_fingerprint": "sha256:hand-made",
        "installed": list(installed),
        "reused": list(reused),
    }
    return touch_tree(
        path,
        {
            "lib/data.bin": os.urandom(payload),
            RECORD_NAME: json.dumps(seal(record)),
        },
    )


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Everything below ``root``: type, size, mtime and link target of each entry."""
    out: dict[str, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(folder, name)
            st = os.lstat(p)
            target = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            size = None if stat.S_ISDIR(st.st_mode) else st.st_size
            out[os.path.relpath(p, root)] = (stat.S_IFMT(st.st_mode), size, st.st_mtime_ns, target)
    return out


def uv_pip(*args: str) -> None:
    subprocess.run([compiler.uv.uv_binary(), "pip", *args], check=True, capture_output=True)


def list_json(capfd: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run_cli(capfd, "list", "--json", *argv)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def by_path(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["path"]: e for e in doc["environments"]}


def entry(
    path: Path,
    model: str,
    layout: str,
    status: str,
    *,
    size: int,
    last_used: float,
    engine: str | None = None,
    python: str | None = None,
    installed: int | None = None,
    reused: int | None = None,
    in_use_by: list[int] | None = None,
) -> dict[str, Any]:
    """One environment of the documented list --json shape."""
    return {
        "model": model,
        "engine": engine,
        "python": python,
        "layout": layout,
        "status": status,
        "installed": installed,
        "reused": reused,
        "target": None,
        "size": size,
        "last_used": ISO[int(last_used)],
        "in_use_by": in_use_by or [],
        "path": str(path),
    }


def table_rows(out: str) -> list[list[str]]:
    return [re.split(r" {2,}", line.rstrip()) for line in out.splitlines()]


@pytest.fixture()
def live_pid() -> Iterator[int]:
    """A live process (sleep 30) that a test leases environments to."""
    proc = subprocess.Popen(["sleep", "30"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture()
def built(project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    """Model m (beta 2.0.0 and alpha 1.0.0), locked and created: a real v4 environment."""
    write_spec(project, "m", SPEC)
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    code, out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    path = Path(out.strip().splitlines()[-1])
    assert path == v4("m")
    return path


@pytest.fixture()
def legacy(project: Path) -> dict[str, Path]:
    """Hand-made v1, v2 and v3 directories, a broken and an invalid v4, and a
    leftover of a killed build; each with a fixed last use."""
    base = venvs()
    made = {
        "v1": touch_tree(base / "old1", {"bin/python": "#!/bin/sh\n", "lib/x.py": "x = 1\n"}),
        "v2": touch_tree(base / "v2" / "old2", {"lib/y.py": "y = 2\n" * 500}),
        "v3": touch_tree(base / "v3" / "old3" / "3.10.4", {"lib/z.py": "z = 3\n"}),
        "no-record": touch_tree(v4("norec", "3.11.7"), {"bin/python": "", "lib/a.py": "a\n"}),
        "invalid": touch_tree(v4("bad", "3.11.7"), {RECORD_NAME: "{not json", "lib/b.py": "b\n"}),
        "old-format": touch_tree(v4("bad", "3.12.1"), {RECORD_NAME: json.dumps({"format": 99})}),
        "partial": touch_tree(v4("m", f".{XYZ}.build-123"), {"lib/half.py": "half\n"}),
    }
    for path in made.values():
        set_used(path, T_OLD)
    return made


# ---------------------------------------------------------------- list


def test_list_json_is_the_exact_documented_document_for_every_layout(
    built: Path, legacy: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    set_used(built, T_NEW)
    order = [
        legacy["v1"],
        legacy["v2"],
        legacy["v3"],
        legacy["invalid"],
        legacy["old-format"],
        legacy["partial"],  # ".3.11.x.build-123" sorts before "3.11.x"
        built,
        legacy["no-record"],
    ]
    sizes = dict(zip(order, sizes_in_order(*order), strict=True))
    assert all(sizes[p] > 0 for p in order)
    doc = list_json(capfd)
    assert doc == {
        "schema_version": 1,
        "home": str(home()),
        "environments": [
            entry(legacy["v1"], "old1", "v1", "legacy", size=sizes[legacy["v1"]], last_used=T_OLD),
            entry(legacy["v2"], "old2", "v2", "legacy", size=sizes[legacy["v2"]], last_used=T_OLD),
            entry(
                legacy["v3"],
                "old3",
                "v3",
                "legacy",
                python="3.10.4",
                size=sizes[legacy["v3"]],
                last_used=T_OLD,
            ),
            entry(
                legacy["invalid"],
                "bad",
                "v4",
                "broken",
                engine="default",
                python="3.11.7",
                size=sizes[legacy["invalid"]],
                last_used=T_OLD,
            ),
            entry(
                legacy["old-format"],
                "bad",
                "v4",
                "broken",
                engine="default",
                python="3.12.1",
                size=sizes[legacy["old-format"]],
                last_used=T_OLD,
            ),
            entry(
                legacy["partial"],
                "m",
                "v4",
                "partial",
                engine="default",
                python=XYZ,
                size=sizes[legacy["partial"]],
                last_used=T_OLD,
            ),
            entry(
                built,
                "m",
                "v4",
                "ok",
                engine="default",
                python=XYZ,
                installed=2,
                reused=0,
                size=sizes[built],
                last_used=T_NEW,
            ),
            entry(
                legacy["no-record"],
                "norec",
                "v4",
                "broken",
                engine="default",
                python="3.11.7",
                size=sizes[legacy["no-record"]],
                last_used=T_OLD,
            ),
        ],
    }
    # Listing changes nothing, not even the last use.
    assert list_json(capfd) == doc


def test_list_table_has_one_aligned_row_per_environment(
    built: Path, legacy: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    set_used(built, T_NEW)
    code, out, err = run_cli(capfd, "list")
    assert code == 0, err
    rows = table_rows(out)
    assert rows[0] == [
        "MODEL",
        "ENGINE",
        "PYTHON",
        "LAYOUT",
        "STATUS",
        "INST/REUSED",
        "SIZE",
        "LAST USED",
        "PATH",
    ]
    size_built = sizes_in_order(
        legacy["v1"],
        legacy["v2"],
        legacy["v3"],
        legacy["invalid"],
        legacy["old-format"],
        legacy["partial"],
        built,
    )[-1]
    assert [
        "m",
        "default",
        XYZ,
        "v4",
        "ok",
        "2/0",
        format_size(size_built),
        "2023-11-14 22:13:20Z",
        str(built),
    ] in rows
    v1 = disk_usage(legacy["v1"], set())
    assert [
        "old1",
        "-",
        "-",
        "v1",
        "legacy",
        "-",
        format_size(v1),
        "2020-09-13 12:26:40Z",
        str(legacy["v1"]),
    ] in rows
    assert len(rows) == 1 + 8
    # The PATH column starts at the same offset on every line.
    lines = out.splitlines()
    assert len({line.index(str(home())) for line in lines[1:]}) == 1
    assert lines[0].index("PATH") == lines[1].index(str(home()))
    total = sum(
        sizes_in_order(*(Path(r[-1]) for r in rows[1:]))  # same order as listed
    )
    assert err.strip().splitlines()[-1] == f"8 environments, {format_size(total)}"


def test_list_on_an_empty_home(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capfd, "list")
    assert (code, out) == (0, "")
    assert err.strip() == f"no environments under {home()}"
    assert list_json(capfd) == {"schema_version": 1, "home": str(home()), "environments": []}


def test_hard_linked_files_count_once_in_the_total(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    a = hand_made_v4("a", payload=256 * 1024)
    b = hand_made_v4("b", payload=16 * 1024)
    os.link(a / "lib" / "data.bin", b / "lib" / "shared.bin")
    assert os.stat(b / "lib" / "shared.bin").st_nlink == 2
    alone_a = disk_usage(a, set())
    alone_b = disk_usage(b, set())
    shared = os.stat(a / "lib" / "data.bin").st_blocks * 512
    assert shared >= 256 * 1024
    # Each alone would count the shared file; together it counts once, for a.
    doc = list_json(capfd)
    sizes = {e["model"]: e["size"] for e in doc["environments"]}
    assert sizes == {"a": alone_a, "b": alone_b - shared}
    code, _out, err = run_cli(capfd, "list")
    assert code == 0
    assert err.strip().splitlines()[-1] == (
        f"2 environments, {format_size(alone_a + alone_b - shared)}"
    )


def test_an_environment_is_stale_once_its_spec_changes_or_goes(
    built: Path, project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert by_path(list_json(capfd))[str(built)]["status"] == "ok"
    write_spec(project, "m", SPEC.replace('["beta"]', '["beta", "gamma"]'))
    assert by_path(list_json(capfd))[str(built)]["status"] == "stale"
    code, out, _err = run_cli(capfd, "list")
    assert code == 0
    assert table_rows(out)[1][4] == "stale"
    write_spec(project, "m", SPEC)
    assert by_path(list_json(capfd))[str(built)]["status"] == "ok"
    (project / "specs" / "m.toml").unlink()
    assert by_path(list_json(capfd))[str(built)]["status"] == "stale"


def test_list_filters_by_model_engine_and_python(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    a311 = hand_made_v4("a", "3.11.7")
    a312 = hand_made_v4("a", "3.12.1")
    avllm = hand_made_v4("a", "3.11.7", "vllm")
    b = hand_made_v4("b", "3.11.7")
    old = touch_tree(venvs() / "v2" / "a", {"x": "x"})

    def paths(*argv: str) -> list[str]:
        return [e["path"] for e in list_json(capfd, *argv)["environments"]]

    assert paths("--model", "a") == [str(old), str(a311), str(a312), str(avllm)]
    assert paths("--model", "a", "--engine", "vllm") == [str(avllm)]
    assert paths("--engine", "default") == [str(old), str(a311), str(a312), str(b)]
    assert paths("--python", "3.11") == [str(a311), str(avllm), str(b)]
    assert paths("--python", "3.12.1") == [str(a312)]
    assert paths("--python", "3.1") == []  # 3.1 is not a prefix of 3.11.7
    assert paths("--model", "c") == []
    code, out, err = run_cli(capfd, "list", "--model", "../etc")
    assert code == 2 and out == ""
    assert "invalid model name '../etc'" in err


def test_the_list_json_document_matches_its_documentation(
    built: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "commands.md").read_text()
    section = docs.split("\n## list\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```json\n", 1)[1].split("```", 1)[0]
    documented = json.loads(re.sub(r"//[^\n]*", "", block))
    actual = list_json(capfd)
    assert list(actual) == list(documented)
    assert list(actual["environments"][0]) == list(documented["environments"][0])
    assert {type(v) for v in documented["environments"][0].values()} >= {str, int, list}


# ---------------------------------------------------------------- remove


def test_remove_deletes_what_matches_and_reports_it(
    built: Path, legacy: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    other = hand_made_v4("other")
    before = snapshot(other)
    size_partial, size_built = sizes_in_order(legacy["partial"], built)
    leases.take(built, dead_pid())  # a stale lease: ignored, and its folder goes too
    code, out, err = run_cli(capfd, "remove", "m")
    assert code == 0, err
    assert out.splitlines() == [
        f"removed {legacy['partial']} ({format_size(size_partial)})",
        f"removed {built} ({format_size(size_built)})",
    ]
    assert err.strip() == f"2 removed, {format_size(size_partial + size_built)} freed"
    assert not built.exists() and not legacy["partial"].exists()
    assert not leases.lease_dir(built).exists()
    assert [n for n in os.listdir(built.parent) if not n.endswith(".lock")] == []
    assert snapshot(other) == before
    assert all(p.exists() for k, p in legacy.items() if k != "partial")


def test_remove_narrows_by_engine_and_python(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    a311 = hand_made_v4("a", "3.11.7")
    a312 = hand_made_v4("a", "3.12.1")
    avllm = hand_made_v4("a", "3.11.7", "vllm")
    code, out, _err = run_cli(capfd, "remove", "a", "--engine", "vllm")
    assert code == 0
    assert out.startswith(f"removed {avllm} (")
    assert a311.exists() and a312.exists() and not avllm.exists()
    code, out, _err = run_cli(capfd, "remove", "a", "--python", "3.12")
    assert code == 0
    assert out.startswith(f"removed {a312} (")
    assert a311.exists() and not a312.exists()


def test_remove_exits_1_when_nothing_matches(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    a = hand_made_v4("a")
    before = snapshot(home())
    code, out, _err = run_cli(capfd, "remove", "zz")
    assert code == 1
    assert out.strip() == f"no environment of 'zz' matches under {home()}"
    code, out, _err = run_cli(capfd, "remove", "a", "--python", "3.12")
    assert code == 1
    assert out.strip() == f"no environment of 'a' matches under {home()}"
    assert snapshot(home()) == before
    assert a.exists()


def test_remove_all_empties_the_home_of_every_layout(
    built: Path, legacy: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capfd, "remove", "--all")
    assert code == 0, err
    assert len(out.splitlines()) == 8
    assert all(line.startswith("removed ") for line in out.splitlines())
    assert err.strip().startswith("8 removed, ")
    assert not built.exists()
    assert not any(p.exists() for p in legacy.values())
    assert list_json(capfd)["environments"] == []
    code, out, _err = run_cli(capfd, "remove", "--all")
    assert code == 1
    assert out.strip() == f"no environments under {home()}"


@pytest.mark.parametrize("argv", [(), ("m", "--all")])
def test_remove_needs_exactly_one_of_model_or_all(
    project: Path, capfd: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    code, _out, err = run_cli(capfd, "remove", *argv)
    assert code == 2
    assert "give a MODEL or --all" in err or "give either MODEL or --all, not both" in err


@pytest.mark.parametrize("name", ["../etc", "..", "m/../../etc", "/etc", "v4/../../etc"])
def test_remove_refuses_a_path_traversal_model_name(
    project: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], name: str
) -> None:
    hand_made_v4("m")
    # Targets the name could reach: beside the virtualenv folder and beside the home.
    touch_tree(home() / "etc", {"passwd": "root"})
    touch_tree(home().parent / "etc", {"passwd": "root"})
    before = snapshot(home().parent)
    code, out, err = run_cli(capfd, "remove", name)
    assert code == 2, (out, err)
    assert f"invalid model name {name!r}" in err
    assert out == ""
    assert snapshot(home().parent) == before


def test_remove_deletes_a_symlink_never_what_it_points_to(
    project: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    outside = touch_tree(tmp_path / "outside", {"precious.txt": "keep me", "lib/x.py": "x"})
    before = snapshot(outside)
    v1_link = venvs() / "escape"
    v4_link = v4("linked", "3.11.7")
    v4_link.parent.mkdir(parents=True)
    v1_link.symlink_to(outside, target_is_directory=True)
    v4_link.symlink_to(outside, target_is_directory=True)
    doc = by_path(list_json(capfd))
    # Never followed: broken, nothing counted.
    assert doc[str(v1_link)]["status"] == "broken"
    assert doc[str(v1_link)]["size"] == 0
    assert doc[str(v4_link)]["status"] == "broken"
    assert doc[str(v4_link)]["size"] == 0
    code, out, err = run_cli(capfd, "remove", "escape")
    assert code == 0, err
    assert out.strip() == f"removed {v1_link} (0 B)"
    code, out, err = run_cli(capfd, "remove", "linked")
    assert code == 0, err
    assert out.strip() == f"removed {v4_link} (0 B)"
    assert not os.path.lexists(v1_link) and not os.path.lexists(v4_link)
    assert snapshot(outside) == before


def test_remove_of_a_symlinked_model_folder_removes_only_the_link(
    project: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A model folder that links out of the home is never descended into: remove
    deletes the link itself, and nothing it points to."""
    outside = touch_tree(tmp_path / "outside", {"default/3.11.7/precious.txt": "keep me"})
    (venvs() / "v4").mkdir(parents=True)
    link = venvs() / "v4" / "evil"
    link.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    code, out, err = run_cli(capfd, "remove", "evil")
    assert code == 0, err
    assert out == f"removed {link} (0 B)\n"
    assert not link.is_symlink() and not link.exists()
    assert snapshot(outside) == before


def test_list_does_not_follow_a_symlinked_folder_out_of_the_home(
    project: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    outside = touch_tree(tmp_path / "outside", {"default/3.11.7/big.bin": os.urandom(65536)})
    (venvs() / "v4").mkdir(parents=True)
    (venvs() / "v4" / "evil").symlink_to(outside, target_is_directory=True)
    [env] = list_json(capfd)["environments"]
    assert env["status"] == "broken"
    assert env["size"] == 0


def test_remove_refuses_an_environment_in_use_unless_forced(
    built: Path, live_pid: int, capfd: pytest.CaptureFixture[str]
) -> None:
    leases.take(built, live_pid)
    assert by_path(list_json(capfd))[str(built)]["in_use_by"] == [live_pid]
    code, out, _err = run_cli(capfd, "list")
    assert table_rows(out)[1][4] == "ok (in use)"
    code, out, err = run_cli(capfd, "remove", "m")
    assert code == 1
    assert out == ""
    assert f"modelenv: warning: {built} is in use by process {live_pid}" in err
    assert "hint: stop it first, or pass --force" in err
    assert err.strip().splitlines()[-1] == "0 removed, 0 B freed, 1 refused"
    assert (built / RECORD_NAME).is_file()
    code, out, err = run_cli(capfd, "remove", "m", "--force")
    assert code == 0, err
    assert out.startswith(f"removed {built} (")
    assert not built.exists()
    assert not leases.lease_dir(built).exists()


def test_a_lease_of_a_dead_process_is_ignored_and_cleaned(
    built: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    pid = dead_pid()
    lease = leases.take(built, pid)
    assert lease.is_file()
    assert by_path(list_json(capfd))[str(built)]["in_use_by"] == []
    assert not lease.exists()
    # A recycled pid (same number, another start time) does not hold it either.
    me = leases.take(built, os.getpid())
    me.write_text("1")  # not this process's start time
    assert by_path(list_json(capfd))[str(built)]["in_use_by"] == []
    assert not me.exists()
    code, _out, err = run_cli(capfd, "remove", "m")
    assert code == 0, err
    assert not built.exists()


def test_a_lease_taken_by_a_recycled_pid_protects_the_environment(
    project: Path, live_pid: int, capfd: pytest.CaptureFixture[str]
) -> None:
    env = hand_made_v4("a")
    # A process that had this pid before used the environment and died without
    # releasing (ensure_env never releases): its lease file holds its start time.
    stale = leases.lease_dir(env) / str(live_pid)
    stale.parent.mkdir()
    stale.write_text("1")
    # The live process with the recycled pid now calls ensure_env: it takes a lease.
    leases.take(env, live_pid)
    assert leases.live_leases(env) == [live_pid]
    code, _out, _err = run_cli(capfd, "remove", "a")
    assert code == 1
    assert env.exists()


_HOLD = """\
import os, sys
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
sys.stdin.readline()  # held until the test says (or kills this process)
print("present" if os.path.isdir(sys.argv[2]) else "gone", flush=True)
lock.release()
"""


def hold_lock(env: Path) -> subprocess.Popen[str]:
    """A process holding the environment's lock until a line arrives on its stdin."""
    lock = env.parent / f".{env.name}.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(lock), str(env)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_remove_waits_for_the_environment_lock(
    project: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No timing: remove runs in a thread; the holder lets go only once remove
    is asking for the lock, and sees the environment still there."""
    env = hand_made_v4("a")
    holder = hold_lock(env)
    asking = threading.Event()
    real = manage.env_lock

    def signalling_lock(*args: Any, **kw: Any) -> Any:
        asking.set()
        return real(*args, **kw)

    monkeypatch.setattr(manage, "env_lock", signalling_lock)
    result: list[tuple[int, str, str]] = []
    remover = threading.Thread(target=lambda: result.append(run_cli(capfd, "remove", "a")))
    remover.start()
    try:
        assert asking.wait(timeout=60), "remove never asked for the lock"
        assert env.exists()  # remove is waiting, not deleting
        rest, _ = holder.communicate("go\n", timeout=60)
    finally:
        holder.kill()
        remover.join(timeout=60)
    assert not remover.is_alive()
    ((code, out, err),) = result
    assert code == 0, err
    assert out.startswith(f"removed {env} (")
    # The environment was still there when the holder let go; gone right after.
    assert rest.strip() == "present"
    assert not env.exists()


def test_remove_gives_up_cleanly_when_a_build_holds_the_lock(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    env = hand_made_v4("a")
    before = snapshot(env)
    holder = hold_lock(env)
    try:
        code, out, err = run_cli(capfd, "remove", "a", "--wait", "0.3")
    finally:
        holder.kill()
        holder.wait()
    assert code == 1
    assert out == ""
    lock = env.parent / f".{env.name}.lock"
    assert f"gave up after 0.3 s waiting for another process to release {lock}" in err
    assert "1 refused" in err
    assert snapshot(env) == before


# ---------------------------------------------------------------- gc


@pytest.fixture()
def garden(built: Path, legacy: dict[str, Path], project: Path) -> dict[str, Path]:
    """The real environment m (its spec exists), the hand-made legacy and broken
    directories, an orphan whose spec is gone, and a link out of the home."""
    orphan = hand_made_v4("gone")
    outside = touch_tree(project / "outside", {"precious.txt": "keep me"})
    link = venvs() / "escape"
    link.symlink_to(outside, target_is_directory=True)
    set_used(built, T_NEW)
    set_used(orphan, T_NEW)
    return {**legacy, "built": built, "orphan": orphan, "link": link, "outside": outside}


def gc_expected(g: dict[str, Path], verb: str) -> tuple[list[str], int]:
    order = [
        g["link"],
        g["v1"],
        g["v2"],
        g["v3"],
        g["invalid"],
        g["old-format"],
        g["orphan"],
        g["partial"],
        g["built"],
        g["no-record"],
    ]
    sizes = dict(zip(order, sizes_in_order(*order), strict=True))
    why = [
        (g["link"], "broken"),
        (g["v1"], "legacy layout v1"),
        (g["v2"], "legacy layout v2"),
        (g["v3"], "legacy layout v3"),
        (g["invalid"], "broken"),
        (g["old-format"], "broken"),
        (g["orphan"], "its spec no longer exists"),
        (g["partial"], "leftover of a killed build"),
        (g["no-record"], "broken"),
    ]
    lines = [f"{verb} {p} ({format_size(sizes[p])}): {w}" for p, w in why]
    return lines, sum(sizes[p] for p, _ in why)


def test_gc_removes_broken_partial_legacy_and_orphaned_environments(
    garden: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    lines, freed = gc_expected(garden, "removed")
    outside = snapshot(garden["outside"])
    code, out, err = run_cli(capfd, "gc")
    assert code == 0, err
    assert out.splitlines() == lines
    assert err.strip() == f"9 removed, freed {format_size(freed)}"
    assert [e["path"] for e in list_json(capfd)["environments"]] == [str(garden["built"])]
    assert not os.path.lexists(garden["link"])
    assert snapshot(garden["outside"]) == outside
    # Nothing left to do.
    code, out, err = run_cli(capfd, "gc")
    assert (code, out, err.strip()) == (0, "", "0 removed, freed 0 B")


def test_gc_dry_run_deletes_nothing(
    garden: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    lines, freed = gc_expected(garden, "would remove")
    before = snapshot(garden["built"].parents[4])
    code, out, err = run_cli(capfd, "gc", "--dry-run")
    assert code == 0, err
    assert out.splitlines() == lines
    assert err.strip() == f"would remove 9, would free {format_size(freed)}"
    assert snapshot(garden["built"].parents[4]) == before


def test_gc_without_a_specs_folder_warns_and_keeps_environments_without_spec(
    project: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    orphan = hand_made_v4("gone")
    broken = touch_tree(v4("norec"), {"x": "x"})
    missing = tmp_path / "no-specs-here"
    code, out, err = run_cli(capfd, "gc", "--specs", str(missing))
    assert code == 0, err
    assert (
        f"modelenv: warning: no specs in {missing}: environments are not judged by their spec"
        in err
    )
    assert out.startswith(f"removed {broken} (")
    assert len(out.splitlines()) == 1
    assert orphan.exists()


@pytest.fixture()
def abc(project: Path) -> dict[str, Path]:
    """Three hand-made environments with specs, used oldest (a) to newest (c)."""
    envs = {}
    for name, when in (("a", T_OLD), ("b", T_MID), ("c", T_NEW)):
        write_spec(project, name, SPEC)
        envs[name] = hand_made_v4(name, payload=128 * 1024)
        set_used(envs[name], when)
    return envs


def test_gc_max_size_evicts_the_least_recently_used_until_the_home_fits(
    abc: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    a, b, c = (disk_usage(abc[n], set()) for n in "abc")
    budget = b + c  # a must go, b and c fit
    code, out, err = run_cli(capfd, "gc", "--max-size", str(budget))
    assert code == 0, err
    assert out.splitlines() == [
        f"removed {abc['a']} ({format_size(a)}): least recently used"
        f" (home over {format_size(budget)})"
    ]
    assert err.strip() == f"1 removed, freed {format_size(a)}"
    assert not abc["a"].exists() and abc["b"].exists() and abc["c"].exists()
    # A budget of c alone: b goes too.
    code, out, err = run_cli(capfd, "gc", "--max-size", str(c))
    assert code == 0, err
    assert out.splitlines() == [
        f"removed {abc['b']} ({format_size(b)}): least recently used (home over {format_size(c)})"
    ]
    assert abc["c"].exists()
    # A budget the home fits: nothing to do.
    code, out, err = run_cli(capfd, "gc", "--max-size", "1G")
    assert (code, out, err.strip()) == (0, "", "0 removed, freed 0 B")


def test_gc_max_size_skips_an_environment_in_use(
    abc: dict[str, Path], live_pid: int, capfd: pytest.CaptureFixture[str]
) -> None:
    leases.take(abc["a"], live_pid)
    os.utime(leases.lease_dir(abc["a"]) / str(live_pid), (T_OLD, T_OLD))  # a stays the LRU
    a, b, c = (disk_usage(abc[n], set()) for n in "abc")
    code, out, err = run_cli(capfd, "gc", "--max-size", str(a + c))
    assert code == 0, err
    # a is the least recently used but in use: b goes in its place.
    assert out.splitlines() == [
        f"removed {abc['b']} ({format_size(b)}): least recently used"
        f" (home over {format_size(a + c)})"
    ]
    assert abc["a"].exists() and not abc["b"].exists() and abc["c"].exists()
    # --force evicts it too.
    code, out, err = run_cli(capfd, "gc", "--max-size", str(c), "--force")
    assert code == 0, err
    assert out.splitlines() == [
        f"removed {abc['a']} ({format_size(a)}): least recently used (home over {format_size(c)})"
    ]
    assert not abc["a"].exists()


def test_gc_max_size_counts_what_it_must_keep(
    abc: dict[str, Path], live_pid: int, capfd: pytest.CaptureFixture[str]
) -> None:
    # A broken environment in use: gc would remove it, but must keep it.
    broken = touch_tree(v4("norec"), {"big.bin": os.urandom(256 * 1024)})
    leases.take(broken, live_pid)
    budget = sum(disk_usage(p, set()) for p in (broken, abc["b"], abc["c"]))
    code, _out, err = run_cli(capfd, "gc", "--max-size", str(budget))
    assert code == 0, err
    assert broken.exists()
    # The home fits the budget afterwards: a, the least recently used, had to go.
    assert sum(e["size"] for e in list_json(capfd)["environments"]) <= budget
    assert not abc["a"].exists()


def test_gc_max_size_with_hard_links_leaves_the_home_within_the_budget(
    abc: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    shared = abc["a"] / "lib" / "shared.bin"
    shared.write_bytes(os.urandom(512 * 1024))
    os.link(shared, abc["b"] / "lib" / "shared.bin")  # as uv links one wheel into two envs
    set_used(abc["a"], T_OLD)
    set_used(abc["b"], T_MID)
    sizes = {e["model"]: e["size"] for e in list_json(capfd)["environments"]}
    budget = sizes["b"] + sizes["c"] + 4096  # what gc believes is left once a is gone
    code, _out, err = run_cli(capfd, "gc", "--max-size", str(budget))
    assert code == 0, err
    after = sum(e["size"] for e in list_json(capfd)["environments"])
    assert after <= budget, f"home is {after} bytes after gc, over the budget of {budget}"


def test_gc_keeps_a_broken_environment_in_use_unless_forced(
    project: Path, live_pid: int, capfd: pytest.CaptureFixture[str]
) -> None:
    broken = touch_tree(v4("norec"), {"x": "x"})
    leases.take(broken, live_pid)
    code, out, err = run_cli(capfd, "gc")
    assert code == 0, err
    assert out == ""
    assert f"kept    {broken}: broken, but in use by process {live_pid} (--force removes it)" in err
    assert err.strip().splitlines()[-1] == "0 removed, freed 0 B, 1 kept"
    assert broken.exists()
    code, out, err = run_cli(capfd, "gc", "--force")
    assert code == 0, err
    assert out.startswith(f"removed {broken} (")
    assert not broken.exists()


def test_gc_older_than_removes_environments_unused_for_that_long(
    abc: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    now = time.time()
    set_used(abc["a"], now - 10 * 86400 - 60)
    set_used(abc["b"], now - 3 * 86400)
    set_used(abc["c"], now)
    size_a = disk_usage(abc["a"], set())
    code, out, err = run_cli(capfd, "gc", "--older-than", "7")
    assert code == 0, err
    assert out.splitlines() == [f"removed {abc['a']} ({format_size(size_a)}): unused for 10 days"]
    assert not abc["a"].exists() and abc["b"].exists() and abc["c"].exists()


def test_gc_rejects_an_invalid_size(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(capfd, "gc", "--max-size", "lots")
    assert code == 2
    assert "invalid size 'lots'" in err


@pytest.mark.parametrize(
    ("text", "size"),
    [("1024", 1024), ("500M", 500 * 1024**2), ("2G", 2 * 1024**3), ("1.5GiB", 1536 * 1024**2)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


# ---------------------------------------------------------------- doctor


def test_doctor_on_a_healthy_environment(built: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capfd, "doctor")
    assert code == 0, out + err
    assert out.strip() == f"ok      m [default, py{XYZ}]"
    assert err.strip() == "1 healthy, 0 with problems"
    code, out, _err = run_cli(capfd, "doctor", "m")
    assert code == 0
    assert out.strip() == f"ok      m [default, py{XYZ}]"


def test_doctor_reports_drift_in_plain_words(
    built: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    python = str(built / "bin" / "python")
    uv_pip("uninstall", "--python", python, "alpha")
    code, out, err = run_cli(capfd, "doctor")
    assert code == 1
    lines = out.splitlines()
    assert lines[:2] == [
        f"problem m [default, py{XYZ}]: {built}",
        "    alpha: locked at 1.0.0, not installed",
    ]
    assert lines[2].startswith("    uv pip check: The package `beta` requires `alpha")
    assert "not installed" in lines[2]
    assert lines[3:] == ["    fix: modelenv doctor --fix m"]
    assert err.strip() == "0 healthy, 1 with problems"
    # Another version in its place.
    newer = tmp_path / "newer"
    make_wheel(newer, "alpha", "1.1.0")
    uv_pip("install", "--python", python, "--no-index", "--find-links", str(newer), "alpha==1.1.0")
    code, out, _err = run_cli(capfd, "doctor")
    assert code == 1
    assert out.splitlines() == [
        f"problem m [default, py{XYZ}]: {built}",
        "    alpha: locked at 1.0.0, found 1.1.0 in the environment",
        "    fix: modelenv doctor --fix m",
    ]


def test_doctor_accepts_packages_reused_from_the_host(
    project: Path, wheelhouse: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    base = make_base(tmp_path / "base", wheelhouse, "alpha==1.0.0")
    write_spec(project, "m", SPEC)
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    code, out, err = run_cli(capfd, "create", "m", *idx(wheelhouse), "--base-python", str(base))
    assert code == 0, err
    env = Path(out.strip().splitlines()[-1])
    listed = by_path(list_json(capfd))[str(env)]
    assert (listed["installed"], listed["reused"]) == (1, 1)
    code, out, _err = run_cli(capfd, "list")
    assert table_rows(out)[1][5] == "1/1"
    code, out, err = run_cli(capfd, "doctor")
    assert code == 0, out + err
    assert out.strip() == f"ok      m [default, py{XYZ}]"
    # The host's copy changes under the environment: drift, named with where it is.
    newer = tmp_path / "newer"
    make_wheel(newer, "alpha", "1.1.0")
    uv_pip(
        "install", "--python", str(base), "--no-index", "--find-links", str(newer), "alpha==1.1.0"
    )
    code, out, _err = run_cli(capfd, "doctor")
    assert code == 1
    site = next((tmp_path / "base").glob("lib/python*/site-packages"))
    assert out.splitlines() == [
        f"problem m [default, py{XYZ}]: {env}",
        f"    alpha: locked at 1.0.0, found 1.1.0 from the host ({site})",
        "    fix: modelenv doctor --fix m",
    ]


def test_doctor_reports_broken_environments(
    built: Path, legacy: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capfd, "doctor")
    assert code == 1
    why = "    no valid record (a build that never finished): 'modelenv gc' removes it"
    # Legacy layouts and leftovers are not checked; v4 directories are.
    assert out.splitlines() == [
        f"problem bad [default, py3.11.7]: {legacy['invalid']}",
        why,
        f"problem bad [default, py3.12.1]: {legacy['old-format']}",
        why,
        f"ok      m [default, py{XYZ}]",
        f"problem norec [default, py3.11.7]: {legacy['no-record']}",
        why,
    ]
    assert err.strip() == "1 healthy, 3 with problems"
    code, out, _err = run_cli(capfd, "doctor", "m")
    assert code == 0
    assert out.strip() == f"ok      m [default, py{XYZ}]"


def test_doctor_reports_a_missing_lock_copy_and_interpreter(
    built: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (built / LOCK_NAME).unlink()
    code, out, _err = run_cli(capfd, "doctor")
    assert code == 1
    assert out.splitlines()[1:] == [
        f"    its lock copy {LOCK_NAME} is missing",
        f"    fix: modelenv create m --engine default --python {XY} --force",
    ]
    for name in ("python", f"python{XY}", "python3"):
        with_suffix = built / "bin" / name
        if os.path.lexists(with_suffix):
            with_suffix.unlink()
    code, out, _err = run_cli(capfd, "doctor")
    assert code == 1
    assert out.splitlines()[1:] == [
        f"    its interpreter {built / 'bin' / 'python'} does not start",
        f"    fix: modelenv create m --engine default --python {XY} --force",
    ]


def test_doctor_on_an_empty_home_and_a_bad_name(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capfd, "doctor")
    assert (code, out, err.strip()) == (0, "", f"no environments under {home()}")
    code, out, err = run_cli(capfd, "doctor", "m")
    assert (code, out, err.strip()) == (0, "", f"no environments under {home()} for m")
    code, _out, err = run_cli(capfd, "doctor", "../etc")
    assert code == 2
    assert "invalid model name '../etc'" in err


# ---------------------------------------------------------------- Xinference homes


@pytest.fixture()
def xinference_home(tmp_path: Path) -> Path:
    """A home as Xinference leaves it: v1 to v4 layouts, no modelenv records."""
    xh = tmp_path / "xinference"
    base = xh / "virtualenv"
    touch_tree(base / "got-ocr2", {"bin/python": "", "lib/t.py": "t\n"})
    touch_tree(base / "v2" / "qwen2.5-omni", {"bin/python": "", "lib/q.py": "q\n"})
    touch_tree(base / "v3" / "cosyvoice2-0.5b" / "3.10.14", {"bin/python": ""})
    touch_tree(base / "v4" / "whisper" / "transformers" / "3.11.9", {"bin/python": ""})
    touch_tree(xh / "cache" / "model.bin", {"w": "weights"})
    for folder, _dirs, _files in os.walk(xh):
        os.utime(folder, (T_OLD, T_OLD))
    return xh


def test_an_xinference_home_is_listed_read_only(
    xinference_home: Path, project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    xh = xinference_home
    base = xh / "virtualenv"
    before = snapshot(xh)
    doc = list_json(capfd, "--home", str(xh))
    assert doc["home"] == str(xh)
    assert [
        (e["model"], e["engine"], e["python"], e["layout"], e["status"])
        for e in doc["environments"]
    ] == [
        ("got-ocr2", None, None, "v1", "legacy"),
        ("qwen2.5-omni", None, None, "v2", "legacy"),
        ("cosyvoice2-0.5b", None, "3.10.14", "v3", "legacy"),
        ("whisper", "transformers", "3.11.9", "v4", "broken"),
    ]
    assert [e["path"] for e in doc["environments"]] == [
        str(base / "got-ocr2"),
        str(base / "v2" / "qwen2.5-omni"),
        str(base / "v3" / "cosyvoice2-0.5b" / "3.10.14"),
        str(base / "v4" / "whisper" / "transformers" / "3.11.9"),
    ]
    assert all(e["last_used"] == ISO[T_OLD] for e in doc["environments"])
    code, _out, err = run_cli(capfd, "list", "--home", str(xh))
    assert code == 0, err
    code, _out, _err = run_cli(capfd, "doctor", "--home", str(xh))
    assert code == 1
    assert snapshot(xh) == before  # nothing written, nothing touched
    # Removing is asked for explicitly, and takes only what matches.
    code, out, err = run_cli(capfd, "remove", "qwen2.5-omni", "--home", str(xh))
    assert code == 0, err
    assert out.startswith(f"removed {base / 'v2' / 'qwen2.5-omni'} (")
    after = snapshot(xh)
    gone = {k for k in before if k not in after}
    assert gone == {
        "virtualenv/v2/qwen2.5-omni",
        "virtualenv/v2/qwen2.5-omni/bin",
        "virtualenv/v2/qwen2.5-omni/bin/python",
        "virtualenv/v2/qwen2.5-omni/lib",
        "virtualenv/v2/qwen2.5-omni/lib/q.py",
    }
    assert set(after) - set(before) == set()
    assert all(after[k] == before[k] for k in after if k != "virtualenv/v2")


def test_an_xinference_v4_environment_named_by_x_y_is_listed(
    xinference_home: Path, project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    env = touch_tree(xinference_home / "virtualenv" / "v4" / "qwen3" / "vllm" / "3.12", {"x": ""})
    doc = list_json(capfd, "--home", str(xinference_home))
    assert str(env) in by_path(doc)


def test_an_xinference_environment_with_an_uppercase_name_can_be_removed(
    xinference_home: Path, project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    env = touch_tree(xinference_home / "virtualenv" / "v2" / "Qwen2-VL-Instruct", {"x": ""})
    assert str(env) in by_path(list_json(capfd, "--home", str(xinference_home)))
    xh = str(xinference_home)
    code, _out, err = run_cli(capfd, "remove", "Qwen2-VL-Instruct", "--home", xh)
    assert code == 0, err
    assert not env.exists()


# ---------------------------------------------------------------- leases from run and ensure_env


def test_run_holds_a_lease_while_the_command_runs(
    built: Path, project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # run becomes the command (exec): the shell's pid is the one run leased.
    inner = f"echo $$; exec {sys.executable} -m compiler list --json"
    proc = subprocess.run(
        [sys.executable, "-m", "compiler", "run", "m", *idx(wheelhouse), "--", "sh", "-c", inner],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    pid, document = proc.stdout.split("\n", 1)
    during = by_path(json.loads(document))[str(built)]
    assert during["in_use_by"] == [int(pid)]
    # Released when the command exits.
    assert by_path(list_json(capfd))[str(built)]["in_use_by"] == []
    assert os.listdir(leases.lease_dir(built)) == []


_ENSURE = """\
import sys, time, compiler
env = compiler.ensure_env("m")
print(env.path, flush=True)
time.sleep(60)
"""


def test_ensure_env_leases_the_environment_to_the_calling_process(
    built: Path, project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    set_used(built, T_OLD)
    proc = subprocess.Popen(
        [sys.executable, "-c", _ENSURE],
        cwd=project,
        stdout=subprocess.PIPE,
        text=True,
        env=cli_base_env(),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == str(built)
        env = by_path(list_json(capfd))[str(built)]
        assert env["in_use_by"] == [proc.pid]
        assert env["last_used"] != ISO[T_OLD]  # the use is recorded
        code, out, _err = run_cli(capfd, "list")
        assert table_rows(out)[1][4] == "ok (in use)"
        # remove and gc leave it alone.
        code, _out, err = run_cli(capfd, "remove", "m")
        assert code == 1
        assert f"in use by process {proc.pid}" in err
        code, out, err = run_cli(capfd, "gc", "--max-size", "0")
        assert (code, out) == (0, "")
        assert built.exists()
    finally:
        proc.kill()
        proc.wait()
    # The process is gone: so is its lease.
    assert by_path(list_json(capfd))[str(built)]["in_use_by"] == []
    assert os.listdir(leases.lease_dir(built)) == []
    code, _out, err = run_cli(capfd, "remove", "m")
    assert code == 0, err
    assert not built.exists()


@pytest.mark.parametrize("days", ["-1", "nan"])
def test_gc_older_than_refuses_what_is_not_a_number_of_days(
    project: Path, capfd: pytest.CaptureFixture[str], days: str
) -> None:
    code, out, err = run_cli(capfd, "gc", "--older-than", days)
    assert (code, out) == (2, "")
    assert f"--older-than takes a number of days, 0 or more; got {days}" in err
