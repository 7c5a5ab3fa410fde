"""Import fidelity on Xinference's real records (docs/import.md, "Models
declared more than once"): each variant of an imported model asks for what
Xinference installs for that record and engine, and nothing else.

Xinference installs one record's ``packages`` for the engine the model is
launched with: entries under ``#engine# == "X"`` only for X, engine-less ones
always, and an engine's defaults only through its ``#X_dependencies#``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compiler.importer import import_xinference

from .conftest import run_cli
from .test_import import CORPUS

MODELS = ("Qwen3-TTS-12Hz-1.7B-VoiceDesign", "whisper-medium.en", "Qwen3-ASR-0.6B")

# (spec, variant) -> the requirements, in order, as Xinference would install them.
EXPECTED: dict[tuple[str, str], list[str]] = {
    # Record 1 names no engine: the default variant. Record 2 names MLX: the
    # mlx variant, with its engine-less "soundfile" and not qwen-tts (which
    # pins transformers==4.57.3 against mlx-audio's >=5.5.0), nor mlx-lm.
    ("qwen3-tts-12hz-1.7b-voicedesign", "default"): [
        "qwen-tts",
        "#system_torch#",
        "#system_numpy#",
        "#system_pandas#",
    ],
    ("qwen3-tts-12hz-1.7b-voicedesign", "mlx"): ["mlx-audio[tts]==0.4.6", "soundfile"],
    # The mlx variant gets no torch (hence none of its nvidia-* pins).
    ("whisper-medium.en", "default"): [
        "transformers",
        "accelerate",
        "#system_torch#",
        "#system_numpy#",
    ],
    ("whisper-medium.en", "mlx"): ["mlx-whisper", "numba>=0.64.0", "#system_numpy#"],
    # Every record names an engine: no default variant. 'qwen-asr' and
    # 'qwen-asr[vllm]' both install for vLLM: one entry asking for both.
    ("qwen3-asr-0.6b", "vllm"): [
        "qwen-asr[vllm]",
        "#system_torch#",
        "#system_numpy#",
        "#system_pandas#",
    ],
    ("qwen3-asr-0.6b", "mlx"): ["mlx-audio[stt]==0.4.6"],
}


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = json.loads(CORPUS.read_text())
    data["models"] = [m for m in data["models"] if m["model_name"] in MODELS]
    result = import_xinference(data)
    folder = tmp_path_factory.mktemp("fidelity") / "specs"
    folder.mkdir()
    for name, text in result.files().items():
        (folder / name).write_text(text)
    return folder


def show(capsys: pytest.CaptureFixture[str], specs: Path, *args: str) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "show", "--specs", str(specs), *args, "--json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


@pytest.mark.parametrize(("model", "variant"), sorted(EXPECTED))
def test_each_variant_asks_for_what_xinference_installs(
    capsys: pytest.CaptureFixture[str], specs: Path, model: str, variant: str
) -> None:
    engine = () if variant == "default" else ("--engine", variant)
    doc = show(capsys, specs, model, *engine)
    assert [item["written"] for item in doc["requirements"]] == EXPECTED[model, variant]
    # Nothing from _engines.toml: none of these records asks for mlx or vllm defaults.
    assert all(item["layer"] != f"engine {variant}" for item in doc["requirements"])


def test_the_variants_are_exactly_those_the_records_serve(
    capsys: pytest.CaptureFixture[str], specs: Path
) -> None:
    from compiler.spec import load_engines, load_spec

    engines = load_engines(specs)
    found = {
        (path.stem, variant or "default")
        for path in specs.glob("[!_]*.toml")
        for variant in load_spec(path, engines).variants()
    }
    assert found == set(EXPECTED)
    code, _, err = run_cli(capsys, "show", "--specs", str(specs), "qwen3-asr-0.6b")
    assert code == 2
    assert (
        "model 'qwen3-asr-0.6b' has no default variant (env.packages is empty);"
        " choose an engine: mlx, vllm"
    ) in err


def test_engine_defaults_are_taken_where_a_record_asks_for_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Z-Image: '#diffusers_dependencies#' for diffusers only; its SGLang and
    vLLM entries do not bring sglang's defaults (nor their 'zmq' shim)."""
    data = json.loads(CORPUS.read_text())
    data["models"] = [m for m in data["models"] if m["model_name"] == "Z-Image"]
    folder = tmp_path / "specs"
    folder.mkdir()
    for name, text in import_xinference(data).files().items():
        (folder / name).write_text(text)
    diffusers = show(capsys, folder, "z-image", "--engine", "diffusers")
    assert [(i["written"], i["layer"]) for i in diffusers["requirements"]][:2] == [
        ("diffusers>=0.32.0", "engine diffusers"),
        ("huggingface-hub<1.0", "engine diffusers"),
    ]
    sglang = show(capsys, folder, "z-image", "--engine", "sglang")
    assert [i["written"] for i in sglang["requirements"]] == ["sglang[diffusion]"]
    vllm = show(capsys, folder, "z-image", "--engine", "vllm")
    assert [i["written"] for i in vllm["requirements"]] == [
        "vllm-omni==0.24.*",
        "vllm==0.24.*",
        "transformers>=4.51.0",
        "#system_torch#",
        "#system_numpy#",
    ]
