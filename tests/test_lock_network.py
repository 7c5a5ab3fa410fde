"""Locking a bundled spec against the real index (run with: pytest -m network)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .conftest import REPO, run_cli


@pytest.mark.network
def test_lock_got_ocr2_against_pypi(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "specs").mkdir()
    for name in ("got-ocr2.toml", "_engines.toml"):
        shutil.copy(REPO / "specs" / name, tmp_path / "specs" / name)
    monkeypatch.chdir(tmp_path)

    code, _, err = run_cli(
        capsys, "lock", "got-ocr2", "--python", "3.11", "--index-url", "https://pypi.org/simple"
    )
    assert code == 0, err
    assert "1 locked, 0 up to date, 0 failed" in err
    path = tmp_path / "locks" / "got-ocr2" / "default" / "py3.11.txt"
    text = path.read_text()
    assert re.search(r"^transformers==4\.37\.2 \\\n    --hash=sha256:[0-9a-f]{64}", text, re.M)
    assert re.search(r"^tiktoken==0\.6\.0 \\$", text, re.M)
    assert re.search(r"^accelerate==0\.28\.0 \\$", text, re.M)
    assert "pypi.org" not in text
    assert "# modelenv-fingerprint: sha256:" in text
    assert run_cli(capsys, "lock", "--check", "got-ocr2", "--python", "3.11")[0] == 0


@pytest.mark.network
@pytest.mark.skipif(
    not list(Path("/opt/wheels").glob("torch-2.13.0+cpu-*.whl")),
    reason="the bundled target's torch build comes from /opt/wheels",
)
def test_lock_got_ocr2_for_the_bundled_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "specs" / "_targets").mkdir(parents=True)
    for name in ("got-ocr2.toml", "_engines.toml", "_targets/cpu-torch.toml"):
        shutil.copy(REPO / "specs" / name, tmp_path / "specs" / name)
    monkeypatch.chdir(tmp_path)

    code, _, err = run_cli(
        capsys,
        "lock",
        "got-ocr2",
        "--target",
        "cpu-torch",
        "--index-url",
        "https://pypi.org/simple",
    )
    assert code == 0, err
    text = (tmp_path / "locks" / "got-ocr2" / "default" / "cpu-torch.txt").read_text()
    # The target's torch build and numpy, its other versions kept; CPU only.
    assert re.search(r"^torch==2\.13\.0\+cpu \\$", text, re.M)
    assert re.search(r"^numpy==2\.4\.6 \\$", text, re.M)
    assert re.search(r"^transformers==4\.37\.2 \\$", text, re.M)
    assert "nvidia-" not in text and "sys_platform" not in text
    # Made from the same inputs as the committed lock.
    committed = (REPO / "locks" / "got-ocr2" / "default" / "cpu-torch.txt").read_text()
    fingerprint = re.compile(r"^# modelenv-fingerprint: .*$", re.M)
    assert fingerprint.findall(text) == fingerprint.findall(committed)
