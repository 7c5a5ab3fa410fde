"""The spec format and `modelenv validate`: every problem is one exact line,
``FILE: FIELD: message``, on stdout; the summary goes to stderr; exit 1 when a
file is invalid, 0 when all are valid, 2 for a usage error."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from compiler.requirements import EntryError, Kind, parse_entry
from compiler.spec import (
    ModelSection,
    Problem,
    Spec,
    check_spec_text,
    load_engines,
    schema,
)
from compiler.spec.fast import build_spec

from .conftest import REPO, run_cli, write_spec

ENGINE_LIST = "engines defined in specs/_engines.toml: llama.cpp, transformers, vllm"


def _toml_array(*items: str) -> str:
    """A TOML array of strings (a JSON string is a TOML basic string)."""
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    """Run ``modelenv validate ARGS`` in-process: (exit status, stdout lines, stderr).

    Whatever the input, modelenv must never show a traceback or call itself buggy."""
    code, out, err = run_cli(capsys, "validate", *args)
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    return code, out.splitlines(), err


def summary(invalid: int, files: int, problems: int) -> str:
    noun = "file" if files == 1 else "files"
    plural = "" if problems == 1 else "s"
    return f"{invalid} of {files} {noun} invalid ({problems} problem{plural})\n"


def expect_invalid(
    capsys: pytest.CaptureFixture[str], lines: list[str], *args: str, files: int = 2
) -> None:
    """One invalid spec next to the (valid) _engines.toml: exactly ``lines``."""
    code, out, err = validate(capsys, *args)
    assert out == lines
    assert err == summary(1, files, len(lines))
    assert code == 1


# --- TOML syntax ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "line"),
    [
        pytest.param(
            '[env]\npackages = ["a",, "b"]\n',
            "specs/m.toml: line 5, column 17: invalid TOML: Invalid value",
            id="bad-array",
        ),
        pytest.param(
            'description = "abc\n',
            "specs/m.toml: line 4, column 19: invalid TOML: Illegal character '\\n'",
            id="unterminated-string",
        ),
        pytest.param(
            '[model]\nname = "m"\n',
            "specs/m.toml: line 4, column 7: invalid TOML: Cannot declare ('model',) twice",
            id="table-twice",
        ),
        pytest.param(
            "[env]\nexclude_newer = 2026-13-01\n",
            "specs/m.toml: line 5, column 21: invalid TOML:"
            " Expected newline or end of document after a statement",
            id="impossible-date",
        ),
        pytest.param(
            # At the end of the document the parser gives no line and column.
            '[env]\npackages = ["a"\n',
            "specs/m.toml: invalid TOML: Unclosed array (at end of document)",
            id="unclosed-at-end",
        ),
    ],
)
def test_toml_syntax_error(
    project: Path, capsys: pytest.CaptureFixture[str], body: str, line: str
) -> None:
    write_spec(project, "m", body)
    expect_invalid(capsys, [line])


def test_not_utf8(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "specs" / "m.toml").write_bytes(b'[model]\nname = "m\xff"\n')
    expect_invalid(capsys, ["specs/m.toml: not UTF-8 text (byte 17)"])


# --- unknown keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        pytest.param(
            '[modle]\nname = "m"\n',
            [
                "specs/m.toml: model: required key is missing",
                "specs/m.toml: modle: unknown key 'modle' (did you mean 'model'?)",
            ],
            id="top-level",
        ),
        pytest.param(
            '[model]\nname = "m"\nnmae = "m"\n\n[env]\npackages = ["a"]\n',
            ["specs/m.toml: model.nmae: unknown key 'nmae' (did you mean 'name'?)"],
            id="model",
        ),
        pytest.param(
            '[model]\nname = "m"\n\n[env]\npackges = ["a"]\npackages = ["a"]\n',
            ["specs/m.toml: env.packges: unknown key 'packges' (did you mean 'packages'?)"],
            id="env",
        ),
        pytest.param(
            '[model]\nname = "m"\n\n[env]\npackages = ["a"]\nfoo = 1\n',
            ["specs/m.toml: env.foo: unknown key 'foo'"],
            id="env-no-suggestion",
        ),
        pytest.param(
            '[model]\nname = "m"\n\n[env]\npackages = ["a"]\n\n'
            '[env.index]\nstrtegy = "first-index"\n',
            ["specs/m.toml: env.index.strtegy: unknown key 'strtegy' (did you mean 'strategy'?)"],
            id="env.index",
        ),
        pytest.param(
            '[model]\nname = "m"\n\n[engines.vllm]\npakages = ["a"]\n',
            [
                "specs/m.toml: engines.vllm.pakages: unknown key 'pakages'"
                " (did you mean 'packages'?)"
            ],
            id="engines.X",
        ),
        pytest.param(
            '[model]\nname = "m"\n\n[engines."llama.cpp"]\nconstrains = ["a<2"]\n',
            [
                'specs/m.toml: engines."llama.cpp".constrains: unknown key'
                " 'constrains' (did you mean 'constraints'?)"
            ],
            id="engines.dotted",
        ),
        pytest.param(
            # An unquoted dotted engine name is a nested table in TOML.
            '[model]\nname = "m"\n\n[engines.llama.cpp]\npackages = []\n',
            [
                "specs/m.toml: engines.llama.cpp: unknown key 'cpp'",
                # The same mistake seen from the engines' side, with the fix.
                "specs/m.toml: engines.llama: unknown engine 'llama' (did you mean"
                " 'llama.cpp'?); engines defined in specs/_engines.toml: llama.cpp,"
                " transformers, vllm",
            ],
            id="engines.unquoted-dot",
        ),
    ],
)
def test_unknown_key(
    project: Path, capsys: pytest.CaptureFixture[str], text: str, lines: list[str]
) -> None:
    (project / "specs" / "m.toml").write_text(text)
    expect_invalid(capsys, lines)


# --- wrong types -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        pytest.param(
            '[env]\npackages = "x"\n',
            ["specs/m.toml: env.packages: expected an array, got 'x' (string)"],
            id="packages-string",
        ),
        pytest.param(
            '[env]\npackages = ["a", 1]\n',
            ["specs/m.toml: env.packages[1]: expected a string, got 1 (integer)"],
            id="package-integer",
        ),
        pytest.param(
            '[env]\npython = [3.10]\npackages = ["a"]\n',
            [
                "specs/m.toml: env.python[0]: write Python versions as strings,"
                ' for example "3.10" (TOML reads 3.1 as a number)'
            ],
            id="python-float",
        ),
        pytest.param(
            '[env]\npython = [3]\npackages = ["a"]\n',
            [
                "specs/m.toml: env.python[0]: write Python versions as strings,"
                ' for example "3.10" (TOML reads 3 as a number)'
            ],
            id="python-integer",
        ),
        pytest.param(
            '[env]\npython = 3.11\npackages = ["a"]\n',
            ["specs/m.toml: env.python: expected an array, got 3.11 (float)"],
            id="python-not-a-list",
        ),
        pytest.param(
            '[env]\npython = [true]\npackages = ["a"]\n',
            ['specs/m.toml: env.python[0]: expected a string such as "3.11", got True (boolean)'],
            id="python-boolean",
        ),
        pytest.param(
            '[env]\npackages = ["a"]\nsystem_site_packages = "maybe"\n',
            ["specs/m.toml: env.system_site_packages: expected a boolean, got 'maybe' (string)"],
            id="boolean",
        ),
        pytest.param(
            'description = 4\n\n[env]\npackages = ["a"]\n',
            ["specs/m.toml: model.description: expected a string, got 4 (integer)"],
            id="description",
        ),
        pytest.param(
            '[env]\npackages = ["a"]\n\n[env.index]\nextra_urls = "https://x"\n',
            ["specs/m.toml: env.index.extra_urls: expected an array, got 'https://x' (string)"],
            id="extra_urls",
        ),
        pytest.param(
            '[engines.vllm]\npackages = "vllm"\n',
            ["specs/m.toml: engines.vllm.packages: expected an array, got 'vllm' (string)"],
            id="engine-packages-string",
        ),
    ],
)
def test_wrong_type(
    project: Path, capsys: pytest.CaptureFixture[str], body: str, lines: list[str]
) -> None:
    write_spec(project, "m", body)
    expect_invalid(capsys, lines)


def test_model_name_wrong_type(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "specs" / "m.toml").write_text('[model]\nname = 3\n\n[env]\npackages = ["a"]\n')
    expect_invalid(capsys, ["specs/m.toml: model.name: expected a string, got 3 (integer)"])


def test_engines_not_a_table(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "specs" / "m.toml").write_text('engines = 3\n\n[model]\nname = "m"\n')
    expect_invalid(capsys, ["specs/m.toml: engines: expected a table, got 3 (integer)"])


def test_model_table_missing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "specs" / "m.toml").write_text('[env]\npackages = ["a"]\n')
    expect_invalid(capsys, ["specs/m.toml: model: required key is missing"])


def test_model_name_missing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "specs" / "m.toml").write_text('[model]\n\n[env]\npackages = ["a"]\n')
    expect_invalid(capsys, ["specs/m.toml: model.name: required key is missing"])


# --- entries: requirements, placeholders, removals ----------------------------------


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param(
            "numpy>=",
            "invalid requirement 'numpy>=': expected semicolon"
            " (after name with no version specifier) or end",
            id="no-version",
        ),
        pytest.param(
            "foo bar",
            "invalid requirement 'foo bar': expected semicolon"
            " (after name with no version specifier) or end",
            id="space",
        ),
        pytest.param("", "empty requirement", id="empty"),
        pytest.param("   ", "empty requirement", id="blank"),
        pytest.param(
            "x[",
            "invalid requirement 'x[': expected matching RIGHT_BRACKET for LEFT_BRACKET,"
            " after extras",
            id="extras",
        ),
        pytest.param(
            "numpy==1.0 ; python_version >",
            "invalid requirement 'numpy==1.0 ; python_version >':"
            " expected a marker variable or quoted string",
            id="bad-marker",
        ),
        pytest.param(
            "#system_#",
            "malformed placeholder '#system_#': '' is not a valid distribution name",
            id="placeholder-no-name",
        ),
        pytest.param(
            "#system_a b#",
            "malformed placeholder '#system_a b#': 'a b' is not a valid distribution name",
            id="placeholder-bad-name",
        ),
        pytest.param(
            "#system_torch",
            "malformed placeholder '#system_torch': expected '#system_NAME#',"
            " optionally followed by '; marker'",
            id="placeholder-unclosed",
        ),
        pytest.param(
            "#system_torch# sys_platform",
            "malformed placeholder '#system_torch# sys_platform': expected '#system_NAME#',"
            " optionally followed by '; marker'",
            id="placeholder-no-semicolon",
        ),
        pytest.param(
            "#system_torch# ; sys_platform ==",
            "invalid marker in '#system_torch# ; sys_platform ==':"
            " expected a marker variable or quoted string",
            id="placeholder-bad-marker",
        ),
        pytest.param(
            "#foo#",
            "unknown placeholder '#foo#': the only placeholder is #system_NAME#"
            " (pin NAME to the host's version)",
            id="unknown-placeholder",
        ),
        pytest.param(
            "#engine#",
            "unknown placeholder '#engine#': the only placeholder is #system_NAME#"
            " (pin NAME to the host's version)",
            id="engine-placeholder",
        ),
        pytest.param(
            "vllm>=0.6 ; #engine# == 'vllm'",
            "invalid requirement \"vllm>=0.6 ; #engine# == 'vllm'\": '#' may only start a"
            " #system_NAME# placeholder; engine-specific entries belong in an"
            " [engines.NAME] table",
            id="engine-marker",
        ),
        pytest.param(
            "!numpy",
            "'!numpy' removes a package, which only overrides and -p may do;"
            " delete the entry instead",
            id="removal",
        ),
    ],
)
def test_invalid_package_entry(
    project: Path, capsys: pytest.CaptureFixture[str], entry: str, message: str
) -> None:
    write_spec(project, "m", f"[env]\npackages = {_toml_array('a', entry)}\n")
    expect_invalid(capsys, [f"specs/m.toml: env.packages[1]: {message}"])


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        pytest.param(
            f"[env]\npackages = {_toml_array('a')}\n"
            f"constraints = {_toml_array('#system_torch#', '!numpy', 'b<')}\n",
            [
                "specs/m.toml: env.constraints[0]: invalid constraint '#system_torch#':"
                " constraints must be PEP 508 requirements",
                "specs/m.toml: env.constraints[1]: '!numpy' removes a package, which only"
                " overrides and -p may do; delete the entry instead",
                "specs/m.toml: env.constraints[2]: invalid requirement 'b<': expected"
                " semicolon (after name with no version specifier) or end",
            ],
            id="constraints",
        ),
        pytest.param(
            f"[engines.vllm]\npackages = {_toml_array('!vllm', '#system_numpy#')}\n"
            f"constraints = {_toml_array('#system_numpy#')}\n",
            [
                "specs/m.toml: engines.vllm.packages[0]: '!vllm' removes a package, which only"
                " overrides and -p may do; delete the entry instead",
                "specs/m.toml: engines.vllm.constraints[0]: invalid constraint"
                " '#system_numpy#': constraints must be PEP 508 requirements",
            ],
            id="engine-table",
        ),
    ],
)
def test_invalid_entries_elsewhere(
    project: Path, capsys: pytest.CaptureFixture[str], body: str, lines: list[str]
) -> None:
    write_spec(project, "m", body)
    expect_invalid(capsys, lines)


def test_placeholders_and_markers_are_valid(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(
        project,
        "m",
        "[env]\npackages = "
        + _toml_array(
            "#system_torch#",
            '#system_numpy# ; sys_platform == "linux"',
            "#system_Pillow#;python_version>='3.10'",
            'transformers[torch]==4.37.2 ; python_version < "3.12"',
        )
        + "\n",
    )
    code, out, err = validate(capsys)
    assert (code, out, err) == (0, [], "2 files valid\n")


# --- duplicates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        pytest.param(
            f"[env]\npackages = {_toml_array('NumPy', 'numpy>=1.26')}\n",
            [
                "specs/m.toml: env.packages[1]: 'numpy' is listed twice"
                " (also at env.packages[0]); keep one entry"
            ],
            id="case",
        ),
        pytest.param(
            f"[env]\npackages = {_toml_array('foo_bar', 'Foo-Bar', 'foo.bar==1')}\n",
            [
                "specs/m.toml: env.packages[1]: 'foo-bar' is listed twice"
                " (also at env.packages[0]); keep one entry",
                "specs/m.toml: env.packages[2]: 'foo-bar' is listed twice"
                " (also at env.packages[0]); keep one entry",
            ],
            id="separators",
        ),
        pytest.param(
            f"[env]\npackages = {_toml_array('#system_torch#', 'torch==2.3')}\n",
            [
                "specs/m.toml: env.packages[1]: 'torch' is listed twice"
                " (also at env.packages[0]); keep one entry"
            ],
            id="placeholder-and-requirement",
        ),
        pytest.param(
            "[env]\npackages = ['a ; sys_platform == \"linux\"', 'a', 'b ; has_cuda',"
            " 'b ; has_cuda']\n",
            [
                "specs/m.toml: env.packages[1]: 'a' is listed twice"
                " (also at env.packages[0]); keep one entry",
                "specs/m.toml: env.packages[3]: 'b' is listed twice"
                " (also at env.packages[2]); keep one entry",
            ],
            id="marker-variants-need-a-marker-each-all-different",
        ),
        pytest.param(
            f"[env]\npackages = {_toml_array('a')}\nconstraints = {_toml_array('b<1', 'B<2')}\n",
            [
                "specs/m.toml: env.constraints[1]: 'b' is listed twice"
                " (also at env.constraints[0]); keep one entry"
            ],
            id="constraints",
        ),
        pytest.param(
            f"[env]\npython = {_toml_array('3.11', '3.12', '3.11')}\n"
            f"packages = {_toml_array('a')}\n",
            [
                "specs/m.toml: env.python[2]: '3.11' is listed twice"
                " (also at env.python[0]); keep one entry"
            ],
            id="python",
        ),
        pytest.param(
            f"[engines.vllm]\npackages = {_toml_array('x', 'X')}\n",
            [
                "specs/m.toml: engines.vllm.packages[1]: 'x' is listed twice"
                " (also at engines.vllm.packages[0]); keep one entry"
            ],
            id="engine-packages",
        ),
    ],
)
def test_duplicate_entries(
    project: Path, capsys: pytest.CaptureFixture[str], body: str, lines: list[str]
) -> None:
    write_spec(project, "m", body)
    expect_invalid(capsys, lines)


def test_same_package_in_env_and_engine_is_not_a_duplicate(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(
        project,
        "m",
        f"[env]\npackages = {_toml_array('numpy')}\n\n"
        f"[engines.vllm]\npackages = {_toml_array('NumPy<2')}\n",
    )
    assert validate(capsys) == (0, [], "2 files valid\n")


# --- model names -----------------------------------------------------------------------

LOWERCASE = "use lowercase letters, digits, '.', '_' and '-'"
NO_PATHS = "path separators and '..' are not allowed"


@pytest.mark.parametrize(
    ("stem", "name", "message"),
    [
        pytest.param(
            "Upper",
            "Upper",
            f"invalid model name 'Upper': {LOWERCASE} (for example 'upper')",
            id="uppercase",
        ),
        pytest.param("m", "a/b", f"invalid model name 'a/b': {NO_PATHS}", id="slash"),
        pytest.param("m", "a\\\\b", f"invalid model name 'a\\\\b': {NO_PATHS}", id="backslash"),
        pytest.param("m", "..", f"invalid model name '..': {NO_PATHS}", id="dotdot"),
        pytest.param("a..b", "a..b", f"invalid model name 'a..b': {NO_PATHS}", id="inner-dotdot"),
        pytest.param("m", "", "invalid model name '': it must not be empty", id="empty"),
        pytest.param(
            "-x",
            "-x",
            "invalid model name '-x': it must start with a lowercase letter or digit and"
            " contain only lowercase letters, digits, '.', '_' and '-'",
            id="leading-dash",
        ),
        pytest.param(
            "m", "x" * 129, "invalid model name: longer than 128 characters", id="too-long"
        ),
    ],
)
def test_invalid_model_name(
    project: Path, capsys: pytest.CaptureFixture[str], stem: str, name: str, message: str
) -> None:
    (project / "specs" / f"{stem}.toml").write_text(
        f'[model]\nname = "{name}"\n\n[env]\npackages = ["a"]\n'
    )
    expect_invalid(capsys, [f"specs/{stem}.toml: model.name: {message}"])


def test_name_differs_from_file_name(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "specs" / "got-ocr2.toml").write_text(
        '[model]\nname = "got-ocr"\n\n[env]\npackages = ["a"]\n'
    )
    expect_invalid(
        capsys,
        [
            "specs/got-ocr2.toml: model.name: 'got-ocr' differs from the file name"
            " 'got-ocr2.toml'; rename the file to 'got-ocr.toml' or set name = 'got-ocr2'"
        ],
    )


def test_valid_model_names(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("qwen2.5-omni", "cosyvoice2-0.5b", "a_b", "0x", "x" * 128):
        write_spec(project, name, '[env]\npackages = ["a"]\n')
    assert validate(capsys) == (0, [], "6 files valid\n")


# --- Python versions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("3", "invalid Python version '3': expected X.Y, for example \"3.11\""),
        ("3.7", "unsupported Python version '3.7': modelenv needs 3.8 or newer"),
        ("3.0", "unsupported Python version '3.0': modelenv needs 3.8 or newer"),
        ("2.7", "invalid Python version '2.7': expected X.Y, for example \"3.11\""),
        ("3.07", "invalid Python version '3.07': expected X.Y, for example \"3.11\""),
        ("3.11.4", "invalid Python version '3.11.4': expected X.Y, for example \"3.11\""),
        (" 3.11", "invalid Python version ' 3.11': expected X.Y, for example \"3.11\""),
        ("py3.11", "invalid Python version 'py3.11': expected X.Y, for example \"3.11\""),
    ],
)
def test_bad_python_version(
    project: Path, capsys: pytest.CaptureFixture[str], version: str, message: str
) -> None:
    write_spec(project, "m", f'[env]\npython = ["3.11", "{version}"]\npackages = ["a"]\n')
    expect_invalid(capsys, [f"specs/m.toml: env.python[1]: {message}"])


def test_good_python_versions(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_spec(project, "m", '[env]\npython = ["3.8", "3.10", "3.13", "3.100"]\npackages = ["a"]\n')
    assert validate(capsys) == (0, [], "2 files valid\n")


# --- engines ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "line"),
    [
        pytest.param(
            "[engines.vlm]",
            "specs/m.toml: engines.vlm: unknown engine 'vlm'"
            f" (did you mean 'vllm'?); {ENGINE_LIST}",
            id="suggestion",
        ),
        pytest.param(
            "[engines.transformer]",
            "specs/m.toml: engines.transformer: unknown engine 'transformer'"
            f" (did you mean 'transformers'?); {ENGINE_LIST}",
            id="suggestion-plural",
        ),
        pytest.param(
            "[engines.pytorch]",
            f"specs/m.toml: engines.pytorch: unknown engine 'pytorch'; {ENGINE_LIST}",
            id="no-suggestion",
        ),
        pytest.param(
            '[engines."llama-cpp"]',
            "specs/m.toml: engines.llama-cpp: unknown engine 'llama-cpp'"
            f" (did you mean 'llama.cpp'?); {ENGINE_LIST}",
            id="dash-for-dot",
        ),
        pytest.param(
            "[engines.Vllm]",
            "specs/m.toml: engines.Vllm: invalid engine name 'Vllm': use lowercase letters,"
            " digits, '.', '_' and '-' (for example 'vllm')",
            id="uppercase",
        ),
        pytest.param(
            '[engines."a/b"]',
            "specs/m.toml: engines.\"a/b\": invalid engine name 'a/b':"
            " path separators and '..' are not allowed",
            id="path",
        ),
    ],
)
def test_bad_engine(
    project: Path, capsys: pytest.CaptureFixture[str], table: str, line: str
) -> None:
    write_spec(project, "m", f'[env]\npackages = ["a"]\n\n{table}\npackages = []\n')
    expect_invalid(capsys, [line])


def test_unknown_engine_without_engines_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "specs" / "_engines.toml").unlink()
    write_spec(project, "m", "[engines.vllm]\n")
    expect_invalid(
        capsys,
        [
            "specs/m.toml: engines.vllm: unknown engine 'vllm';"
            " engines defined in specs/_engines.toml: none"
        ],
        files=1,
    )


def test_engine_only_spec_with_dotted_name_is_valid(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(project, "m", '[engines."llama.cpp"]\n\n[engines.vllm]\npackages = ["a"]\n')
    assert validate(capsys) == (0, [], "2 files valid\n")


# --- no packages, index, exclude_newer -------------------------------------------------

NO_PACKAGES = (
    "specs/m.toml: env.packages: the spec declares no packages; list requirements in"
    " env.packages or add an [engines.NAME] table"
)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("", id="nothing"),
        pytest.param('[env]\npython = ["3.11"]\n', id="env-without-packages"),
        pytest.param("[env]\npackages = []\n", id="empty-list"),
        pytest.param("[engines]\n", id="empty-engines"),
    ],
)
def test_no_packages(project: Path, capsys: pytest.CaptureFixture[str], body: str) -> None:
    write_spec(project, "m", body)
    expect_invalid(capsys, [NO_PACKAGES])


@pytest.mark.parametrize(
    ("body", "line"),
    [
        pytest.param(
            '[env.index]\nstrategy = "best"\n',
            "specs/m.toml: env.index.strategy: expected 'first-index', 'unsafe-first-match'"
            " or 'unsafe-best-match', got 'best' (string)",
            id="strategy",
        ),
        pytest.param(
            '[env.index]\nstrategy = "First-Index"\n',
            "specs/m.toml: env.index.strategy: expected 'first-index', 'unsafe-first-match'"
            " or 'unsafe-best-match', got 'First-Index' (string)",
            id="strategy-case",
        ),
        pytest.param(
            'index = "https://pypi.org/simple"\n',
            "specs/m.toml: env.index: expected a table, got 'https://pypi.org/simple' (string)",
            id="index-not-a-table",
        ),
        pytest.param(
            'exclude_newer = "yesterday"\n',
            "specs/m.toml: env.exclude_newer: invalid date 'yesterday': expected a TOML date"
            " such as 2026-01-01 or a timestamp such as 2026-01-01T00:00:00Z",
            id="date-word",
        ),
        pytest.param(
            'exclude_newer = "2026-02-30"\n',
            "specs/m.toml: env.exclude_newer: invalid date '2026-02-30': expected a TOML date"
            " such as 2026-01-01 or a timestamp such as 2026-01-01T00:00:00Z",
            id="date-impossible",
        ),
        pytest.param(
            "exclude_newer = 20260101\n",
            "specs/m.toml: env.exclude_newer: invalid date 20260101: expected a TOML date"
            " such as 2026-01-01 or a timestamp such as 2026-01-01T00:00:00Z",
            id="date-integer",
        ),
        pytest.param(
            "exclude_newer = 10:00:00\n",
            "specs/m.toml: env.exclude_newer: invalid date datetime.time(10, 0): expected a"
            " TOML date such as 2026-01-01 or a timestamp such as 2026-01-01T00:00:00Z",
            id="date-time-of-day",
        ),
    ],
)
def test_bad_env_setting(
    project: Path, capsys: pytest.CaptureFixture[str], body: str, line: str
) -> None:
    write_spec(project, "m", f'[env]\npackages = ["a"]\n{body}')
    expect_invalid(capsys, [line])


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("2026-01-01", "2026-01-01"),
        ('"2026-01-01"', "2026-01-01"),
        ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"),
        ("2026-01-01T10:00:00", "2026-01-01T10:00:00Z"),
        ('"2026-01-01T10:00:00Z"', "2026-01-01T10:00:00Z"),
        ("2026-01-01T10:00:00+02:00", "2026-01-01T10:00:00+02:00"),
    ],
)
def test_exclude_newer_accepts_dates_and_timestamps(
    project: Path, capsys: pytest.CaptureFixture[str], value: str, normalised: str
) -> None:
    text = f'[model]\nname = "m"\n\n[env]\npackages = ["a"]\nexclude_newer = {value}\n'
    path = project / "specs" / "m.toml"
    path.write_text(text)
    assert validate(capsys) == (0, [], "2 files valid\n")
    spec = build_spec(
        {"model": {"name": "m"}, "env": {"packages": ["a"], "exclude_newer": value.strip('"')}}
    )
    assert spec is not None and spec.env.exclude_newer == normalised


def test_full_spec_is_valid(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_spec(
        project,
        "full",
        'description = "every key"\n\n'
        "[env]\n"
        'python = ["3.10", "3.11"]\n'
        'packages = ["transformers==4.37.2", "#system_torch#"]\n'
        'constraints = ["numpy<2"]\n'
        "system_site_packages = false\n"
        "exclude_newer = 2026-01-01\n\n"
        "[env.index]\n"
        'url = "https://pypi.org/simple"\n'
        'extra_urls = ["https://download.pytorch.org/whl/cpu"]\n'
        'find_links = ["./wheels"]\n'
        'strategy = "unsafe-best-match"\n'
        "no_build_isolation = true\n\n"
        "[engines.vllm]\n"
        'packages = ["vllm==0.11.2"]\n'
        'constraints = ["xformers<1"]\n\n'
        '[engines."llama.cpp"]\n',
    )
    assert validate(capsys) == (0, [], "2 files valid\n")


# --- _engines.toml ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        pytest.param(
            "[vllm]\npackges = []\n",
            ["specs/_engines.toml: vllm.packges: unknown key 'packges' (did you mean 'packages'?)"],
            id="unknown-key",
        ),
        pytest.param(
            '[vllm]\ndescrption = "x"\n',
            [
                "specs/_engines.toml: vllm.descrption: unknown key 'descrption'"
                " (did you mean 'description'?)"
            ],
            id="unknown-key-description",
        ),
        pytest.param(
            '[vllm]\npackages = ["a",, "b"]\n',
            ["specs/_engines.toml: line 2, column 17: invalid TOML: Invalid value"],
            id="toml-syntax",
        ),
        pytest.param(
            '[vllm]\npackages = ["vllm", "VLLM>=1"]\n',
            [
                "specs/_engines.toml: vllm.packages[1]: 'vllm' is listed twice"
                " (also at vllm.packages[0]); keep one entry"
            ],
            id="duplicate",
        ),
        pytest.param(
            '[vllm]\npackages = ["!vllm", "#foo#"]\nconstraints = ["#system_torch#"]\n',
            [
                "specs/_engines.toml: vllm.packages[0]: '!vllm' removes a package, which only"
                " overrides and -p may do; delete the entry instead",
                "specs/_engines.toml: vllm.packages[1]: unknown placeholder '#foo#': the only"
                " placeholder is #system_NAME# (pin NAME to the host's version)",
                "specs/_engines.toml: vllm.constraints[0]: invalid constraint"
                " '#system_torch#': constraints must be PEP 508 requirements",
            ],
            id="bad-entries",
        ),
        pytest.param(
            "[Vllm]\n",
            [
                "specs/_engines.toml: Vllm: invalid engine name 'Vllm': use lowercase letters,"
                " digits, '.', '_' and '-' (for example 'vllm')"
            ],
            id="uppercase-name",
        ),
        pytest.param(
            '["a/b"]\n',
            [
                "specs/_engines.toml: \"a/b\": invalid engine name 'a/b':"
                " path separators and '..' are not allowed"
            ],
            id="path-name",
        ),
        pytest.param(
            'vllm = "vllm>=0.11"\n',
            ["specs/_engines.toml: vllm: expected a table, got 'vllm>=0.11' (string)"],
            id="not-a-table",
        ),
    ],
)
def test_engines_file_problems(
    project: Path, capsys: pytest.CaptureFixture[str], text: str, lines: list[str]
) -> None:
    (project / "specs" / "_engines.toml").write_text(text)
    # Without a valid engines file, specs are still checked, minus the engine names.
    write_spec(project, "m", '[env]\npackages = ["a"]\n\n[engines.not-defined]\n')
    expect_invalid(capsys, lines)


def test_engines_file_problems_and_spec_problems_together(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "specs" / "_engines.toml").write_text("[vllm]\npackges = []\n")
    write_spec(project, "m", '[env]\npackages = "x"\n')
    code, out, err = validate(capsys)
    assert out == [
        "specs/m.toml: env.packages: expected an array, got 'x' (string)",
        "specs/_engines.toml: vllm.packges: unknown key 'packges' (did you mean 'packages'?)",
    ]
    assert err == summary(2, 2, 2)
    assert code == 1


def test_load_engines(project: Path) -> None:
    engines = load_engines(project / "specs")
    assert engines.names == ["llama.cpp", "transformers", "vllm"]
    assert engines.defaults["llama.cpp"].packages == ("xllamacpp>=0.2.6",)
    assert load_engines(project / "nowhere").names == []


# --- whole runs ------------------------------------------------------------------------


def test_every_problem_in_every_file_in_one_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(project, "alpha", '[env]\npython = ["3.7"]\npackages = ["numpy>=", "#foo#"]\n')
    (project / "specs" / "beta.toml").write_text(
        '[model]\nname = "Beta"\n\n[env]\npackages = ["a"]\n\n[engines.vlm]\n'
    )
    code, out, err = validate(capsys)
    assert out == [
        "specs/alpha.toml: env.python[0]: unsupported Python version '3.7':"
        " modelenv needs 3.8 or newer",
        "specs/alpha.toml: env.packages[0]: invalid requirement 'numpy>=': expected semicolon"
        " (after name with no version specifier) or end",
        "specs/alpha.toml: env.packages[1]: unknown placeholder '#foo#': the only placeholder"
        " is #system_NAME# (pin NAME to the host's version)",
        "specs/beta.toml: model.name: invalid model name 'Beta': use lowercase letters,"
        " digits, '.', '_' and '-' (for example 'beta')",
        f"specs/beta.toml: engines.vlm: unknown engine 'vlm' (did you mean 'vllm'?); {ENGINE_LIST}",
    ]
    assert err == "2 of 3 files invalid (5 problems)\n"
    assert code == 1


def test_bad_files_among_good_ones(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_spec(project, "a-good", '[env]\npackages = ["a"]\n')
    write_spec(project, "b-bad", '[env]\npackages = "x"\n')
    write_spec(project, "c-good", "[engines.vllm]\n")
    write_spec(project, "d-bad", "")
    code, out, err = validate(capsys)
    assert out == [
        "specs/b-bad.toml: env.packages: expected an array, got 'x' (string)",
        NO_PACKAGES.replace("specs/m.toml", "specs/d-bad.toml"),
    ]
    assert err == "2 of 5 files invalid (2 problems)\n"
    assert code == 1


def test_valid_specs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_spec(project, "one", '[env]\npackages = ["a"]\n')
    write_spec(project, "two", '[env]\npackages = ["b"]\n')
    assert validate(capsys) == (0, [], "3 files valid\n")


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and folder below ``root``: mode, size and modification time."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.stat()
        out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


@pytest.mark.own_probe_cache  # the home must start absent
def test_validate_writes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_spec(project, "good", '[env]\npackages = ["a"]\n')
    write_spec(project, "bad", '[env]\npackages = ["a", "a"]\n')
    before = _snapshot(project)
    home_before = sorted(Path(os.environ["HOME"]).rglob("*"))
    for args in [(), ("specs",), ("specs/good.toml",), ("specs/bad.toml", "-q")]:
        validate(capsys, *args)
    assert _snapshot(project) == before
    assert sorted(Path(os.environ["HOME"]).rglob("*")) == home_before
    assert not Path(os.environ["MODELENV_HOME"]).exists()


def test_validate_one_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_spec(project, "good", '[env]\npackages = ["a"]\n')
    write_spec(project, "bad", "[engines.vlm]\n")
    assert validate(capsys, "specs/good.toml") == (0, [], "1 file valid\n")
    # The engines file of the spec's folder is used, but not reported on.
    code, out, err = validate(capsys, "specs/bad.toml")
    assert out == [
        f"specs/bad.toml: engines.vlm: unknown engine 'vlm' (did you mean 'vllm'?); {ENGINE_LIST}"
    ]
    assert (code, err) == (1, "1 of 1 file invalid (1 problem)\n")
    # An absolute path is shown as the relative path it is below the current folder.
    assert validate(capsys, str(project / "specs" / "bad.toml"))[1] == out


def test_validate_several_paths_counts_each_file_once(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(project, "good", '[env]\npackages = ["a"]\n')
    assert validate(capsys, "specs", "specs/good.toml", "./specs/good.toml") == (
        0,
        [],
        "2 files valid\n",
    )


def test_validate_engines_file_checks_the_specs_beside_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(project, "uses", '[env]\npackages = ["a"]\n\n[engines.vllm]\n')
    assert validate(capsys, "specs/_engines.toml") == (0, [], "2 files valid\n")
    # Removing an engine a spec uses breaks that spec, not the engines file.
    (project / "specs" / "_engines.toml").write_text('[transformers]\npackages = ["a"]\n')
    code, out, err = validate(capsys, "specs/_engines.toml")
    assert out == [
        "specs/uses.toml: engines.vllm: unknown engine 'vllm';"
        " engines defined in specs/_engines.toml: transformers"
    ]
    assert (code, err) == (1, "1 of 2 files invalid (1 problem)\n")
    (project / "specs" / "_engines.toml").write_text("[Vllm]\n")
    code, out, _ = validate(capsys, "specs/_engines.toml")
    assert code == 1
    assert out == [
        "specs/_engines.toml: Vllm: invalid engine name 'Vllm': use lowercase letters,"
        " digits, '.', '_' and '-' (for example 'vllm')"
    ]


def test_validate_folder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = project / "elsewhere"
    other.mkdir()
    (other / "_engines.toml").write_text('[mine]\npackages = ["a"]\n')
    (other / "x.toml").write_text('[model]\nname = "x"\n\n[engines.mine]\n')
    (other / "y.toml").write_text('[model]\nname = "y"\n\n[engines.vllm]\n')
    (other / "notes.txt").write_text("not a spec")
    code, out, err = validate(capsys, "elsewhere")
    assert out == [
        "elsewhere/y.toml: engines.vllm: unknown engine 'vllm';"
        " engines defined in elsewhere/_engines.toml: mine"
    ]
    assert (code, err) == (1, "1 of 3 files invalid (1 problem)\n")
    # The default folder, by name, by trailing slash and by --specs.
    write_spec(project, "good", '[env]\npackages = ["a"]\n')
    for args in [(), ("specs",), ("specs/",), ("--specs", "specs")]:
        assert validate(capsys, *args) == (0, [], "2 files valid\n")
    (other / "y.toml").unlink()
    assert validate(capsys, "--specs", "elsewhere") == (0, [], "2 files valid\n")


def test_specs_from_environment(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = project / "elsewhere"
    other.mkdir()
    (other / "x.toml").write_text('[model]\nname = "x"\n\n[env]\npackages = "a"\n')
    monkeypatch.setenv("MODELENV_SPECS", "elsewhere")
    code, out, err = validate(capsys)
    assert out == ["elsewhere/x.toml: env.packages: expected an array, got 'a' (string)"]
    assert (code, err) == (1, "1 of 1 file invalid (1 problem)\n")


@pytest.mark.parametrize("path", ["specs/missing", "missing-folder/", "specs/missing.txt"])
def test_nonexistent_path_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    code, out, err = validate(capsys, path)
    shown = path.rstrip("/")
    assert (code, out, err) == (2, [], f"modelenv: error: {shown}: no such file or folder\n")


def test_nonexistent_toml_file_is_reported_as_a_problem(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A path that does not exist is a usage error, whatever its suffix.
    code, out, err = validate(capsys, "specs/missing.toml")
    assert (code, out, err) == (
        2,
        [],
        "modelenv: error: specs/missing.toml: no such file or folder\n",
    )


def test_no_specs_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "empty").mkdir()
    code, out, err = validate(capsys, "empty")
    assert (code, out) == (2, [])
    assert err == (
        "modelenv: error: no spec files found in empty\n"
        "  hint: create one with 'modelenv new NAME -p REQ'\n"
    )
    (project / "specs" / "_engines.toml").unlink()
    code, out, err = validate(capsys)
    assert (code, out) == (2, [])
    assert err.startswith("modelenv: error: no spec files found in specs\n")


def test_quiet(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_spec(project, "good", '[env]\npackages = ["a"]\n')
    assert validate(capsys, "-q") == (0, [], "")
    assert validate(capsys, "--quiet", "specs/good.toml") == (0, [], "")
    write_spec(project, "bad", "")
    code, out, err = validate(capsys, "-q")
    assert (code, err) == (1, "")
    assert out == [NO_PACKAGES.replace("specs/m.toml", "specs/bad.toml")]
    # -q before the subcommand works too.
    code, out_, err = run_cli(capsys, "-q", "validate")
    assert (code, out_.splitlines(), err) == (1, out, "")


def test_bundled_specs_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    folder = REPO / "specs"
    count = len(list(folder.glob("*.toml"))) + len(list(folder.glob("_targets/*.toml")))
    assert count >= 2
    assert validate(capsys, str(folder)) == (0, [], f"{count} files valid\n")


def test_no_traceback_on_strange_input(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = project / "specs"
    (specs / "deep.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    (specs / "binary.toml").write_bytes(bytes(range(256)))
    (specs / "empty.toml").write_text("")
    (specs / "array-of-tables.toml").write_text('[[model]]\nname = "x"\n')
    (specs / "engines-array.toml").write_text(
        '[model]\nname = "engines-array"\n\n[[engines]]\nname = "vllm"\n'
    )
    (specs / "odd-keys.toml").write_text(
        '[model]\nname = "odd-keys"\n\n[env]\npackages = ["a"]\n"we ird" = 1\n'
    )
    (specs / "folder.toml").mkdir()
    code, out, err = validate(capsys)
    assert out == [
        "specs/array-of-tables.toml: model: expected a table, got [{'name': 'x'}] (array)",
        "specs/binary.toml: not UTF-8 text (byte 128)",
        "specs/deep.toml: invalid TOML: nested too deeply",
        "specs/empty.toml: model: required key is missing",
        "specs/engines-array.toml: engines: expected a table, got [{'name': 'vllm'}] (array)",
        "specs/odd-keys.toml: env.\"we ird\": unknown key 'we ird'",
    ]
    # A folder named folder.toml is not a spec: it is not listed at all.
    assert (code, err) == (1, "6 of 7 files invalid (6 problems)\n")


# --- pydantic models and entries -------------------------------------------------------


def _spec() -> Spec:
    spec = build_spec(
        {
            "model": {"name": "m"},
            "env": {"packages": ["a"], "index": {"url": "https://x"}},
            "engines": {"vllm": {"packages": ["b"]}},
        }
    )
    assert spec is not None
    return spec


@pytest.mark.parametrize(
    ("target", "field", "value"),
    [
        (lambda s: s, "model", ModelSection(name="x")),
        (lambda s: s.model, "name", "x"),
        (lambda s: s.env, "packages", ("c",)),
        (lambda s: s.env, "system_site_packages", False),
        (lambda s: s.env.index, "url", "https://y"),
        (lambda s: s.engines["vllm"], "packages", ()),
    ],
    ids=["spec", "model", "env", "env-bool", "index", "engine"],
)
def test_models_are_frozen(target: object, field: str, value: object) -> None:
    obj = target(_spec())  # type: ignore[operator]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, field, value)


def test_lists_are_tuples() -> None:
    spec = _spec()
    assert spec.env.packages == ("a",)
    assert isinstance(spec.engines["vllm"].packages, tuple)
    assert spec.variants() == [None, "vllm"]


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (schema.ModelSection, {"name": "m", "nmae": "m"}),
        (schema.EnvSection, {"pakages": []}),
        (schema.IndexSection, {"urls": []}),
        (schema.EngineVariant, {"package": []}),
        (schema.EngineDefaults, {"descripton": "x"}),
        (schema.Spec, {"model": {"name": "m"}, "extra": 1}),
    ],
)
def test_models_forbid_extra_keys(model: type, data: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)  # type: ignore[attr-defined]
    assert [e["type"] for e in info.value.errors()] == ["extra_forbidden"]


def test_problem_is_frozen_and_formats() -> None:
    p = Problem("specs/m.toml", "env.packages[0]", "empty requirement")
    assert str(p) == "specs/m.toml: env.packages[0]: empty requirement"
    assert str(Problem("specs/m.toml", None, "no such file")) == "specs/m.toml: no such file"
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.message = "x"  # type: ignore[misc]


def test_check_spec_text(project: Path) -> None:
    path = project / "specs" / "m.toml"
    engines = load_engines(project / "specs")
    assert check_spec_text('[model]\nname = "m"\n[engines.vllm]\n', path, engines) == []
    assert [str(p) for p in check_spec_text('[model]\nname = "m"\n', path, engines)] == [
        NO_PACKAGES
    ]
    assert [str(p) for p in check_spec_text("x = = 1\n", path, engines)] == [
        "specs/m.toml: line 1, column 5: invalid TOML: Invalid value"
    ]
    assert not path.exists()


def test_parse_requirement() -> None:
    entry = parse_entry('  Foo_Bar[x]>=1 ; python_version < "3.12"  ')
    assert entry.kind is Kind.REQUIREMENT
    assert entry.key == "foo-bar"
    assert entry.name == "Foo_Bar"
    assert entry.text == 'Foo_Bar[x]>=1 ; python_version < "3.12"'
    assert entry.expand("1.0") == entry.text


def test_parse_placeholder_with_marker() -> None:
    entry = parse_entry('#system_numpy# ; sys_platform == "linux"')
    assert entry.kind is Kind.SYSTEM
    assert (entry.key, entry.name) == ("numpy", "numpy")
    assert entry.marker == 'sys_platform == "linux"'
    assert entry.expand("1.26.4") == 'numpy==1.26.4 ; sys_platform == "linux"'
    assert entry.expand(None) == 'numpy ; sys_platform == "linux"'


def test_parse_placeholder_normalises_marker() -> None:
    entry = parse_entry("#system_Pillow#;python_version>='3.10'")
    assert (entry.kind, entry.key, entry.name) == (Kind.SYSTEM, "pillow", "Pillow")
    assert entry.marker == 'python_version >= "3.10"'
    assert parse_entry("#system_torch#").marker is None
    assert parse_entry("#system_torch#").expand("2.3.1") == "torch==2.3.1"
    assert parse_entry("#system_torch#").expand(None) == "torch"


def test_parse_removal() -> None:
    entry = parse_entry("!Foo_Bar", allow_remove=True)
    assert (entry.kind, entry.key, entry.name) == (Kind.REMOVE, "foo-bar", "Foo_Bar")
    assert parse_entry(" ! torch ", allow_remove=True).key == "torch"
    with pytest.raises(EntryError, match="only overrides and -p may do"):
        parse_entry("!numpy")
    for bad in ("!", "!foo bar", "!numpy>=1"):
        with pytest.raises(EntryError, match="expected '!NAME' with a distribution name"):
            parse_entry(bad, allow_remove=True)


@pytest.mark.parametrize(
    "text",
    [
        "foo-bar",
        "Foo_Bar",
        "FOO.BAR",
        "foo__bar",
        "foo-_-bar==1",
        "foo_bar[extra] ; os_name == 'nt'",
        "#system_Foo.Bar#",
        "#system_foo_bar# ; sys_platform == 'linux'",
    ],
)
def test_key_is_canonical(text: str) -> None:
    assert parse_entry(text).key == "foo-bar"


@pytest.mark.parametrize("name", ["foo-bar", "Foo_Bar", "FOO.BAR", "foo__bar"])
def test_removal_key_is_canonical(name: str) -> None:
    assert parse_entry(f"!{name}", allow_remove=True).key == "foo-bar"


@pytest.mark.parametrize("value", [3, None, ["a"]])
def test_parse_entry_rejects_non_strings(value: object) -> None:
    with pytest.raises(EntryError, match="expected a string"):
        parse_entry(value)  # type: ignore[arg-type]
