"""Secrets: index credentials never in uv's argv (every local user reads it with
``ps``), and credentials of a direct URL given with -p never shown or stored."""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler.indexes import IndexSettings, Setting, mask_secrets

from .conftest import run_cli, write_spec
from .test_materialise import SPEC, idx
from .wheels import make_wheel

SECRETS = ("S3CRETPW", "PIPCONFPW", "UVEXTRAPW")


@pytest.fixture()
def uv_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, str]]]:
    """Every uv command modelenv runs: (argv, environment)."""
    seen: list[tuple[list[str], dict[str, str]]] = []
    real = subprocess.Popen

    # Popen: what subprocess.run and compiler.children both start processes with.
    def spy(argv: Any, *args: Any, **kw: Any) -> Any:
        if "uv" in Path(str(argv[0])).name:
            seen.append(([str(a) for a in argv], dict(kw.get("env") or {})))
        return real(argv, *args, **kw)

    monkeypatch.setattr(subprocess, "Popen", spy)
    return seen


def test_index_credentials_reach_uv_through_its_environment_never_its_argv(
    project: Path,
    wheelhouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    uv_calls: list[tuple[list[str], dict[str, str]]],
) -> None:
    write_spec(project, "m", SPEC)
    conf = project / "pip.conf"
    conf.write_text("[global]\nextra-index-url = http://bob:PIPCONFPW@127.0.0.1:9/extra\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_INDEX_URL", "http://alice:S3CRETPW@127.0.0.1:9/simple")
    monkeypatch.setenv("UV_INDEX", "private=http://carol:UVEXTRAPW@127.0.0.1:9/uv")
    monkeypatch.setenv("UV_EXTRA_INDEX_URL", "http://127.0.0.1:9/public")
    # Offline: uv never asks the (unreachable) indexes; the wheels come from find-links.
    links = ("--find-links", str(wheelhouse), "--offline")
    code, _out, err = run_cli(capfd, "lock", "m", *links)
    assert code == 0, err
    code, _out, err = run_cli(capfd, "create", "m", *links)
    assert code == 0, err
    commands = {argv[1:3][-1] for argv, _env in uv_calls}
    assert {"compile", "install"} <= commands
    for argv, env in uv_calls:
        for secret in SECRETS:
            assert not any(secret in a for a in argv), argv
        if argv[1:3] in (["pip", "compile"], ["pip", "install"]):
            assert env["UV_INDEX_URL"] == "http://alice:S3CRETPW@127.0.0.1:9/simple"
            # uv's own variables replace pip's extra indexes; UV_INDEX adds to
            # UV_EXTRA_INDEX_URL, first, as uv does.
            assert env["UV_EXTRA_INDEX_URL"] == (
                "http://carol:UVEXTRAPW@127.0.0.1:9/uv http://127.0.0.1:9/public"
            )
            assert "--index-url" not in argv and "--extra-index-url" not in argv


def test_urls_without_credentials_stay_flags() -> None:
    settings = IndexSettings(
        {
            "index_url": Setting("https://i/simple", "x"),
            "extra_index_urls": Setting(("https://u:pw@e/simple",), "x"),
        }
    )
    assert settings.uv_args() == ["--index-url", "https://i/simple"]
    assert settings.uv_env() == {"UV_EXTRA_INDEX_URL": "https://u:pw@e/simple"}


def test_mask_secrets() -> None:
    assert (
        mask_secrets("alpha @ http://alice:pw@host/a.whl; x @ git+https://tok@github.com/a/b")
        == "alpha @ http://alice:****@host/a.whl; x @ git+https://****@github.com/a/b"
    )
    assert mask_secrets("plain https://host/x user@example.org") == (
        "plain https://host/x user@example.org"
    )


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[str]:
    """alpha 1.0.0's wheel on a local HTTP server; its base URL with credentials."""
    folder = tmp_path / "served"
    make_wheel(folder, "alpha", "1.0.0")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://alice:S3CRETPW@127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_direct_url_credentials_are_masked_in_show_and_never_stored(
    project: Path,
    wheelhouse: Path,
    served: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    write_spec(project, "m", SPEC)
    direct = f"alpha @ {served}/alpha-1.0.0-py3-none-any.whl"
    masked = direct.replace("S3CRETPW", "****")
    for argv in (["show", "m"], ["show", "m", "--json"]):
        code, out, err = run_cli(capfd, *argv, "-p", direct, *idx(wheelhouse))
        assert code == 0, err
        assert "S3CRETPW" not in out + err
        assert masked in out
    code, out, err = run_cli(capfd, "create", "m", "-p", direct, *idx(wheelhouse))
    assert code == 0, err
    assert "S3CRETPW" not in out + err
    env = Path(out.strip().splitlines()[-1])
    assert masked in (env / "modelenv-lock.txt").read_text()
    home = env.parents[4]
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert b"S3CRETPW" not in path.read_bytes(), path
    code, out, err = run_cli(capfd, "doctor", "m")
    assert code == 0, out + err


@pytest.mark.parametrize(
    ("uv_index", "extra"),
    [
        ("http://host/simple/?x=1", ("http://host/simple/?x=1", "https://e/")),
        ("a=https://a/ b.c=https://b/?t=1", ("https://a/", "https://b/?t=1", "https://e/")),
    ],
)
def test_uv_index_is_read_as_uv_reads_it(uv_index: str, extra: tuple[str, ...]) -> None:
    from compiler.indexes import layered

    env = {"PIP_CONFIG_FILE": "/dev/null", "UV_EXTRA_INDEX_URL": "https://e/", "UV_INDEX": uv_index}
    settings = layered(IndexSettings(), IndexSettings(), env)
    assert settings.get("extra_index_urls") == extra
    assert settings.values["extra_index_urls"].source == "UV_INDEX and UV_EXTRA_INDEX_URL"


def test_a_relative_find_links_in_a_spec_means_beside_the_spec(
    project: Path,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    shutil.copytree(wheelhouse, project / "specs" / "wheels")
    write_spec(project, "m", SPEC + '\n[env.index]\nfind_links = ["wheels"]\n')
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    folders = ("--specs", "../specs", "--locks", "../locks", "--no-index")
    code, _out, err = run_cli(capfd, "lock", "m", *folders)
    assert code == 0, err
    code, out, err = run_cli(capfd, "show", "m", *folders)
    assert code == 0, err
    assert f"find-links: {project / 'specs' / 'wheels'}" in out
    code, _out, err = run_cli(capfd, "create", "m", *folders)
    assert code == 0, err


def test_a_find_links_folder_missing_on_this_host_is_left_out_with_a_warning(
    project: Path, wheelhouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # A committed spec (or target) may name the wheelhouse of the machine that
    # made it; uv would stop at a folder that does not exist, pip leaves it out.
    gone = project / "no-such-wheelhouse"
    index = f'\n[env.index]\nfind_links = ["{gone}", "{wheelhouse}"]\n'
    write_spec(project, "m", SPEC + index)
    code, _out, err = run_cli(capfd, "lock", "m", "--no-index")
    assert code == 0, err
    warning = f"find-links folder {gone} (from specs/m.toml [env.index]) does not exist here"
    assert warning in err
    code, _out, err = run_cli(capfd, "create", "m", "--no-index")
    assert code == 0, err
    assert warning in err
    code, out, err = run_cli(capfd, "show", "m", "--json")
    assert code == 0, err
    assert json.loads(out)["index"]["find_links"]["value"] == [str(wheelhouse)]
