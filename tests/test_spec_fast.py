"""The fast spec validator (compiler/spec/fast.py) against the pydantic
reference (compiler/spec/schema.py): over the bundled specs, engines and
targets, the Xinference corpus, and mutations of all of them, the fast one
either steps aside (None) or builds exactly what the reference validates, and
never accepts what the reference rejects. Also: the two schemas list the same
fields, lock fingerprints are what the pydantic-based code made, and loading
valid files never imports pydantic."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from compiler.importer import import_xinference
from compiler.spec import fast, schema, types

from .conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS = REPO.parent / "shared" / "corpus" / "xinference-virtualenvs.json"
if not CORPUS.exists():  # a worktree elsewhere: the shared copy
    CORPUS = Path("/work/shared/corpus/xinference-virtualenvs.json")
SPECS = REPO / "specs"

# kind -> (reference model, fast builder, the root key the reference validates it under)
KINDS: dict[str, tuple[type[BaseModel], Callable[[Any], Any], str | None]] = {
    "spec": (schema.Spec, fast.build_spec, None),
    "engines": (schema._EnginesRoot, fast.build_engines, "engines"),
    "overrides": (schema.Overrides, fast.build_overrides, None),
    "target": (schema.Target, fast.build_target, None),
}
PAIRS = [
    (types.ModelSection, schema.ModelSection),
    (types.IndexSection, schema.IndexSection),
    (types.EnvSection, schema.EnvSection),
    (types.DefaultVariant, schema.DefaultVariant),
    (types.EngineVariant, schema.EngineVariant),
    (types.Spec, schema.Spec),
    (types.EngineDefaults, schema.EngineDefaults),
    (types.OverrideSection, schema.OverrideSection),
    (types.Overrides, schema.Overrides),
    (types.PythonSection, schema.PythonSection),
    (types.FactsSection, schema.FactsSection),
    (types.CaptureSection, schema.CaptureSection),
    (types.Target, schema.Target),
]


@pytest.mark.parametrize(("runtime", "reference"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_each_type_has_the_fields_of_its_reference_model(
    runtime: type, reference: type[BaseModel]
) -> None:
    names = [f.name for f in dataclasses.fields(runtime) if f.name != "given_fields"]
    assert names == list(reference.model_fields)


def _deep(value: Any) -> Any:
    """A comparable form of a runtime object or a reference model: class name,
    fields in order, an index's given fields, exact value types."""
    if isinstance(value, BaseModel):
        out: list[Any] = [type(value).__name__]
        out += [(name, _deep(getattr(value, name))) for name in type(value).model_fields]
        if isinstance(value, schema.IndexSection):
            out.append(("given_fields", sorted(value.model_fields_set)))
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = [type(value).__name__]
        out += [
            (f.name, _deep(getattr(value, f.name)))
            for f in dataclasses.fields(value)
            if f.name != "given_fields"
        ]
        if isinstance(value, types.IndexSection):
            out.append(("given_fields", sorted(value.given_fields)))
        return out
    if isinstance(value, dict):
        return ["dict", [(k, _deep(v)) for k, v in value.items()]]
    if isinstance(value, tuple):
        return ["tuple", [_deep(v) for v in value]]
    if isinstance(value, dt.datetime):
        return ["datetime", value.isoformat()]
    return [type(value).__name__, value]


REJECTED = "rejected"


def _reference(kind: str, data: Any) -> Any:
    model, _build, root = KINDS[kind]
    try:
        valid = model.model_validate(data if root is None else {root: data})
    except ValidationError:
        return REJECTED
    return valid if root is None else getattr(valid, root)


def _judge(kind: str, data: Any) -> bool:
    """Compare both validators on ``data``: True when the fast one accepted it."""
    built = KINDS[kind][1](data)
    ref = _reference(kind, data)
    if ref is REJECTED:
        assert built is None, f"fast accepted what the reference rejects: {data!r}"
        return False
    # The slow path: the reference's normalised output goes through the builder.
    slow = getattr(schema, f"check_{kind}")(data, "f.toml")[0]
    assert slow is not None
    assert _deep(slow) == _deep(ref), data
    if built is not None:
        assert _deep(built) == _deep(ref), data
    return built is not None


def _toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _bundled() -> list[tuple[str, dict[str, Any]]]:
    docs = [("spec", _toml(p)) for p in sorted(SPECS.glob("*.toml")) if p.name != "_engines.toml"]
    docs.append(("engines", _toml(SPECS / "_engines.toml")))
    docs += [("target", _toml(p)) for p in sorted((SPECS / "_targets").glob("*.toml"))]
    return docs


OVERRIDES: list[dict[str, Any]] = [
    {},
    {"global": {"packages": ["!torch", "numpy<2"], "python": "3.11"}},
    {"global": {"base_python": "/opt/py/bin/python3"}, "models": {"m": {"constraints": ["a<2"]}}},
    {"models": {"m": {"packages": ["#system_torch#"], "python": "3.12", "base_python": "py"}}},
]
TARGETS: list[dict[str, Any]] = [
    {"python": {"version": "3.11.9", "platform": "x86_64-manylinux_2_28"}},
    {
        "description": "gpu",
        "python": {"version": "3.12.1rc1", "platform": "linux"},
        "facts": {"has_cuda": True, "cuda_version": "12.4", "has_npu": False},
        "markers": {"sys_platform": "linux"},
        "index": {"url": "https://x/simple", "strategy": "first-index"},
        "packages": {"torch": "2.5.1+cu124", "numpy": "2.0.0"},
        "capture": {"at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), "facts_given": []},
    },
    {
        "python": {"version": "3.10.2", "platform": "aarch64-apple-darwin"},
        "capture": {
            "at": dt.datetime(2026, 1, 1, 9, 5, 0, 123, dt.timezone(dt.timedelta(hours=2)))
        },
    },
    {
        "python": {"version": "3.13.0", "platform": "windows"},
        "capture": {"at": dt.datetime(2026, 1, 1, 9, 5), "interpreter": "py", "cuda_from": None},
    },
]


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, dict[str, Any]]]:
    if not CORPUS.exists():
        pytest.skip("the Xinference corpus is not here")
    files = import_xinference(json.loads(CORPUS.read_text())).files()
    return [
        ("engines" if name == "_engines.toml" else "spec", tomllib.loads(text))
        for name, text in sorted(files.items())
    ]


def test_unmutated_documents_take_the_fast_path(corpus: list[tuple[str, dict[str, Any]]]) -> None:
    docs = _bundled() + corpus + [("overrides", d) for d in OVERRIDES]
    docs += [("target", d) for d in TARGETS]
    assert len(corpus) == 332
    assert all(_judge(kind, data) for kind, data in docs)


# Values put in place of every value (and of the first item of every array).
ODD: list[Any] = [
    None,
    3,
    3.5,
    0,
    True,
    False,
    dt.date(2026, 1, 1),
    dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 1, 1, 10, 0),
    dt.time(10, 0),
    "",
    " ",
    "x",
    "3.7",
    "3.11",
    "3.11.9",
    "2026-01-01",
    "a==",
    "numpy<2",
    "!numpy",
    "-e .",
    "#system_torch#",
    "first-index",
    "linux",
    "not a version",
    "Not_Normal",
    [],
    [1],
    ["x"],
    [[]],
    {},
    {"junk": 1},
    [{"name": "x"}],
]


def _paths(data: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in ``data`` (a dict's first keys, an array's first item)."""
    if isinstance(data, dict):
        for key in list(data)[:8]:
            yield (*at, key)
            yield from _paths(data[key], (*at, key))
    elif isinstance(data, list) and data:
        yield (*at, 0)
        yield from _paths(data[0], (*at, 0))


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = _replace(data[path[0]], path[1:], value)  # type: ignore[index]
    return copy


def _remove(data: Any, path: tuple[Any, ...]) -> Any:
    head, last = path[:-1], path[-1]
    parent = data
    for key in head:
        parent = parent[key]
    copy = dict(parent) if isinstance(parent, dict) else list(parent)
    del copy[last]
    return _replace(data, head, copy)


def _mutations(data: dict[str, Any]) -> Iterator[Any]:
    yield {**data, "junk": 1}
    yield from ODD
    for path in _paths(data):
        yield _remove(data, path)
        for odd in ODD:
            yield _replace(data, path, odd)
        value = data
        for key in path:
            value = value[key]
        if isinstance(value, dict):
            yield _replace(data, path, {**value, "junk": [1]})
            yield _replace(data, path, {**value, "nmae": "x"})


def test_mutations_never_let_the_fast_path_accept_what_the_reference_rejects(
    corpus: list[tuple[str, dict[str, Any]]],
) -> None:
    docs = _bundled() + corpus[::25] + [("overrides", d) for d in OVERRIDES]
    docs += [("target", d) for d in TARGETS]
    fast_count = total = 0
    for kind, data in docs:
        for mutated in _mutations(data):
            total += 1
            fast_count += _judge(kind, mutated)
    print(f"{fast_count} of {total} mutations took the fast path")
    assert total > 5000
    assert 0 < fast_count < total  # both paths were exercised


# --- what locks depend on is what the pydantic models made


def _old_given(index: schema.IndexSection) -> dict[str, Any]:
    dump = index.model_dump(mode="json")
    return {k: v for k, v in dump.items() if k in index.model_fields_set}


def _old_fingerprint(target: schema.Target) -> str:
    content = {
        "python": target.python.model_dump(mode="json"),
        "facts": {
            "has_cuda": target.facts.has_cuda,
            "cuda_version": target.facts.cuda_version,
            "has_npu": target.facts.has_npu,
        },
        "markers": dict(sorted(target.markers.items())),
        "index": None if target.index is None else _old_given(target.index),
        "packages": dict(sorted(target.packages.items())),
    }
    blob = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def test_target_fingerprints_and_json_are_unchanged() -> None:
    docs = [d for kind, d in _bundled() if kind == "target"] + TARGETS
    for data in docs:
        built = fast.build_target(data)
        ref = schema.Target.model_validate(data)
        assert built is not None
        assert built.fingerprint() == _old_fingerprint(ref)
        assert types.as_json(built) == ref.model_dump(mode="json")  # 'target show --json'
    # The bundled target's fingerprint, as main computed it before the fast path.
    cpu = fast.build_target(_toml(SPECS / "_targets/cpu-torch.toml"))
    assert cpu is not None
    assert cpu.fingerprint() == (
        "sha256:f6ded3f851efcdd63766f67d0aeb1a5ba60191e49984c238dd7e0302b389652c"
    )


@pytest.mark.parametrize(
    "table",
    [
        {},
        {"url": "https://x/simple"},
        {"no_build_isolation": False, "extra_urls": []},
        {"find_links": ["./w", "/abs"], "strategy": "unsafe-best-match"},
        {
            "url": "u",
            "extra_urls": ["e"],
            "find_links": ["f"],
            "strategy": "first-index",
            "no_build_isolation": True,
        },
    ],
)
def test_index_given_is_unchanged(table: dict[str, Any]) -> None:
    spec = fast.build_spec({"model": {"name": "m"}, "env": {"packages": ["a"], "index": table}})
    assert spec is not None and spec.env.index is not None
    ref = schema.IndexSection.model_validate(table)
    assert json.dumps(spec.env.index.given()) == json.dumps(_old_given(ref))
    assert spec.env.index.given_values() == ref.model_dump(exclude_unset=True)


# --- the fast path imports no pydantic


def test_loading_valid_bundled_files_imports_no_pydantic() -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from compiler.spec import load_engines, load_spec, load_targets, load_overrides\n"
        f"specs = Path({str(SPECS)!r})\n"
        "engines = load_engines(specs)\n"
        "for p in sorted(specs.glob('*.toml')):\n"
        "    if p.name != '_engines.toml':\n"
        "        load_spec(p, engines)\n"
        "assert load_targets(specs)\n"
        "print('pydantic' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "False\n"


@pytest.mark.parametrize("argv", [["validate"], ["lock", "--check"]])
def test_validate_and_lock_check_of_the_bundled_project_import_no_pydantic(
    tmp_path: Path, argv: list[str]
) -> None:
    for folder in ("specs", "locks"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "compiler", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "compiler" in imported  # -X importtime did report
    assert "pydantic" not in imported
