"""Interrupted network: a local package index (PEP 503, served over HTTP on
127.0.0.1 from a thread) that goes away, answers 500, loses its files or cuts
responses short in the middle of a resolution.

The failed ``lock`` says so in uv's words and leaves the previous lock byte for
byte; a ``create`` that needs the index fails cleanly and leaves the previous
environment at its final path; and once the spec is back as it was, the
previous lock checks, ``create`` is up to date without running uv at all, and
``run`` works, with no index.
"""

from __future__ import annotations

import hashlib
import html
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import compiler.uv
from compiler.store import read_record

from ..conftest import run_cli, write_spec
from .support import (
    XY,
    assert_clean,
    assert_environment_works,
    assert_no_broken_final_environment,
    created_path,
    env_dir,
    leftovers,
    lock_file,
    tmp_siblings,
)

SPEC = f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n'
SPEC_MORE = f'[env]\npython = ["{XY}"]\npackages = ["beta", "gamma"]\n'


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up on a cut response is part of the test


class Index:
    """A PEP 503 simple index over a folder of wheels, and the ways it fails."""

    MODES = ("up", "stopped", "http-500", "files-gone", "truncated", "half-way")

    def __init__(self, wheels: Path) -> None:
        self.wheels = wheels
        self.mode = "up"
        self.served = 0  # requests answered since the last mode change
        self.requests: list[str] = []
        index = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                index.requests.append(self.path)
                index.answer(self, head=False)

            def do_HEAD(self) -> None:
                index.answer(self, head=True)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"

    def set_mode(self, mode: str) -> None:
        assert mode in self.MODES
        self.mode, self.served = mode, 0
        if mode == "stopped":
            self.stop()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=10)

    # -- answers

    def _page(self, path: str) -> tuple[int, bytes, str]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        wheels = sorted(self.wheels.glob("*.whl"))
        if parts == ["simple"]:
            names = sorted({w.name.split("-")[0].replace("_", "-") for w in wheels})
            links = "".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in names)
            return 200, f"<html><body>\n{links}</body></html>\n".encode(), "text/html"
        if len(parts) == 2 and parts[0] == "simple":
            name = parts[1].replace("-", "_")
            found = [w for w in wheels if w.name.split("-")[0] == name]
            if not found:
                return 404, b"not found", "text/plain"
            links = "".join(
                f'<a href="/files/{html.escape(w.name)}#sha256='
                f'{hashlib.sha256(w.read_bytes()).hexdigest()}">{html.escape(w.name)}</a>\n'
                for w in found
            )
            return 200, f"<html><body>\n{links}</body></html>\n".encode(), "text/html"
        if len(parts) == 2 and parts[0] == "files" and (self.wheels / parts[1]).is_file():
            return 200, (self.wheels / parts[1]).read_bytes(), "application/octet-stream"
        return 404, b"not found", "text/plain"

    def answer(self, handler: BaseHTTPRequestHandler, *, head: bool) -> None:
        status, body, kind = self._page(handler.path)
        is_file = handler.path.startswith("/files/")
        self.served += 1
        if self.mode == "http-500" or (self.mode == "half-way" and self.served > 1):
            status, body, kind = 500, b"internal server error", "text/plain"
        elif self.mode == "files-gone" and is_file:
            status, body, kind = 404, b"gone", "text/plain"
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Cache-Control", "no-cache")
        if head:
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            return
        if self.mode == "truncated" and status == 200:
            # Promise the whole body, send a part, hang up.
            handler.send_header("Content-Length", str(len(body) + 1000))
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@pytest.fixture()
def index(wheelhouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Index]:
    # A cache of its own: nothing the index served before this test may stand in for it.
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    monkeypatch.setenv("UV_HTTP_TIMEOUT", "10")
    served = Index(wheelhouse)
    yield served
    served.stop()


def idx_url(index: Index) -> tuple[str, ...]:
    return ("--index-url", index.url)


@pytest.mark.parametrize("failure", ["stopped", "http-500", "files-gone", "truncated", "half-way"])
def test_an_index_that_fails_mid_resolution_leaves_the_previous_lock_and_environment(
    project: Path,
    index: Index,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    # Locked and built through the index while it works.
    write_spec(project, "m", SPEC)
    code, _out, err = run_cli(capfd, "lock", *idx_url(index))
    assert code == 0, err
    assert any(r.startswith("/files/") for r in index.requests)  # it really served
    code, out, err = run_cli(capfd, "create", "m", *idx_url(index))
    assert code == 0, err
    env = created_path(out)
    old_lock = lock_file(project).read_bytes()
    old_record = read_record(env)

    # The index fails; a new requirement needs a resolution.
    index.set_mode(failure)
    write_spec(project, "m", SPEC_MORE)
    code, out, err = run_cli(capfd, "lock", *idx_url(index))
    assert_clean(code, err, allowed=(1,))
    assert "resolution failed" in err, err
    assert re.search(r"^ {4}\S", err, re.MULTILINE), err  # uv's own message, indented
    assert lock_file(project).read_bytes() == old_lock
    assert tmp_siblings(project / "locks") == []

    # create needs a resolution too, and fails the same clean way.
    for argv in (["create", "m"], ["run", "m", "--", "python", "-c", "print('ran')"]):
        code, out, err = run_cli(capfd, argv[0], *idx_url(index), *argv[1:])
        assert_clean(code, err, allowed=(1,))
        assert "resolution failed" in err, err
        assert "ran" not in out
        assert read_record(env_dir()) == old_record
        assert leftovers() == []
    assert_no_broken_final_environment(capfd)
    assert_environment_works(env_dir(), {"alpha": "1.0.0", "beta": "2.0.0"})

    # The spec back as it was: the previous lock still holds, and the previous
    # environment is up to date without uv (so without the index).
    write_spec(project, "m", SPEC)
    code, out, err = run_cli(capfd, "lock", "--check")
    assert code == 0, out + err

    def no_uv(*args: object, **kw: object) -> None:
        raise AssertionError(f"uv ran for an up-to-date environment: {args}")

    monkeypatch.setattr(compiler.uv, "run", no_uv)
    code, out, err = run_cli(capfd, "create", "m", *idx_url(index))
    assert code == 0, err
    assert "up to date" in err and created_path(out) == env
    code, out, err = run_cli(
        capfd,
        "run",
        *idx_url(index),
        "m",
        "--",
        "python",
        "-c",
        "import alpha, beta; print(alpha.__version__, beta.__version__)",
    )
    assert code == 0, err
    assert out.split() == ["1.0.0", "2.0.0"]
    # The same environment: only the launch identities of the spec, written
    # anew with its old bytes, were brought up to date (compiler.refresh).
    record = read_record(env)
    assert record is not None and old_record is not None
    unchanged = {k: v for k, v in record.items() if k not in ("launch", "checksum")}
    assert unchanged == {k: v for k, v in old_record.items() if k not in ("launch", "checksum")}


@pytest.mark.parametrize("failure", ["stopped", "http-500", "truncated"])
def test_a_fresh_build_from_the_committed_lock_without_its_index_fails_cleanly(
    project: Path, index: Index, capfd: pytest.CaptureFixture[str], failure: str
) -> None:
    """The lock is there, but the wheels are not in uv's cache and the index is
    failing: create ends in a clean error naming a package, and leaves nothing."""
    write_spec(project, "m", SPEC)
    code, _out, err = run_cli(capfd, "lock", *idx_url(index))
    assert code == 0, err
    index.set_mode(failure)
    code, out, err = run_cli(capfd, "create", "m", *idx_url(index))
    assert_clean(code, err)
    if code == 0:  # uv found all it needed in its cache after all
        assert_environment_works(created_path(out), {"alpha": "1.0.0", "beta": "2.0.0"})
    else:
        assert code == 1 and ("alpha" in err or "beta" in err), err
        assert not env_dir().exists()
        assert leftovers() == []
    assert_no_broken_final_environment(capfd)


def locked_with_an_empty_cache(
    project: Path,
    index: Index,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The spec locked through the index, then a uv cache that holds nothing."""
    write_spec(project, "m", SPEC)
    code, _out, err = run_cli(capfd, "lock", *idx_url(index))
    assert code == 0, err
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))


def test_a_build_takes_what_uv_has_without_the_index_and_the_rest_from_it(
    project: Path,
    index: Index,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every file is pinned by its hash: an install first takes what uv's cache
    holds without asking the index (which serves no-cache pages: uv would ask
    it for each of them again), and asks it only for what is missing."""
    # A cache that holds nothing: the index must be asked, and is.
    locked_with_an_empty_cache(project, index, tmp_path, capfd, monkeypatch)
    asked = index.served
    code, out, err = run_cli(capfd, "create", "m", *idx_url(index))
    assert code == 0, err
    assert index.served > asked
    assert_environment_works(created_path(out), {"alpha": "1.0.0", "beta": "2.0.0"})
    # Now uv's cache holds every file: a rebuild never asks the index.
    asked = index.served
    code, out, err = run_cli(capfd, "create", "m", "--force", *idx_url(index))
    assert code == 0, err
    assert index.served == asked
    assert_environment_works(created_path(out), {"alpha": "1.0.0", "beta": "2.0.0"})


def locked_beside_altered_wheels(
    project: Path,
    index: Index,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The spec locked through the index, an empty uv cache, and a find-links
    folder (returned) whose wheels are not the locked bytes."""
    locked_with_an_empty_cache(project, index, tmp_path, capfd, monkeypatch)
    local = tmp_path / "local-wheels"
    local.mkdir()
    for wheel in index.wheels.glob("*.whl"):
        (local / wheel.name).write_bytes(wheel.read_bytes() + b"\0")  # not the locked bytes
    return local


def test_a_tampered_local_file_is_reported_as_such_when_the_index_is_unreachable(
    project: Path,
    index: Index,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The install first takes what find-links and uv's cache hold; when a file
    there does not match the lock's hash and the index cannot be reached to ask
    for the right one, the error is the mismatch (the lock or a file was
    tampered with), not only the unreachable index."""
    local = locked_beside_altered_wheels(project, index, tmp_path, capfd, monkeypatch)
    index.set_mode("stopped")
    code, _out, err = run_cli(capfd, "create", "m", *idx_url(index), "--find-links", str(local))
    assert code == 1, err
    assert "hash mismatch means the lock or the index was tampered with" in err, err
    assert not env_dir().exists()
    assert leftovers() == []


def test_a_tampered_local_file_is_named_when_the_index_serves_the_right_one(
    project: Path,
    index: Index,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A find-links file whose hash is not the lock's is passed over for the
    index's, and the build says so (someone altered a file the host keeps)."""
    local = locked_beside_altered_wheels(project, index, tmp_path, capfd, monkeypatch)
    code, out, err = run_cli(capfd, "create", "m", *idx_url(index), "--find-links", str(local))
    assert code == 0, err
    assert "does not match the lock's hash (tampered with, or rebuilt)" in err, err
    assert_environment_works(created_path(out), {"alpha": "1.0.0", "beta": "2.0.0"})
