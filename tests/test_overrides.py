"""Overrides (file layers and -p) as ``modelenv show`` reports them."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import pytest

from compiler import plan as plan_module
from compiler.host import Interpreter

from .conftest import run_cli, write_spec

SPEC_BODY = """\
[env]
python = ["3.10", "3.11"]
packages = ["transformers==4.37.2", "tiktoken==0.6.0", "Foo_Bar>=1"]
constraints = ["numpy<2"]

[engines.transformers]
packages = ["peft"]
"""

DOC_KEYS = {
    "schema_version",
    "model",
    "engine",
    "python",
    "base_interpreter",
    "target",
    "requirements",
    "constraints",
    "removed",
    "index",
    "fingerprint",
    "overridden",
    "warnings",
}
ITEM_KEYS = {"requirement", "written", "key", "source", "layer", "replaces"}


@pytest.fixture()
def model(project: Path) -> Path:
    write_spec(project, "m", SPEC_BODY)
    write_spec(project, "other", '[env]\npackages = ["alpha"]\n')
    return project


@pytest.fixture()
def home() -> Path:
    path = Path(os.environ["MODELENV_HOME"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def show(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli(capsys, "show", *args, "--json")
    assert code == 0, err
    return code, json.loads(out), err


def by_key(doc: dict[str, Any], table: str = "requirements") -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in doc[table]}


def reqs(doc: dict[str, Any]) -> list[str]:
    return [item["requirement"] for item in doc["requirements"]]


def test_document_shape_without_overrides(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    _, doc, err = show(capsys, "m")
    assert err == ""
    assert set(doc) == DOC_KEYS
    assert doc["model"] == "m"
    assert doc["engine"] == "default"
    assert doc["python"] == "3.11"
    assert doc["base_interpreter"]["version"] == platform.python_version()
    assert set(doc["base_interpreter"]) == {"path", "version"}
    assert doc["requirements"] == [
        {
            "requirement": "transformers==4.37.2",
            "written": "transformers==4.37.2",
            "key": "transformers",
            "source": "specs/m.toml",
            "layer": "env",
            "replaces": [],
        },
        {
            "requirement": "tiktoken==0.6.0",
            "written": "tiktoken==0.6.0",
            "key": "tiktoken",
            "source": "specs/m.toml",
            "layer": "env",
            "replaces": [],
        },
        {
            "requirement": "Foo_Bar>=1",
            "written": "Foo_Bar>=1",
            "key": "foo-bar",
            "source": "specs/m.toml",
            "layer": "env",
            "replaces": [],
        },
    ]
    assert doc["constraints"] == [
        {
            "requirement": "numpy<2",
            "written": "numpy<2",
            "key": "numpy",
            "source": "specs/m.toml",
            "layer": "env",
            "replaces": [],
        }
    ]
    assert doc["removed"] == []
    assert doc["index"] == {}
    assert doc["fingerprint"].startswith("sha256:")
    assert len(doc["fingerprint"]) == len("sha256:") + 64
    assert doc["overridden"] is False
    assert doc["warnings"] == []


def test_text_output_without_overrides(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    _, doc, _ = show(capsys, "m")
    code, out, err = run_cli(capsys, "show", "m")
    assert code == 0
    assert err == ""
    base = doc["base_interpreter"]
    assert out == (
        "model:   m\n"
        "engine:  default\n"
        "python:  3.11\n"
        f"base:    {base['path']} (Python {base['version']})\n"
        "requirements:\n"
        "  transformers==4.37.2   (specs/m.toml [env])\n"
        "  tiktoken==0.6.0        (specs/m.toml [env])\n"
        "  Foo_Bar>=1             (specs/m.toml [env])\n"
        "constraints:\n"
        "  numpy<2   (specs/m.toml [env])\n"
        "index:\n"
        "  (uv defaults: https://pypi.org/simple)\n"
        f"fingerprint: {doc['fingerprint']}\n"
    )


def test_command_line_replacement_text_line(
    capsys: pytest.CaptureFixture[str], model: Path
) -> None:
    code, out, err = run_cli(capsys, "show", "m", "-p", "transformers==4.54.0")
    assert code == 0, err
    lines = out.splitlines()
    assert (
        "  transformers==4.54.0   (command line, replaces specs/m.toml [env]: transformers==4.37.2)"
        in lines
    )
    # the other rows are padded to the widest requirement
    assert "  tiktoken==0.6.0        (specs/m.toml [env])" in lines


def test_command_line_replacement_json(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    _, plain, _ = show(capsys, "m")
    _, doc, _ = show(capsys, "m", "-p", "transformers==4.54.0")
    assert reqs(doc) == ["transformers==4.54.0", "tiktoken==0.6.0", "Foo_Bar>=1"]
    assert doc["requirements"][0] == {
        "requirement": "transformers==4.54.0",
        "written": "transformers==4.54.0",
        "key": "transformers",
        "source": "command line",
        "layer": "",
        "replaces": [{"written": "transformers==4.37.2", "source": "specs/m.toml", "layer": "env"}],
    }
    assert doc["overridden"] is True
    # a lock is made from the spec alone: overrides never change the fingerprint
    assert doc["fingerprint"] == plain["fingerprint"]


def test_p_last_wins(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    _, doc, _ = show(capsys, "m", "-p", "transformers==4.50", "-p", "Transformers==4.54.0")
    item = by_key(doc)["transformers"]
    assert item["requirement"] == "Transformers==4.54.0"
    assert item["replaces"] == [
        {"written": "transformers==4.37.2", "source": "specs/m.toml", "layer": "env"},
        {"written": "transformers==4.50", "source": "command line", "layer": ""},
    ]
    code, out, _ = run_cli(
        capsys, "show", "m", "-p", "transformers==4.50", "-p", "Transformers==4.54.0"
    )
    assert code == 0
    assert "  Transformers==4.54.0   (command line, replaces command line: transformers==4.50)" in (
        out.splitlines()
    )


def test_p_adds_a_new_package_at_the_end(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    _, doc, _ = show(capsys, "m", "--package", "einops>=0.7")
    assert reqs(doc) == ["transformers==4.37.2", "tiktoken==0.6.0", "Foo_Bar>=1", "einops>=0.7"]
    assert by_key(doc)["einops"]["source"] == "command line"
    assert doc["overridden"] is True


def test_p_same_text_is_not_an_override(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    _, doc, _ = show(capsys, "m", "-p", "tiktoken==0.6.0")
    assert doc["overridden"] is False
    assert by_key(doc)["tiktoken"]["source"] == "command line"


def test_p_removal(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    _, doc, _ = show(capsys, "m", "-p", "!foo.bar")
    assert reqs(doc) == ["transformers==4.37.2", "tiktoken==0.6.0"]
    assert doc["removed"] == [{"key": "foo-bar", "source": "command line", "layer": ""}]
    assert doc["overridden"] is True
    code, out, _ = run_cli(capsys, "show", "m", "-p", "!foo.bar")
    assert code == 0
    assert "removed:\n  foo-bar   (command line)\nindex:" in out


def test_p_invalid_entry(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    code, out, err = run_cli(capsys, "show", "m", "-p", "transformers 4.54")
    assert code == 1
    assert out == ""
    assert err.startswith(
        "modelenv: error: command line: -p: invalid requirement 'transformers 4.54': "
    )
    assert "Traceback" not in err


def test_default_overrides_file_global_and_model_layers(
    capsys: pytest.CaptureFixture[str], model: Path, home: Path
) -> None:
    _, plain, _ = show(capsys, "m")
    path = home / "overrides.toml"
    path.write_text(
        """\
[global]
packages = ["tiktoken==0.7.0", "einops"]
constraints = ["numpy<1.27", "scipy<2"]

[models.m]
packages = ["transformers==4.54.0", "!foo-bar"]

[models.other]
packages = ["zzz-not-for-m"]
"""
    )
    shown = str(path)  # outside the project folder: shown in full
    _, doc, _ = show(capsys, "m")
    assert reqs(doc) == ["transformers==4.54.0", "tiktoken==0.7.0", "einops"]
    items = by_key(doc)
    assert (items["transformers"]["source"], items["transformers"]["layer"]) == (shown, "models.m")
    assert items["transformers"]["replaces"] == [
        {"written": "transformers==4.37.2", "source": "specs/m.toml", "layer": "env"}
    ]
    assert (items["tiktoken"]["source"], items["tiktoken"]["layer"]) == (shown, "global")
    assert (items["einops"]["source"], items["einops"]["layer"]) == (shown, "global")
    assert [c["requirement"] for c in doc["constraints"]] == ["numpy<1.27", "scipy<2"]
    assert by_key(doc, "constraints")["numpy"]["replaces"] == [
        {"written": "numpy<2", "source": "specs/m.toml", "layer": "env"}
    ]
    assert doc["removed"] == [{"key": "foo-bar", "source": shown, "layer": "models.m"}]
    assert doc["overridden"] is True
    assert doc["fingerprint"] == plain["fingerprint"]

    code, out, _ = run_cli(capsys, "show", "m")
    assert code == 0
    lines = out.splitlines()
    assert (
        f"  transformers==4.54.0   ({shown} [models.m], replaces specs/m.toml [env]:"
        " transformers==4.37.2)" in lines
    )
    assert f"  einops                 ({shown} [global])" in lines
    assert f"  foo-bar   ({shown} [models.m])" in lines


def test_model_section_comes_after_global_and_before_p(
    capsys: pytest.CaptureFixture[str], model: Path, home: Path
) -> None:
    (home / "overrides.toml").write_text(
        '[models.m]\npackages = ["tiktoken==0.8.0"]\n\n[global]\npackages = ["tiktoken==0.7.0"]\n'
    )
    _, doc, _ = show(capsys, "m")
    item = by_key(doc)["tiktoken"]
    assert item["requirement"] == "tiktoken==0.8.0"
    assert [r["layer"] for r in item["replaces"]] == ["env", "global"]

    _, doc, _ = show(capsys, "m", "-p", "tiktoken==0.9.0")
    item = by_key(doc)["tiktoken"]
    assert item["requirement"] == "tiktoken==0.9.0"
    assert [r["written"] for r in item["replaces"]] == [
        "tiktoken==0.6.0",
        "tiktoken==0.7.0",
        "tiktoken==0.8.0",
    ]
    assert item["source"] == "command line"


def test_model_section_of_another_model_does_not_apply(
    capsys: pytest.CaptureFixture[str], model: Path, home: Path
) -> None:
    (home / "overrides.toml").write_text('[models.other]\npackages = ["alpha==9"]\n')
    _, doc, _ = show(capsys, "m")
    assert reqs(doc) == ["transformers==4.37.2", "tiktoken==0.6.0", "Foo_Bar>=1"]
    assert doc["overridden"] is False
    _, doc, _ = show(capsys, "other")
    assert reqs(doc) == ["alpha==9"]


def test_overrides_option_replaces_the_default_file(
    capsys: pytest.CaptureFixture[str], model: Path, home: Path
) -> None:
    (home / "overrides.toml").write_text('[global]\npackages = ["from-default"]\n')
    (model / "mine.toml").write_text('[models.m]\npackages = ["tiktoken==0.7.0"]\n')
    _, doc, _ = show(capsys, "m", "--overrides", "mine.toml")
    assert reqs(doc) == ["transformers==4.37.2", "tiktoken==0.7.0", "Foo_Bar>=1"]
    item = by_key(doc)["tiktoken"]
    assert (item["source"], item["layer"]) == ("mine.toml", "models.m")
    # without the option the default file applies
    _, doc, _ = show(capsys, "m")
    assert reqs(doc)[-1] == "from-default"


def test_overrides_option_missing_file(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    code, out, err = run_cli(capsys, "show", "m", "--overrides", "nope.toml")
    assert code == 2
    assert out == ""
    assert err == "modelenv: error: overrides file nope.toml does not exist\n"


def test_removal_in_overrides_file(
    capsys: pytest.CaptureFixture[str], model: Path, home: Path
) -> None:
    (home / "overrides.toml").write_text(
        '[models.m]\npackages = ["!tiktoken"]\nconstraints = ["!numpy"]\n'
    )
    _, doc, _ = show(capsys, "m")
    assert reqs(doc) == ["transformers==4.37.2", "Foo_Bar>=1"]
    assert doc["constraints"] == []
    assert [r["key"] for r in doc["removed"]] == ["tiktoken", "numpy"]


def test_placeholder_in_overrides(
    capsys: pytest.CaptureFixture[str], model: Path, home: Path
) -> None:
    (home / "overrides.toml").write_text('[global]\npackages = ["#system_tiktoken#"]\n')
    _, doc, err = show(capsys, "m")
    item = by_key(doc)["tiktoken"]
    assert item["written"] == "#system_tiktoken#"
    assert item["requirement"] == "tiktoken"  # this interpreter has no tiktoken
    assert item["host_version"] is None
    assert "has no tiktoken; it is left unpinned" in err


class _FakeFind:
    """find_interpreter stand-in: no real Python 3.10 is needed."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(
        self,
        xy: str,
        base_python: str | None = None,
        source: str | None = None,
        *,
        beneath: bool = False,
    ) -> Interpreter:
        self.asked.append(xy)
        return Interpreter(
            executable=f"/fake/python{xy}",
            version=f"{xy}.99",
            prefix="/fake",
            base_prefix="/fake",
            site_packages=(),
            packages={},
        )


@pytest.mark.parametrize(
    ("overrides", "argv", "expected"),
    [
        ('[global]\npython = "3.10"\n', (), "3.10"),
        ('[models.m]\npython = "3.10"\n', (), "3.10"),
        ('[global]\npython = "3.10"\n\n[models.m]\npython = "3.11"\n', (), "3.11"),
        ('[global]\npython = "3.11"\n\n[models.m]\npython = "3.10"\n', (), "3.10"),
        ('[models.other]\npython = "3.10"\n', (), "3.11"),
        ('[models.m]\npython = "3.10"\n', ("--python", "3.11"), "3.11"),
    ],
)
def test_python_from_overrides(
    capsys: pytest.CaptureFixture[str],
    model: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    overrides: str,
    argv: tuple[str, ...],
    expected: str,
) -> None:
    fake = _FakeFind()
    monkeypatch.setattr(plan_module, "find_interpreter", fake)
    (home / "overrides.toml").write_text(overrides)
    _, doc, _ = show(capsys, "m", *argv)
    assert doc["python"] == expected
    assert fake.asked == [expected]
    assert doc["base_interpreter"] == {
        "path": f"/fake/python{expected}",
        "version": f"{expected}.99",
    }


def test_python_from_overrides_must_be_listed_by_the_spec(
    capsys: pytest.CaptureFixture[str], model: Path, home: Path
) -> None:
    (home / "overrides.toml").write_text('[models.m]\npython = "3.12"\n')
    code, out, err = run_cli(capsys, "show", "m", "--json")
    assert code == 2
    assert out == ""
    assert err == "modelenv: error: model 'm' lists Python 3.10, 3.11 (env.python), not 3.12\n"


def test_override_for_unknown_model_is_a_warning_naming_the_file(
    capsys: pytest.CaptureFixture[str], model: Path, home: Path
) -> None:
    """A home-wide overrides file serves several projects: a model this project
    has no spec for is a warning, and the command goes on; validate fails on it."""
    path = home / "overrides.toml"
    path.write_text('[models.mm]\npackages = ["alpha"]\n\n[models.ghost]\npackages = ["x"]\n')
    code, out, err = run_cli(capsys, "show", "m")
    assert code == 0, err
    assert "model:   m" in out
    assert err.splitlines() == [
        f"modelenv: warning: {path}: models.{name}: no spec for model {name!r} in specs;"
        " its overrides are ignored"
        for name in ("ghost", "mm")
    ]
    code, out, err = run_cli(capsys, "validate")
    assert code == 1
    assert out.splitlines() == [
        f"{path}: models.ghost: unknown model 'ghost'; overrides must name a model that has a spec",
        f"{path}: models.mm: unknown model 'mm' (did you mean 'm'?);"
        " overrides must name a model that has a spec",
    ]
    assert "Traceback" not in err


def test_override_for_unknown_model_in_overrides_option(
    capsys: pytest.CaptureFixture[str], model: Path
) -> None:
    (model / "o.toml").write_text('[models.ghost]\npackages = ["x"]\n')
    code, _, err = run_cli(capsys, "show", "m", "--overrides", "o.toml")
    assert code == 0, err
    assert "modelenv: warning: o.toml: models.ghost: no spec for model 'ghost'" in err
    code, out, _err = run_cli(capsys, "validate", "--overrides", "o.toml")
    assert code == 1
    assert out == (
        "o.toml: models.ghost: unknown model 'ghost'; overrides must name a model that has a spec\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[global]\npackages = ["transformers 4.54"]\n',
            "o.toml: global.packages[0]: invalid requirement 'transformers 4.54': ",
        ),
        (
            '[models.m]\npackages = ["ok", "#torch#"]\n',
            "o.toml: models.m.packages[1]: unknown placeholder '#torch#': the only placeholder"
            " is #system_NAME# (pin NAME to the host's version)",
        ),
        (
            "[global]\npython = 3.10\n",
            'o.toml: global.python: write Python versions as strings, for example "3.10"'
            " (TOML reads 3.1 as a number)",
        ),
        (
            '[global]\npakages = ["x"]\n',
            "o.toml: global.pakages: unknown key 'pakages' (did you mean 'packages'?)",
        ),
        (
            '[models.m]\npython = "3.x"\n',
            "o.toml: models.m.python: invalid Python version '3.x': expected X.Y,"
            ' for example "3.11"',
        ),
        ('[global]\npackages = "x"\n', "o.toml: global.packages: "),
        ("[global\n", "o.toml: line 1, column 8: invalid TOML: "),
        (
            '[global]\nconstraints = ["#system_numpy#"]\n',
            "o.toml [global]: constraints[0]: '#system_numpy#': placeholders are only allowed"
            " in packages",
        ),
    ],
)
def test_invalid_overrides_file_is_a_clean_error(
    capsys: pytest.CaptureFixture[str], model: Path, text: str, message: str
) -> None:
    (model / "o.toml").write_text(text)
    code, out, err = run_cli(capsys, "show", "m", "--overrides", "o.toml")
    assert code == 1
    assert out == ""
    assert err.startswith(f"modelenv: error: {message}"), err
    assert "Traceback" not in err
    assert "internal error" not in err


def test_unknown_model_lists_known_models(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    code, out, err = run_cli(capsys, "show", "nope", "--json")
    assert code == 2
    assert out == ""
    assert err == "modelenv: error: unknown model 'nope'; models in specs: m, other\n"
    code, _, err = run_cli(capsys, "show", "otter")
    assert code == 2
    assert err == (
        "modelenv: error: unknown model 'otter' (did you mean 'other'?);"
        " models in specs: m, other\n"
    )


def test_unknown_engine_lists_the_models_engines(
    capsys: pytest.CaptureFixture[str], model: Path
) -> None:
    code, out, err = run_cli(capsys, "show", "m", "--engine", "vllm")
    assert code == 2
    assert out == ""
    assert err == "modelenv: error: model 'm' has no engine 'vllm'; its engines: transformers\n"
    code, _, err = run_cli(capsys, "show", "m", "--engine", "transformer")
    assert code == 2
    assert err == (
        "modelenv: error: model 'm' has no engine 'transformer' (did you mean 'transformers'?);"
        " its engines: transformers\n"
    )


def test_engine_variant_layers(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    _, doc, _ = show(capsys, "m", "--engine", "transformers")
    assert doc["engine"] == "transformers"
    assert [(i["requirement"], i["source"], i["layer"]) for i in doc["requirements"]] == [
        ("transformers==4.37.2", "specs/m.toml", "env"),
        ("accelerate>=0.28.0", "specs/_engines.toml", "engine transformers"),
        ("tiktoken==0.6.0", "specs/m.toml", "env"),
        ("Foo_Bar>=1", "specs/m.toml", "env"),
        ("peft", "specs/m.toml", "engines.transformers"),
    ]
    assert by_key(doc)["transformers"]["replaces"] == [
        {
            "written": "transformers>=4.53.3",
            "source": "specs/_engines.toml",
            "layer": "engine transformers",
        }
    ]
    # the spec's own pin of an engine package is not an override
    assert doc["overridden"] is False


def test_engine_only_spec_needs_an_engine(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    write_spec(project, "e", '[engines.vllm]\npackages = ["x"]\n')
    code, _, err = run_cli(capsys, "show", "e")
    assert code == 2
    assert err == (
        "modelenv: error: model 'e' has no default variant (env.packages is empty);"
        " choose an engine: vllm\n"
    )


def test_python_not_listed_by_the_spec(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    code, out, err = run_cli(capsys, "show", "m", "--python", "3.12")
    assert code == 2
    assert out == ""
    assert err == "modelenv: error: model 'm' lists Python 3.10, 3.11 (env.python), not 3.12\n"


def test_overrides_error_hint_fits_an_overrides_file(
    capsys: pytest.CaptureFixture[str], model: Path, home: Path
) -> None:
    (home / "overrides.toml").write_text('[models.m]\npackages = ["x y z"]\n')
    code, _, err = run_cli(capsys, "show", "m")
    assert code == 1
    assert "modelenv validate" not in err
