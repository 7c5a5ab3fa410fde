"""Markers with host facts (compiler/markers.py)."""

from __future__ import annotations

import pytest

from compiler import markers
from compiler.requirements import EntryError, parse_entry

CUDA = {"has_cuda": True, "cuda_version": "12.8", "has_npu": False}
CPU = {"has_cuda": False, "cuda_version": None, "has_npu": False}
LINUX = {"sys_platform": "linux", "python_version": "3.11", "platform_machine": "x86_64"}


@pytest.mark.parametrize(
    ("marker", "on_cuda", "on_cpu"),
    [
        ("has_cuda", True, False),
        ("not has_cuda", False, True),
        ('cuda_version >= "12.8"', True, False),
        ('cuda_version < "13.0"', True, False),  # no CUDA: no comparison holds
        ('cuda_version == "12.8.0"', True, False),  # PEP 440, not text
        ('cuda_version == "12.*"', True, False),
        ('"12.0" < cuda_version', True, False),
        ('cuda_version == "13.0" and sys_platform == "linux"', False, False),
        ('has_cuda and sys_platform == "linux"', 'sys_platform == "linux"', False),
        ('has_cuda or python_version < "3.12"', True, 'python_version < "3.12"'),
        (
            '(has_cuda and sys_platform == "linux") or python_version < "3.12"',
            'sys_platform == "linux" or python_version < "3.12"',
            'python_version < "3.12"',
        ),
        ('not (has_cuda and cuda_version < "13")', False, True),
        ('sys_platform == "linux"', 'sys_platform == "linux"', 'sys_platform == "linux"'),
    ],
)
def test_reduce(marker: str, on_cuda: bool | str, on_cpu: bool | str) -> None:
    assert markers.reduce(marker, CUDA) == on_cuda
    assert markers.reduce(marker, CPU) == on_cpu


def test_evaluate_with_environment() -> None:
    assert markers.evaluate('has_cuda and sys_platform == "linux"', CUDA, LINUX)
    assert not markers.evaluate('has_cuda and sys_platform == "win32"', CUDA, LINUX)
    assert markers.evaluate('not has_cuda or python_version >= "3.12"', CPU, LINUX)


def test_split() -> None:
    marker = 'cuda_version == "13.0" and sys_platform == "linux" and platform_machine == "x86_64"'
    assert markers.split(marker) == (
        'sys_platform == "linux" and platform_machine == "x86_64"',
        'cuda_version == "13.0"',
    )
    assert markers.split("not has_cuda") == (None, "not has_cuda")
    assert markers.split('python_version < "3.12"') == ('python_version < "3.12"', None)
    with pytest.raises(markers.MarkerError, match="only 'and' can separate them"):
        markers.split('has_cuda or sys_platform == "linux"')


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('has_cuda == "true"', "has_cuda is true or false: write 'has_cuda' or 'not has_cuda'"),
        ("cuda_version", "cuda_version must be compared with a quoted version, such as"),
        ('not sys_platform == "linux"', "'not' applies only to host facts"),
        ('cuda_version >= "abc"', "'abc' is not a version"),
        ('cuda_version in "12.8"', "cuda_version is compared as a version"),
        ('cuda_version >= "12.*"', "'.*' goes only with == and !=, not >="),
        ('not (cuda_version ~= "12")', '~= needs a version of two parts or more, such as "12.0"'),
        ("has_cuda and", "unexpected end"),
        ("(has_cuda", "missing ')'"),
        ('has_cuda and foo == "1"', "invalid marker"),
        ("", "empty marker"),
    ],
)
def test_invalid(marker: str, message: str) -> None:
    with pytest.raises(markers.MarkerError, match="invalid marker") as info:
        markers.validate(marker)
    assert message in str(info.value)


def test_fact_names_ignore_quoted_text() -> None:
    assert markers.fact_names('platform_release == "has_cuda"') == []
    assert markers.fact_names('has_cuda and cuda_version > "12"') == ["has_cuda", "cuda_version"]
    assert markers.mask('a and ("b or c") or d') == "a and            or d"


def test_entries_with_facts() -> None:
    entry = parse_entry('deepdoc-lib[gpu]~=0.2.2 ; has_cuda and sys_platform == "linux"')
    assert entry.key == "deepdoc-lib" and entry.has_facts
    assert entry.resolve(None, CUDA) == 'deepdoc-lib[gpu]~=0.2.2 ; sys_platform == "linux"'
    assert entry.resolve(None, CPU) is None
    system = parse_entry("#system_torch# ; has_cuda")
    assert system.resolve("2.0.0+cu128", CUDA) == "torch==2.0.0+cu128"
    assert system.resolve("2.0.0+cu128", CPU) is None
    plain = parse_entry('alpha ; python_version >= "3.8"')
    assert not plain.has_facts and plain.resolve(None, CPU) == plain.text
    with pytest.raises(EntryError, match="has_cuda is true or false"):
        parse_entry('x ; has_cuda == "1"')
