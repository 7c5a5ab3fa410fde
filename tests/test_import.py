"""`modelenv import xinference`: the mapping rules one by one, the command, and
the whole real corpus (docs/import.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.importer import (
    CLASH,
    DUPLICATE,
    MERGED,
    SKIPPED,
    SUSPICIOUS,
    EngineNames,
    ImportFormatError,
    Mapped,
    assign_names,
    import_xinference,
    map_entry,
    normalise_name,
)
from compiler.names import is_model_name

from .conftest import run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "xinference-virtualenvs.json"
if not CORPUS.exists():  # a worktree elsewhere: the shared copy
    CORPUS = Path("/work/shared/corpus/xinference-virtualenvs.json")
DEFAULTS = {
    "vllm": ["vllm>=0.11.2"],
    "transformers": ["transformers>=4.53.3", "accelerate>=0.28.0"],
    "llama.cpp": ["xllamacpp>=0.2.6"],
    "sglang": ["sglang>=0.5.6"],
    "mlx": ["mlx-lm>=0.24.0"],
}


def engines() -> EngineNames:
    return EngineNames(DEFAULTS)


def entry(text: str) -> Mapped:
    return map_entry(text, engines())


def registry(*models: tuple[str, list[str]] | dict[str, Any], **extra: Any) -> dict[str, Any]:
    out = []
    for m in models:
        if isinstance(m, tuple):
            m = {"kind": "llm", "model_name": m[0], "virtualenv": {"packages": m[1]}}
        out.append(m)
    return {"source": "test", "models": out, "engine_packages": extra.pop("defaults", DEFAULTS)}


def spec_data(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


def only_spec(data: dict[str, Any]) -> dict[str, Any]:
    result = import_xinference(data)
    assert len(result.specs) == 1
    return spec_data(result.specs[0].toml(result.source))


# --- entries


@pytest.mark.parametrize(
    "text",
    [
        "#system_torch#",
        '#system_numpy# ; sys_platform == "linux"',
        "transformers>=4.51.0",
        "gruut[de,es,fr]",
        "wetext ; sys_platform != 'linux' or platform_machine != 'x86_64'",
    ],
)
def test_entries_without_engine_marker_stay_as_written(text: str) -> None:
    assert entry(text) == Mapped(None, text=text)


@pytest.mark.parametrize(
    ("marker", "engine"),
    [
        ("Transformers", "transformers"),
        ("TRANSFORMERS", "transformers"),
        ("vLLM", "vllm"),
        ("MLX", "mlx"),
        ("SGLang", "sglang"),
        ("llama.cpp", "llama.cpp"),
        ("llama_cpp", "llama.cpp"),
        ("flag", "flag"),
    ],
)
def test_engine_marker_names_are_normalised(marker: str, engine: str) -> None:
    assert entry(f'einops ; #engine# == "{marker}"') == Mapped(engine, text="einops")
    assert entry(f"#system_torch# ; #engine# == '{marker}'") == Mapped(
        engine, text="#system_torch#"
    )


def test_engine_marker_joined_to_pep508_keeps_the_standard_part() -> None:
    lead = entry('eva-decord ; #engine# == "Transformers" and sys_platform == "linux"')
    assert lead == Mapped("transformers", text='eva-decord ; sys_platform == "linux"')
    trail = entry('eva-decord ; sys_platform == "linux" and #engine# == "vllm"')
    assert trail == Mapped("vllm", text='eva-decord ; sys_platform == "linux"')
    grouped = entry('x ; #engine# == "vllm" and (os_name == "nt" or os_name == "posix")')
    assert grouped == Mapped("vllm", text='x ; (os_name == "nt" or os_name == "posix")')


@pytest.mark.parametrize(
    "marker",
    [
        '#engine# != "vllm"',
        '#engine# == "vllm" or sys_platform == "linux"',
        'sys_platform == "linux" or #engine# == "vllm"',
        'os_name == "nt" or sys_platform == "linux" and #engine# == "vllm"',
        '#engine# == "vllm" and #engine# == "sglang"',
        '"vllm" == #engine#',
    ],
)
def test_other_engine_markers_are_not_expressible(marker: str) -> None:
    mapped = entry(f"einops ; {marker}")
    assert mapped.text is None
    assert mapped.why is not None and mapped.why.startswith("engine marker")


@pytest.mark.parametrize(
    ("text", "engine"),
    [
        ('#vllm_dependencies# ; #engine# == "vllm"', "vllm"),
        ('#llama_cpp_dependencies# ; #engine# == "llama.cpp"', "llama.cpp"),
        ('#transformers_dependencies# ; #engine# == "Transformers"', "transformers"),
        ('#flag_dependencies# ; #engine# == "flag"', "flag"),
    ],
)
def test_engine_placeholder_declares_the_variant(text: str, engine: str) -> None:
    assert entry(text) == Mapped(engine)


def test_bare_engine_placeholder_is_read_as_the_placeholder_and_flagged() -> None:
    mapped = entry('sglang_dependencies ; #engine# == "sglang"')
    assert mapped.engine == "sglang" and mapped.text is None and mapped.why is None
    assert mapped.suspicious is not None and "'#' are missing" in mapped.suspicious
    # Not an engine this registry knows, nor the marker's: a package like any other.
    assert entry('foo_dependencies ; #engine# == "vllm"') == Mapped("vllm", text="foo_dependencies")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("#vllm_dependencies#", "outside a '#engine# == ...' marker"),
        ('#vllm_dependencies# ; #engine# == "sglang"', "under engine 'sglang'"),
        ('#vllm_dependencies# ; #engine# == "vllm" and os_name == "nt"', "cannot be conditional"),
    ],
)
def test_engine_placeholder_elsewhere_is_not_expressible(text: str, why: str) -> None:
    mapped = entry(text)
    assert mapped.text is None
    assert mapped.why is not None and why in mapped.why


@pytest.mark.parametrize(
    ("text", "engine", "expected"),
    [
        ("bitsandbytes>=0.49.2 ; has_cuda", None, "bitsandbytes>=0.49.2 ; has_cuda"),
        ("deepdoc-lib~=0.2.2 ; not has_cuda", None, "deepdoc-lib~=0.2.2 ; not has_cuda"),
        ('sgl_kernel ; cuda_version < "13.0"', None, 'sgl_kernel ; cuda_version < "13.0"'),
        ('x ; #engine# == "vllm" and has_npu', "vllm", "x ; has_npu"),
        (
            'a @ https://e.org/a-1.0-py3-none-any.whl ; #engine# == "sglang" and'
            ' cuda_version == "13.0" and platform_machine == "x86_64"',
            "sglang",
            'a @ https://e.org/a-1.0-py3-none-any.whl ; cuda_version == "13.0" and'
            ' platform_machine == "x86_64"',
        ),
    ],
)
def test_host_fact_markers_are_kept(text: str, engine: str | None, expected: str) -> None:
    """Markers may test the host facts of compiler/markers.py (docs/spec.md)."""
    assert entry(text) == Mapped(engine, text=expected)


def test_an_unknown_host_fact_is_not_expressible() -> None:
    mapped = entry('x ; cuda_arch == "sm_90" and #engine# == "SGLang"')
    assert (mapped.engine, mapped.text) == ("sglang", None)
    assert mapped.why == (
        "host-accelerator marker 'cuda_arch': modelenv's host facts are"
        " has_cuda, has_npu, cuda_version"
    )


def test_accelerator_word_inside_a_string_is_not_a_variable() -> None:
    assert entry('x ; platform_release == "has_cuda"').text == 'x ; platform_release == "has_cuda"'


@pytest.mark.parametrize(
    "text",
    [
        "diffusers @ git+https://github.com/huggingface/diffusers.git@refs/pull/14412/head",
        "git+https://github.com/huggingface/diffusers",
    ],
)
def test_vcs_urls_are_not_expressible(text: str) -> None:
    mapped = entry(text)
    assert mapped.text is None
    assert (
        mapped.why == "VCS URL: it has no hash, and environments are installed with hashes required"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "en_core_web_sm@https://example.org/en_core_web_sm-3.8.0-py3-none-any.whl",
            "en_core_web_sm@https://example.org/en_core_web_sm-3.8.0-py3-none-any.whl",
        ),
        (
            "pkg @ file:///wheels/pkg-1.0-py3-none-any.whl",
            "pkg @ file:///wheels/pkg-1.0-py3-none-any.whl",
        ),
        (
            # A bare wheel URL is named after its file, as PEP 508 needs.
            "https://example.org/sgl_kernel-0.3.21-cp310-abi3-manylinux2014_x86_64.whl",
            "sgl_kernel @ https://example.org/sgl_kernel-0.3.21-cp310-abi3-manylinux2014_x86_64.whl",
        ),
    ],
)
def test_direct_urls_to_files_are_kept(text: str, expected: str) -> None:
    mapped = entry(text)
    assert (mapped.text, mapped.why) == (expected, None)


def test_a_bare_url_that_is_not_a_wheel_is_not_expressible() -> None:
    mapped = entry("https://example.org/downloads/pkg.tar.gz")
    assert mapped.text is None
    assert mapped.why == "direct URL without 'NAME @' that is not a wheel: name unknown"


def test_url_and_accelerator_reasons_are_both_given() -> None:
    mapped = entry('git+https://e.org/k ; #engine# == "sglang" and cuda_arch == "sm_90"')
    assert mapped.engine == "sglang"
    assert mapped.why is not None
    assert mapped.why.startswith("VCS URL") and "'cuda_arch'" in mapped.why


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("numpy>=", "invalid requirement"),
        ("#other_thing#", "unknown placeholder"),
        ("x ; ", "empty marker"),
        ("x ; some_variable == '1'", "invalid requirement"),
    ],
)
def test_entries_modelenv_rejects_are_reported_with_its_message(text: str, why: str) -> None:
    mapped = entry(text)
    assert mapped.text is None
    assert mapped.why is not None and why in mapped.why


def test_a_non_string_entry_is_reported() -> None:
    assert map_entry(3, engines()).why == "expected a string, got int"


# --- names


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Belle-whisper-large-v3-zh", "belle-whisper-large-v3-zh"),
        ("FLUX.1-schnell", "flux.1-schnell"),
        ("bce-embedding-base_v1", "bce-embedding-base_v1"),
        ("Qwen2.5 VL / 7B", "qwen2.5-vl-7b"),
        ("..hidden..name", "hidden.name"),
        ("-x", "x"),
        (" GLM (4.6) ", "glm-4.6"),
        ("a b!", "a-b"),
        ("éé", ""),
    ],
)
def test_normalise_name(raw: str, name: str) -> None:
    assert normalise_name(raw) == name


def test_name_clashes_get_a_numbered_suffix_deterministically() -> None:
    names, findings = assign_names(["Qwen-7B", "qwen-7b", "QWEN-7b", "qwen-7b-2", "éé"])
    # The name that is already valid keeps it; an original "-2" name is not taken
    # from its owner; the others follow in source order.
    assert names == {
        "qwen-7b": "qwen-7b",
        "qwen-7b-2": "qwen-7b-2",
        "Qwen-7B": "qwen-7b-3",
        "QWEN-7b": "qwen-7b-4",
        "éé": "model",
    }
    assert [(f.model, f.entry, f.kind) for f in findings] == [
        ("qwen-7b-3", "Qwen-7B", CLASH),
        ("qwen-7b-4", "QWEN-7b", CLASH),
    ]
    assert findings[0].why == "renamed: 'Qwen-7B' normalises to 'qwen-7b', which 'qwen-7b' has"
    assert assign_names(["QWEN-7b", "Qwen-7B", "qwen-7b"])[0] == {
        "qwen-7b": "qwen-7b",
        "QWEN-7b": "qwen-7b-2",
        "Qwen-7B": "qwen-7b-3",
    }


@given(st.lists(st.text(min_size=1, max_size=140), max_size=12, unique=True))
def test_assigned_names_are_valid_and_distinct(originals: list[str]) -> None:
    for o in originals:
        if is_model_name(o):
            assert normalise_name(o) == o
    names, findings = assign_names(originals)
    assert set(names) == set(originals)
    assert len(set(names.values())) == len(originals)
    assert all(is_model_name(n) for n in names.values())
    assert len(findings) == sum(1 for o in originals if names[o] != (normalise_name(o) or "model"))


# --- whole registries


def test_a_model_maps_to_env_engines_and_index() -> None:
    data = only_spec(
        registry(
            {
                "kind": "llm",
                "model_name": "GLM-X",
                "virtualenv": {
                    "packages": [
                        "transformers>=4.51.0",
                        "#system_torch#",
                        '#vllm_dependencies# ; #engine# == "vllm"',
                        '#system_numpy# ; #engine# == "vLLM"',
                        '#transformers_dependencies# ; #engine# == "Transformers"',
                        'FlagEmbedding ; #engine# == "flag"',
                        "bitsandbytes ; has_cuda",
                    ],
                    "extra_index_url": ["https://a.example/simple", "https://b.example/simple"],
                    "index_strategy": "unsafe-best-match",
                    "no_build_isolation": True,
                },
            }
        )
    )
    assert data == {
        "model": {"name": "glm-x", "description": "GLM-X: Xinference llm model"},
        "env": {
            # A host fact in a marker is kept (compiler/markers.py).
            "packages": ["transformers>=4.51.0", "#system_torch#", "bitsandbytes ; has_cuda"],
            "index": {
                "extra_urls": ["https://a.example/simple", "https://b.example/simple"],
                "strategy": "unsafe-best-match",
                "no_build_isolation": True,
            },
        },
        # One record naming engines: Xinference runs it only on one of them.
        "default": {"enabled": False},
        "engines": {
            # No '#flag_dependencies#': the engine's defaults are refused.
            "flag": {"defaults": False, "packages": ["FlagEmbedding"]},
            "transformers": {"packages": []},
            "vllm": {"packages": ["#system_numpy#"]},
        },
    }


def test_left_out_entries_stay_in_the_spec_as_comments() -> None:
    result = import_xinference(
        registry(
            (
                "m",
                [
                    "einops",
                    'bitsandbytes ; cuda_arch == "sm_90"',
                    'x @ git+https://e.org/x ; #engine# == "vllm"',
                ],
            )
        )
    )
    text = result.specs[0].toml(result.source)
    assert '#   "bitsandbytes ; cuda_arch == \\"sm_90\\"": host-accelerator marker' in text
    assert text.index("bitsandbytes") < text.index("[engines.vllm]") < text.index("x @ git+https")
    assert [str(f) for f in result.unexpressible] == [
        "m: bitsandbytes ; cuda_arch == \"sm_90\": host-accelerator marker 'cuda_arch':"
        " modelenv's host facts are has_cuda, has_npu, cuda_version",
        'm: x @ git+https://e.org/x ; #engine# == "vllm": VCS URL: it has no hash,'
        " and environments are installed with hashes required",
    ]
    # The engine still gets its table: the model does run on it.
    assert spec_data(text)["engines"] == {"vllm": {"defaults": False, "packages": []}}


def test_records_of_one_model_are_merged() -> None:
    result = import_xinference(
        registry(
            ("whisper-tiny", ["transformers", "accelerate", "#system_torch#"]),
            ("other", ["einops"]),
            (
                "whisper-tiny",
                [
                    'mlx-whisper ; #engine# == "MLX"',
                    "soundfile",
                    '#system_numpy# ; #engine# == "MLX"',
                ],
            ),
            ("whisper-tiny", ["librosa"]),
        )
    )
    assert [s.name for s in result.specs] == ["whisper-tiny", "other"]
    data = spec_data(result.specs[0].toml(result.source))
    # Every record the same way: one naming engines goes to those engines, one
    # naming none to the default variant only ([default]); nothing serves both.
    assert "env" not in data
    assert data["default"] == {
        "packages": ["transformers", "accelerate", "#system_torch#", "librosa"]
    }
    assert data["engines"] == {
        "mlx": {"defaults": False, "packages": ["mlx-whisper", "soundfile", "#system_numpy#"]}
    }
    merged = result.of_kind(MERGED)
    assert [(f.model, f.entry) for f in merged] == [("whisper-tiny", "whisper-tiny")]
    assert merged[0].why.startswith("3 records merged")


def test_duplicates_are_kept_once_and_conflicts_reported() -> None:
    result = import_xinference(
        registry(
            (
                "m",
                [
                    "einops",
                    "einops",
                    "Pillow",
                    "pillow==11.3.0",
                    "qwen-asr>=1",
                    "qwen-asr[vllm]<2",
                    "#system_numpy#",
                    "numpy<2",
                    'six ; python_version < "3.12"',
                    "six",
                    'pillow ; #engine# == "vllm"',
                ],
            ),
        )
    )
    data = spec_data(result.specs[0].toml(result.source))
    # Two plain entries for one package become one asking for both, as pip
    # installing both would; a placeholder or another marker cannot be joined.
    assert data["env"]["packages"] == [
        "einops",
        "Pillow==11.3.0",
        "qwen-asr[vllm]<2,>=1",
        "#system_numpy#",
        'six ; python_version < "3.12"',
    ]
    assert data["engines"]["vllm"]["packages"] == ["pillow"]
    assert [f.why for f in result.unexpressible] == [
        "'numpy' is already listed as '#system_numpy#' in the same table;"
        " modelenv lists a package once per table, or once per marker",
        "'six' is already listed as 'six ; python_version < \"3.12\"' in the same table;"
        " modelenv lists a package once per table, or once per marker",
    ]
    assert [f.why for f in result.of_kind(DUPLICATE)] == [
        "listed twice; kept once",
        "combined with 'Pillow' as 'Pillow==11.3.0'",
        "combined with 'qwen-asr>=1' as 'qwen-asr[vllm]<2,>=1'",
    ]


def test_engines_file_from_the_defaults_and_the_markers() -> None:
    result = import_xinference(
        registry(
            (
                "m",
                [
                    '#sglang_dependencies# ; #engine# == "SGLang"',
                    'FlagEmbedding ; #engine# == "flag"',
                ],
            ),
            defaults={
                "SGLang": ["sglang>=0.5.6", 'sgl_kernel ; cuda_version < "13.0"', "numpy<2.3"],
                "llama.cpp": ["xllamacpp>=0.2.6"],
            },
        )
    )
    text = result.engines_toml()
    assert tomllib.loads(text) == {
        "sglang": {
            "packages": ["sglang>=0.5.6", 'sgl_kernel ; cuda_version < "13.0"', "numpy<2.3"]
        },
        "llama.cpp": {"packages": ["xllamacpp>=0.2.6"]},
        "flag": {"packages": []},
    }
    assert result.engines_without_defaults == ["flag"]
    assert result.unexpressible == []
    assert "# No defaults in the source" in text


def test_index_settings_that_cannot_be_mapped_are_reported() -> None:
    result = import_xinference(
        registry(
            {
                "model_name": "m",
                "virtualenv": {"packages": ["einops"], "index_strategy": "best", "pip_args": "-x"},
            },
            {
                "model_name": "m",
                "virtualenv": {"packages": [], "index_url": "https://a/simple"},
            },
            {
                "model_name": "m",
                "virtualenv": {"packages": [], "index_url": "https://b/simple"},
            },
        )
    )
    assert [str(f) for f in result.unexpressible] == [
        "m: index_strategy = \"best\": expected 'first-index' or 'unsafe-first-match'"
        " or 'unsafe-best-match'",
        "m: pip_args = \"-x\": unknown setting 'pip_args'",
        "m: index_url = \"https://b/simple\": conflicts with 'https://a/simple' from an"
        " earlier record",
    ]
    assert spec_data(result.specs[0].toml(result.source))["env"]["index"] == {
        "url": "https://a/simple"
    }


def test_a_model_with_nothing_expressible_is_skipped() -> None:
    result = import_xinference(registry(("m", ["git+https://e.org/x"]), ("n", ["einops"])))
    assert [s.name for s in result.specs] == ["n"]
    assert [(f.model, f.kind) for f in result.skipped] == [("m", SKIPPED)]


def test_strings_are_escaped_for_toml() -> None:
    data = only_spec(
        registry({"kind": 'a"b\\c\x7f', "model_name": "M\x01", "virtualenv": {"packages": ["x"]}})
    )
    assert data["model"] == {"name": "m", "description": 'M\x01: Xinference a"b\\c\x7f model'}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a JSON object, got a list"),
        ({}, "'models': expected a list of models"),
        ({"models": [3]}, "'models[0]': expected an object, got a number"),
        ({"models": [{"model_name": ""}]}, "'models[0]'.model_name: expected a non-empty string"),
        (
            {"models": [{"model_name": "m", "virtualenv": {}}]},
            "'models[0]'.virtualenv: expected an object with a packages list",
        ),
        ({"models": [], "engine_packages": []}, "'engine_packages': expected an object"),
        ({"models": [], "engine_packages": {"x": "y"}}, "'engine_packages.x': expected a list"),
    ],
)
def test_not_a_registry(data: Any, message: str) -> None:
    with pytest.raises(ImportFormatError, match=None) as info:
        import_xinference(data)
    assert str(info.value).startswith(message)


# --- the command


def write_registry(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "registry.json"
    path.write_text(json.dumps(data))
    return path


def test_import_writes_valid_specs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    src = write_registry(
        tmp_path,
        registry(
            (
                "Qwen-7B",
                ['#vllm_dependencies# ; #engine# == "vllm"', 'bitsandbytes ; cuda_arch == "sm_90"'],
            ),
            ("qwen-7b", ["einops"]),
            ("w", ["soundfile", 'sglang_dependencies ; #engine# == "sglang"']),
        ),
    )
    code, out, err = run_cli(capsys, "import", "xinference", str(src))
    assert code == 0, err
    assert out == (
        'qwen-7b-2: bitsandbytes ; cuda_arch == "sm_90": host-accelerator marker'
        " 'cuda_arch': modelenv's host facts are has_cuda, has_npu, cuda_version\n"
    )
    assert err.splitlines() == [
        "modelenv: warning: qwen-7b-2: Qwen-7B: renamed: 'Qwen-7B' normalises to 'qwen-7b',"
        " which 'qwen-7b' has",
        'modelenv: warning: w: sglang_dependencies ; #engine# == "sglang": read as the'
        " placeholder '#sglang_dependencies#' (the '#' are missing in the source)",
        "3 specs written, 5 engines, 1 entries not expressible, 1 name clashes",
        "0 models merged from several records (-v lists them),"
        " 1 suspicious entries read as placeholders",
    ]
    specs = tmp_path / "specs"
    assert sorted(p.name for p in specs.iterdir()) == [
        "_engines.toml",
        "qwen-7b-2.toml",
        "qwen-7b.toml",
        "w.toml",
    ]
    assert run_cli(capsys, "validate")[0] == 0


def test_import_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_registry(tmp_path, registry(("a", ["einops"]), ("b", ["einops"])))
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.toml").write_text("mine\n")
    code, _, err = run_cli(capsys, "import", "xinference", str(src), "--out", str(out))
    assert code == 1
    assert "1 file already exist in" in err and "(b.toml); nothing was written" in err
    assert "hint: pass --force" in err
    assert sorted(p.name for p in out.iterdir()) == ["b.toml"]
    assert (out / "b.toml").read_text() == "mine\n"

    code, _, err = run_cli(capsys, "import", "xinference", str(src), "--out", str(out), "--force")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["_engines.toml", "a.toml", "b.toml"]
    assert "[model]" in (out / "b.toml").read_text()


def test_import_exits_1_when_a_model_has_nothing_expressible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_registry(tmp_path, registry(("m", ['b ; cuda_arch == "sm_90"']), ("n", ["x"])))
    code, _, err = run_cli(capsys, "import", "xinference", str(src), "--out", str(tmp_path / "o"))
    assert code == 1
    assert "modelenv: warning: m: m: nothing expressible: no spec written" in err
    assert (tmp_path / "o" / "n.toml").exists() and not (tmp_path / "o" / "m.toml").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ('{"models": 3}', "not an Xinference registry: 'models': expected a list of models"),
    ],
)
def test_import_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None, message: str
) -> None:
    src = tmp_path / "r.json"
    if isinstance(content, bytes):
        src.write_bytes(content)
    elif content is not None:
        src.write_text(content)
    code, out, err = run_cli(capsys, "import", "xinference", str(src), "--out", str(tmp_path / "o"))
    assert (code, out) == (2, "")
    assert message in err
    assert not (tmp_path / "o").exists()


def test_import_unknown_source_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "import", "ollama", str(tmp_path / "r.json"))
    assert code == 2
    assert "invalid choice: 'ollama'" in err


def test_import_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_registry(tmp_path, registry(("a", ["einops"])))
    code, _, err = run_cli(capsys, "import", "xinference", str(src), "--out", str(src))
    assert code == 2 and "not a folder" in err


# --- the real corpus


@pytest.mark.skipif(not CORPUS.exists(), reason="the Xinference corpus is not here")
def test_import_the_whole_xinference_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "specs"
    code, stdout, err = run_cli(capsys, "import", "xinference", str(CORPUS), "--out", str(out))
    assert code == 0, err
    summary = "331 specs written, 8 engines, 10 entries not expressible, 0 name clashes"
    assert summary in err.splitlines()
    assert len(stdout.splitlines()) == 10
    assert "24 models merged from several records (-v lists them), 19 suspicious entries" in err

    result = import_xinference(json.loads(CORPUS.read_text()))
    assert len(json.loads(CORPUS.read_text())["models"]) == 355
    assert (len(result.specs), len(result.engines)) == (331, 8)
    assert (len(result.unexpressible), len(result.clashes)) == (10, 0)
    assert (len(result.of_kind(SUSPICIOUS)), len(result.of_kind(MERGED))) == (19, 24)
    assert list(result.engines) == [
        "sglang",
        "vllm",
        "transformers",
        "sentence_transformers",
        "diffusers",
        "mlx",
        "llama.cpp",
        "flag",
    ]
    # Only VCS URLs are left out: the nine entries with host facts in their
    # markers (cuda_version, has_cuda, not has_cuda) are kept.
    assert all(f.why.startswith("VCS URL") for f in result.unexpressible)
    texts = {t for s in result.specs for t in s.env.packages + s.default.packages} | {
        t for s in result.specs for e in s.engines.values() for t in e.packages
    }
    texts |= {t for e in result.engines.values() for t in e.packages}
    facts = sorted(t for t in texts if "cuda" in t.split(";", 1)[-1])
    assert len(facts) == 7  # glm-4.6 and glm-4.7 share their two sgl_kernel wheels
    assert "deepdoc-lib[gpu]~=0.2.2 ; has_cuda" in facts
    assert "deepdoc-lib~=0.2.2 ; not has_cuda" in facts
    # Records scoped to their variants (docs/import.md, "Records and variants").
    engine_tables = [t for spec in result.specs for t in spec.engines.values()]
    assert (len(engine_tables), sum(not t.defaults for t in engine_tables)) == (715, 107)
    assert sum(not s.has_default and bool(s.env.packages) for s in result.specs) == 47
    assert sum(bool(s.default.packages) for s in result.specs) == 22
    assert len(list(out.glob("*.toml"))) == 332

    whisper = tomllib.loads((out / "whisper-tiny.toml").read_text())
    assert whisper["default"]["packages"] == [
        "transformers",
        "accelerate",
        "#system_torch#",
        "#system_numpy#",
    ]
    assert whisper["engines"] == {
        "mlx": {"defaults": False, "packages": ["mlx-whisper", "numba>=0.64.0", "#system_numpy#"]}
    }

    code, _, err = run_cli(capsys, "validate", str(out))
    assert code == 0, err
    assert err == "332 files valid\n"

    # Every spec loads with its engines: lock --check plans every variant (offline,
    # no uv) and finds each lock missing.
    locks = tmp_path / "locks"
    code, out_text, err = run_cli(
        capsys, "lock", "--check", "--specs", str(out), "--locks", str(locks)
    )
    assert code == 1
    assert len(out_text.splitlines()) + len(err.splitlines()) >= 784
    assert "784 of 784 locks missing, stale, edited or invalid" in out_text + err
