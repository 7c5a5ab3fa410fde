"""Bad input: hypothesis-generated spec files, engine files, overrides files,
``-p`` strings and names on the command line (random bytes, deep nesting,
huge lists, unicode names, path tricks, placeholders, markers).

Every one ends in exit 0, or a clean error with exit 1 or 2: never a
traceback, never an internal error, and never a file written outside the
locks folder or the modelenv home. ``validate``, ``show`` and ``lock --check``
write nothing at all.

Runs in-process (``run_cli``) for speed, with a bounded number of examples,
derandomized so that CI sees the same examples every time, and with uv kept
off the network (``UV_OFFLINE=1``: a URL requirement fails at once).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ..conftest import run_cli, write_spec
from .support import XY, assert_clean, idx

VALID_SPEC = f'[env]\npython = ["{XY}"]\npackages = ["beta"]\n'


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,  # write nothing anywhere, not even hypothesis's example database
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


# ---------------------------------------------------------------- watching the disk

State = dict[str, tuple[str, int, int]]  # path -> (kind, size, mtime)


@dataclass
class Disk:
    """Every file under the test's folders (and the names beside them), so that a
    command can be shown to have written nothing, or only where it may."""

    project: Path
    home: Path  # $HOME, which holds the modelenv home
    modelenv_home: Path
    tmp: Path  # $TMPDIR for the commands under test

    @property
    def locks(self) -> Path:
        return self.project / "locks"

    def snapshot(self) -> State:
        state: State = {}
        for root in (self.project, self.home):
            _scan(str(root), state)
        # Beside them ('../x'), and where '../../x' or '../../etc/passwd' would land.
        for name in os.listdir(self.project.parent):
            state.setdefault(os.path.join(self.project.parent, name), ("entry", 0, 0))
        for trick in ("x", "etc", "other", "m"):
            beside = self.project.parent.parent / trick
            if beside.exists():
                state[str(beside)] = ("entry", 0, 0)
        return state

    def changes(self, before: State, after: State, allowed: tuple[Path, ...] = ()) -> list[str]:
        changed = [p for p in after.keys() | before.keys() if before.get(p) != after.get(p)]
        prefixes = tuple(str(a) for a in allowed)
        return sorted(
            p for p in changed if not any(p == a or p.startswith(a + os.sep) for a in prefixes)
        )


def _scan(folder: str, state: State) -> None:
    """What os.walk(folder) sees, recorded into ``state``: a folder (or a link to
    one, not followed) as ("dir", 0, 0), anything else as ("file", size, mtime)
    of its lstat. One scandir per folder, none of os.walk's joins and islinks:
    the tests here take thousands of snapshots."""
    try:
        entries = os.scandir(folder)
    except OSError:  # gone, or not a folder: as os.walk, skip it
        return
    with entries:
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                state[entry.path] = ("dir", 0, 0)
                if not entry.is_symlink():
                    _scan(entry.path, state)
                continue
            try:
                st_ = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            state[entry.path] = ("file", st_.st_size, st_.st_mtime_ns)


@pytest.fixture()
def disk(
    project: Path,
    wheelhouse: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> Iterator[Disk]:
    write_spec(project, "m", VALID_SPEC)
    write_spec(project, "other", VALID_SPEC)
    code, _out, err = run_cli(capfd, "lock", *idx(wheelhouse))
    assert code == 0, err
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setenv("UV_OFFLINE", "1")
    modelenv_home = Path(os.environ["MODELENV_HOME"])
    modelenv_home.mkdir(parents=True, exist_ok=True)
    yield Disk(project, Path(os.environ["HOME"]), modelenv_home, private_tmp)


def check(
    capfd: pytest.CaptureFixture[str],
    disk: Disk,
    *argv: str,
    writes: tuple[Path, ...] = (),
) -> int:
    """Run ``modelenv ARGV``; it must end cleanly and write only under ``writes``
    (and the home's cache, where any command that probes the base interpreter
    may keep what it found: compiler.probecache)."""
    return _check(capfd, disk, argv, writes, disk.snapshot())[0]


def check_each(
    capfd: pytest.CaptureFixture[str],
    disk: Disk,
    *runs: tuple[tuple[str, ...], tuple[Path, ...]],
) -> None:
    """check() each ``(argv, writes)`` in turn. Nothing runs between them, so
    the disk after one is the disk before the next: one snapshot each, not two."""
    before = disk.snapshot()
    for argv, writes in runs:
        before = _check(capfd, disk, argv, writes, before)[1]


def _check(
    capfd: pytest.CaptureFixture[str],
    disk: Disk,
    argv: tuple[str, ...],
    writes: tuple[Path, ...],
    before: State,
) -> tuple[int, State]:
    code, out, err = run_cli(capfd, *argv)
    assert_clean(code, err)
    assert "Traceback" not in out, out
    after = disk.snapshot()
    written = disk.changes(before, after, (*writes, disk.modelenv_home / "cache"))
    assert written == [], (argv, written)
    return code, after


READ_ONLY = (
    ("validate",),
    ("show", "m"),
    ("show", "m", "--json"),
    ("lock", "--check"),
    ("lock", "--check", "m"),
)


def check_spec_commands(
    capfd: pytest.CaptureFixture[str], disk: Disk, wheelhouse: Path, *, create: bool = True
) -> None:
    runs: list[tuple[tuple[str, ...], tuple[Path, ...]]] = [(argv, ()) for argv in READ_ONLY]
    runs.append((("lock", "m", *idx(wheelhouse)), (disk.locks,)))
    if create:
        runs.append((("create", "m", *idx(wheelhouse)), (disk.modelenv_home,)))
    check_each(capfd, disk, *runs)


# ---------------------------------------------------------------- strategies

PATH_TRICKS = [
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "/tmp/x",
    "a/b",
    "a\\b",
    "..",
    ".",
    "./m",
    "~",
    "~/x",
    "$HOME",
    "m/../other",
    "%2e%2e%2fx",
]
NAME_TRICKS = [
    "",
    " ",
    "m ",
    " m",
    "M",
    "m\n",
    "m\t",
    "-m",
    "--help",
    "_engines",
    "mödel",
    "模型",
    "ﬁ",
    "m" * 129,
    "m" * 5000,
    "default",
    "#system_alpha#",
    "m\u200b",
    "m\u0301",
    "\U0001f600",
]
names = st.sampled_from(["m", "other", *PATH_TRICKS, *NAME_TRICKS]) | st.text(max_size=20)

dist_names = st.sampled_from(
    ["alpha", "beta", "gamma", "no-such-dist", "Alpha", "a.b-c_d", "../x", "ünï", "x" * 300, ""]
) | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True)
specifiers = st.sampled_from(
    [
        "",
        ">=1.0",
        "==1.0.0",
        "<0",
        "===weird",
        "~=1",
        ">=1,<2",
        "==*",
        "!=",
        "[extra]",
        "[extra]>=1",
        "[../x]",
        " @ file:///etc/passwd",
        " @ file:///nonexistent/x-1.0-py3-none-any.whl",
        " @ https://example.invalid/x-1.0-py3-none-any.whl",
        " @ ../x",
        "==1.0+local",
        ">=1.0.dev0",
        "(>=1.0)",
        "==1.0 ; ",
    ]
)
markers = st.sampled_from(
    [
        "",
        "; python_version >= '3'",
        "; sys_platform == 'win32'",
        "; extra == 'x'",
        "; os_name ==",
        '; python_version > "3" and',
        ";",
        "; platform_machine in 'x86_64 aarch64'",
        "; implementation_name == 'cpython' or python_version < '3.8'",
    ]
)
requirements = st.builds(lambda n, s, m: f"{n}{s}{m}", dist_names, specifiers, markers)
placeholders = st.builds(
    lambda inner, m: f"#{inner}#{m}",
    st.sampled_from(
        [
            "system_alpha",
            "system_..",
            "system_../x",
            "system_",
            "foo",
            "engine",
            "system_ALPHA",
            "system_a b",
            "",
            "system_alpha#",
            "system_ünï",
        ]
    )
    | st.text(max_size=12),
    markers,
)
removals = st.builds(lambda n: f"!{n}", dist_names)
entries = st.one_of(requirements, placeholders, removals, st.text(max_size=40))
entry_lists = st.one_of(
    st.lists(entries, max_size=6),
    # Huge lists: thousands of (mostly valid, mostly missing) requirements.
    st.integers(min_value=500, max_value=3000).map(lambda n: [f"pkg{i}>=1" for i in range(n)]),
    st.integers(min_value=100, max_value=1000).map(lambda n: ["alpha"] * n),
)
python_values = st.one_of(
    st.sampled_from([XY, "3.8", "3.7", "2.7", "3", "3.11.7", "py3.11", "../3.11", "3.99", ""]),
    st.text(max_size=8),
    st.integers(min_value=-5, max_value=400),
    st.floats(allow_nan=False, allow_infinity=False),
)
toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.dates(),
    st.datetimes(),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
index_tables = st.fixed_dictionaries(
    {},
    optional={
        "url": st.sampled_from(
            ["http://127.0.0.1:9/simple", "file:///etc", "../x", "", "not a url", "https://u:p@x/"]
        ),
        "extra_urls": st.lists(st.sampled_from(["http://127.0.0.1:9/x", "../x", ""]), max_size=2),
        "find_links": st.lists(
            st.sampled_from(["../x", "/etc", "~", "wheelhouse", ""]), max_size=2
        ),
        "strategy": st.sampled_from(["first-index", "unsafe-best-match", "best", ""]),
        "no_build_isolation": st.booleans() | st.text(max_size=3),
        "junk": toml_values,
    },
)
env_tables = st.fixed_dictionaries(
    {},
    optional={
        "python": st.lists(python_values, max_size=3),
        "packages": entry_lists,
        "constraints": st.lists(entries, max_size=4),
        "system_site_packages": st.booleans() | st.text(max_size=3),
        "exclude_newer": st.sampled_from(["2026-01-01", "2026-01-01T00:00:00Z", "yesterday", ""])
        | st.dates()
        | st.datetimes(),
        "index": index_tables,
        "junk": toml_values,
    },
)
engine_names = st.sampled_from(["transformers", "vllm", "llama.cpp", "nope", *PATH_TRICKS])
variant_tables = st.fixed_dictionaries(
    {}, optional={"packages": st.lists(entries, max_size=4), "constraints": st.lists(entries)}
)
# Valid building blocks: most documents start valid and then get a few bad
# edits, so that the fuzz reaches the merge, the resolver and the installer,
# not only the schema check.
valid_entries = st.one_of(
    st.builds(
        lambda n, s, m: f"{n}{s}{m}",
        st.sampled_from(["alpha", "beta", "gamma", "Alpha", "no-such-dist"]),
        st.sampled_from(["", ">=1.0", "==1.0.0", "<3", "~=1.0", ">=0.1,<5", "[extra]", "!=0.1"]),
        st.sampled_from(["", " ; python_version >= '3'", " ; sys_platform == 'win32'"]),
    ),
    st.sampled_from(["#system_alpha#", "#system_pip#", "#system_alpha# ; python_version >= '3'"]),
)


def _unique(entries: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for e in entries:
        key = e.lstrip("#!").removeprefix("system_").split("#")[0]
        key = key.split(";")[0].split("[")[0].split("=")[0].split("<")[0].split(">")[0]
        key = key.split("~")[0].split("!")[0].strip().lower()
        seen.setdefault(key, e)
    return list(seen.values())


valid_lists = st.lists(valid_entries, min_size=1, max_size=4).map(_unique)

# (where, bad value): one bad edit of a valid document.
SPEC_EDITS = st.one_of(
    st.tuples(st.just(("model", "name")), names),
    st.tuples(st.just(("model", "junk")), toml_values),
    st.tuples(st.just(("env", "python")), st.lists(python_values, max_size=3)),
    st.tuples(st.just(("env", "packages")), entry_lists),
    st.tuples(st.just(("env", "constraints")), st.lists(entries, max_size=4)),
    st.tuples(st.just(("env", "system_site_packages")), toml_scalars),
    st.tuples(st.just(("env", "exclude_newer")), toml_scalars),
    st.tuples(st.just(("env", "index")), index_tables),
    st.tuples(st.just(("env", "junk")), toml_values),
    st.tuples(st.just(("engines",)), st.dictionaries(engine_names, variant_tables, max_size=2)),
    st.tuples(st.just(("junk",)), toml_values),
    st.tuples(st.just(("env",)), toml_scalars),
)


def _apply(document: dict[str, object], where: tuple[str, ...], value: object) -> None:
    target = document
    for key in where[:-1]:
        inner = target.setdefault(key, {})
        if not isinstance(inner, dict):
            return
        target = inner
    target[where[-1]] = value


@st.composite
def spec_documents(draw: st.DrawFn) -> dict[str, object]:
    env: dict[str, object] = {"packages": draw(valid_lists)}
    if draw(st.booleans()):
        env["python"] = [XY]
    if draw(st.booleans()):
        env["constraints"] = draw(st.lists(st.sampled_from(["alpha<5", "gamma>=0.1"]), max_size=2))
    if draw(st.booleans()):
        env["system_site_packages"] = draw(st.booleans())
    document: dict[str, object] = {"model": {"name": "m"}, "env": env}
    for where, value in draw(st.lists(SPEC_EDITS, max_size=2)):
        _apply(document, where, value)
    return document


def toml(document: dict[str, object]) -> bytes:
    try:
        return tomli_w.dumps(document).encode()
    except (TypeError, ValueError):
        assume(False)
        raise AssertionError("unreachable") from None


def deep(depth: int, kind: str) -> str:
    """A value nested ``depth`` levels deep, as TOML text."""
    if kind == "array":
        return "[" * depth + '"alpha"' + "]" * depth
    return "{ a = " * depth + "1" + " }" * depth


deep_specs = st.builds(
    lambda depth, kind, where: (
        (
            f'[model]\nname = "m"\n\n[env]\npython = ["{XY}"]\npackages = ["beta"]\n'
            if where != "packages"
            else f'[model]\nname = "m"\n\n[env]\npython = ["{XY}"]\n'
        )
        + f"{where} = {deep(depth, kind)}\n"
    ),
    st.integers(min_value=2, max_value=3000),
    st.sampled_from(["array", "table"]),
    st.sampled_from(["packages", "junk", "constraints"]),
)


def mutated(text: str) -> st.SearchStrategy[bytes]:
    """The valid spec with random bytes spliced in somewhere."""
    data = text.encode()
    return st.builds(
        lambda at, cut, junk: data[:at] + junk + data[at + cut :],
        st.integers(min_value=0, max_value=len(data)),
        st.integers(min_value=0, max_value=8),
        st.binary(max_size=12),
    )


spec_bytes = st.one_of(
    st.binary(max_size=400),
    mutated(f'[model]\nname = "m"\n\n{VALID_SPEC}'),
    st.text(max_size=200).map(str.encode),
)


# ---------------------------------------------------------------- spec files


@pytest.mark.slow
@fuzz_settings(120)
@given(content=spec_bytes)
def test_random_bytes_as_a_spec_file(
    disk: Disk, wheelhouse: Path, capfd: pytest.CaptureFixture[str], content: bytes
) -> None:
    (disk.project / "specs" / "m.toml").write_bytes(content)
    check_spec_commands(capfd, disk, wheelhouse)


@pytest.mark.slow
@fuzz_settings(80)
@given(document=spec_documents())
def test_generated_spec_documents(
    disk: Disk, wheelhouse: Path, capfd: pytest.CaptureFixture[str], document: dict[str, object]
) -> None:
    (disk.project / "specs" / "m.toml").write_bytes(toml(document))
    check_spec_commands(capfd, disk, wheelhouse)


@pytest.mark.slow
@fuzz_settings(40)
@given(text=deep_specs)
def test_deeply_nested_spec_values(
    disk: Disk, wheelhouse: Path, capfd: pytest.CaptureFixture[str], text: str
) -> None:
    (disk.project / "specs" / "m.toml").write_text(text)
    # create: see test_deeply_nested_files_on_the_launch_path
    check_spec_commands(capfd, disk, wheelhouse, create=False)


spec_file_names = st.sampled_from(
    ["mödel", "模型", "UPPER", ".hidden", "a b", "-x", "x" * 200, "m.v2", "_private", "m\u200b"]
)


@pytest.mark.slow
@fuzz_settings(40)
@given(stem=spec_file_names, document=spec_documents())
def test_specs_under_odd_file_names(
    disk: Disk,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    stem: str,
    document: dict[str, object],
) -> None:
    """Every command that walks the specs folder meets a file it did not expect."""
    path = disk.project / "specs" / f"{stem}.toml"
    path.write_bytes(toml(document))
    try:
        check_each(
            capfd,
            disk,
            *((argv, ()) for argv in (*READ_ONLY, ("validate", str(path)), ("show", stem))),
            (("lock", *idx(wheelhouse)), (disk.locks,)),
            (("gc", "--dry-run"), ()),
        )
    finally:
        path.unlink()


engine_documents = st.one_of(
    st.dictionaries(engine_names | names, variant_tables | toml_values, max_size=4),
    st.dictionaries(st.text(max_size=8), toml_values, max_size=4),
)


@pytest.mark.slow
@fuzz_settings(60)
@given(content=st.one_of(engine_documents, st.binary(max_size=200)))
def test_generated_engine_files(
    disk: Disk, capfd: pytest.CaptureFixture[str], content: bytes | dict[str, object]
) -> None:
    raw = content if isinstance(content, bytes) else toml(content)
    (disk.project / "specs" / "_engines.toml").write_bytes(raw)
    check_each(capfd, disk, *((argv, ()) for argv in READ_ONLY))


# ---------------------------------------------------------------- overrides and -p

valid_overrides = st.lists(
    st.one_of(valid_entries, st.sampled_from(["!alpha", "!gamma", "!beta"])), max_size=3
).map(_unique)
OVERRIDE_EDITS = st.one_of(
    st.tuples(st.just(("global", "packages")), st.lists(entries, max_size=4)),
    st.tuples(st.just(("global", "constraints")), st.lists(entries, max_size=3)),
    st.tuples(st.just(("global", "python")), python_values),
    st.tuples(st.just(("global", "junk")), toml_values),
    st.tuples(st.just(("models",)), st.dictionaries(names, st.just({}), max_size=2)),
    st.tuples(st.just(("models", "m", "packages")), entry_lists),
    st.tuples(st.just(("models", "m", "python")), python_values),
    st.tuples(st.just(("junk",)), toml_values),
    st.tuples(st.just(("global",)), toml_scalars),
)


@st.composite
def override_documents(draw: st.DrawFn) -> dict[str, object]:
    document: dict[str, object] = {}
    if draw(st.booleans()):
        document["global"] = {"packages": draw(valid_overrides)}
    if draw(st.booleans()):
        document["models"] = {"m": {"packages": draw(valid_overrides)}}
    for where, value in draw(st.lists(OVERRIDE_EDITS, max_size=2)):
        _apply(document, where, value)
    return document


override_bytes = st.one_of(
    override_documents().map(toml),
    st.binary(max_size=200),
    mutated('[models.m]\npackages = ["alpha"]\n'),
)


@pytest.mark.slow
@fuzz_settings(80)
@given(content=override_bytes, default_location=st.booleans())
def test_generated_overrides_files(
    disk: Disk,
    wheelhouse: Path,
    capfd: pytest.CaptureFixture[str],
    content: bytes,
    default_location: bool,
) -> None:
    if default_location:
        path = disk.modelenv_home / "overrides.toml"
        flag: tuple[str, ...] = ()
    else:
        path = disk.project / "my-overrides.toml"
        flag = ("--overrides", str(path))
    path.write_bytes(content)
    try:
        check_each(
            capfd,
            disk,
            (("show", "m", *flag), ()),
            (("lock", "--check"), ()),  # overrides never reach a committed lock
            (("create", "m", *flag, *idx(wheelhouse)), (disk.modelenv_home,)),
        )
    finally:
        path.unlink()


@pytest.mark.slow
@fuzz_settings(100)
@given(packages=st.lists(entries, min_size=1, max_size=4))
def test_generated_package_options(
    disk: Disk, wheelhouse: Path, capfd: pytest.CaptureFixture[str], packages: list[str]
) -> None:
    flags = [arg for p in packages for arg in ("-p", p)]
    check_each(
        capfd,
        disk,
        (("show", "m", *flags), ()),
        (("create", "m", *flags, *idx(wheelhouse)), (disk.modelenv_home,)),
    )


# ---------------------------------------------------------------- names on the command line

COMMANDS: dict[str, tuple[Callable[[str], list[str]], str]] = {
    # name -> (argv from a fuzzed value, where it may write); NUL bytes included:
    # they cannot reach argv through exec, but in-process (and through the API) they can.
    "create-model": (lambda v: ["create", v], "home"),
    "run-model": (lambda v: ["run", v, "--", "python", "-c", "1"], "home"),
    "create-engine": (lambda v: ["create", "m", "--engine", v], "home"),
    "create-python": (lambda v: ["create", "m", "--python", v], "home"),
    "create-base-python": (lambda v: ["create", "m", "--base-python", v], "home"),
    "show-model": (lambda v: ["show", v], ""),
    "show-engine": (lambda v: ["show", "m", "--engine", v], ""),
    "show-python": (lambda v: ["show", "m", "--python", v], ""),
    "lock-model": (lambda v: ["lock", v], "locks"),
    "lock-engine": (lambda v: ["lock", "m", "--engine", v], "locks"),
    "lock-python": (lambda v: ["lock", "m", "--python", v], "locks"),
    "lock-check-model": (lambda v: ["lock", "--check", v], ""),
    "remove-model": (lambda v: ["remove", v], "home"),
    "remove-engine": (lambda v: ["remove", "m", "--engine", v], "home"),
    "list-model": (lambda v: ["list", "--model", v, "--json"], ""),
    "doctor-model": (lambda v: ["doctor", v], ""),
    "validate-path": (lambda v: ["validate", v], ""),
    "new-name": (lambda v: ["new", v, "-p", "alpha"], "specs"),
    "new-package": (lambda v: ["new", "fresh", "-p", v], "specs"),
    "new-python": (lambda v: ["new", "fresh", "-p", "alpha", "--python", v], "specs"),
    "new-engine": (lambda v: ["new", "fresh", "--engine", v], "specs"),
}


@pytest.mark.slow
@fuzz_settings(200)
@given(command=st.sampled_from(sorted(COMMANDS)), value=names)
def test_names_and_options_on_the_command_line(
    disk: Disk, wheelhouse: Path, capfd: pytest.CaptureFixture[str], command: str, value: str
) -> None:
    # Names too long for the file system: see test_overlong_names_are_refused_cleanly.
    assume(len(value.encode("utf-8", "surrogatepass")) <= 200)
    make_argv, where = COMMANDS[command]
    argv = make_argv(value)
    if argv[0] in ("create", "run", "lock") and "--check" not in argv:
        # index options before "--"
        cut = argv.index("--") if "--" in argv else len(argv)
        argv = [*argv[:cut], *idx(wheelhouse), *argv[cut:]]
    specs = disk.project / "specs"
    writes = {"home": (disk.modelenv_home,), "locks": (disk.locks,), "specs": (specs,), "": ()}
    before = set(specs.iterdir())
    try:
        check(capfd, disk, *argv, writes=writes[where])
    finally:
        for path in set(specs.iterdir()) - before:  # what 'new' wrote
            assert path.parent == specs and path.suffix == ".toml", path
            path.unlink()


NUL_CASES = {
    "create-model": ["create", "m\x00"],
    "run-model": ["run", "m\x00", "--", "python", "-c", "1"],
    "create-engine": ["create", "m", "--engine", "e\x00"],
    "create-python": ["create", "m", "--python", f"{XY}\x00"],
    "show-overrides": ["show", "m", "--overrides", "o\x00.toml"],
    "create-overrides": ["create", "m", "--overrides", "o\x00.toml"],
}


@pytest.mark.parametrize("argv", NUL_CASES.values(), ids=NUL_CASES.keys())
def test_nul_bytes_are_refused_cleanly(
    disk: Disk, wheelhouse: Path, capfd: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """A NUL byte cannot reach argv through exec; in-process (and through the
    Python API, which a model server calls with names it was given) it can."""
    cut = argv.index("--") if "--" in argv else len(argv)
    code = check(capfd, disk, *argv[:cut], *idx(wheelhouse), *argv[cut:])
    assert code in (1, 2)


def test_the_api_refuses_a_nul_byte_with_a_modelenv_error(disk: Disk) -> None:
    import compiler
    from compiler.errors import ModelenvError

    with pytest.raises(ModelenvError):
        compiler.ensure_env("m\x00")
    with pytest.raises(ModelenvError):
        compiler.ensure_env("m", engine="e\x00")
    with pytest.raises(ModelenvError):
        compiler.ensure_env("m", python="3.1\x00")


LONG = "m" * 300  # longer than a file name may be (255 bytes)
_LONG = "BUG: a name longer than 255 bytes ends in an internal error (OSError ENAMETOOLONG from"
LONG_CASES = {
    # pathlib's is_file()/exists()/is_dir() swallow ENOENT, not ENAMETOOLONG.
    "show-model": (["show", LONG], f"{_LONG} Path.is_file in plan.load_model)"),
    "lock-model": (["lock", LONG], f"{_LONG} Path.is_file in plan.load_model)"),
    "lock-check-model": (["lock", "--check", LONG], f"{_LONG} Path.is_file in plan.load_model)"),
    "create-model": (["create", LONG], f"{_LONG} Path.is_file in plan.load_model)"),
    "run-model": (["run", LONG, "--", "python", "-c", "1"], f"{_LONG} plan.load_model)"),
    "validate-path": (["validate", LONG], f"{_LONG} Path.is_dir in commands/validate.run)"),
    "show-overrides": (
        ["show", "m", "--overrides", LONG],
        f"{_LONG} Path.is_file in plan._overrides_path)",
    ),
    "show-base-python": (
        ["show", "m", "--base-python", LONG],
        f"{_LONG} Path.exists in host.find_interpreter)",
    ),
    "create-base-python": (
        ["create", "m", "--base-python", LONG],
        f"{_LONG} Path.exists in host.find_interpreter)",
    ),
}


@pytest.mark.parametrize(
    "case",
    [pytest.param(name) for name in sorted(LONG_CASES)],
)
def test_overlong_names_are_refused_cleanly(
    disk: Disk, wheelhouse: Path, capfd: pytest.CaptureFixture[str], case: str
) -> None:
    argv, _reason = LONG_CASES[case]
    if argv[0] in ("create", "run", "lock") and "--check" not in argv:
        cut = argv.index("--") if "--" in argv else len(argv)
        argv = [*argv[:cut], *idx(wheelhouse), *argv[cut:]]
    code = check(capfd, disk, *argv, writes=(disk.modelenv_home, disk.locks))
    assert code in (1, 2)


@pytest.mark.parametrize("command", ["create", "run"])
def test_a_missing_overrides_file_is_refused_even_when_up_to_date(
    disk: Disk, wheelhouse: Path, capfd: pytest.CaptureFixture[str], command: str
) -> None:
    code, _out, err = run_cli(capfd, "create", "m", *idx(wheelhouse))
    assert code == 0, err
    missing = str(disk.project / "no-such-overrides.toml")
    code, _out, err = run_cli(capfd, "show", "m", "--overrides", missing)
    assert code == 2 and "does not exist" in err
    argv = [command, "m", "--overrides", missing, *idx(wheelhouse)]
    if command == "run":
        argv += ["--", "python", "-c", "print('ran')"]
    code, out, err = run_cli(capfd, *argv)
    assert_clean(code, err)
    assert code == 2 and "does not exist" in err, (code, out, err)


DEEP = "[" * 3000 + "]" * 3000  # beyond tomllib's recursion
_DEEP = (
    "BUG: a deeply nested spec or overrides file ends in an internal error (RecursionError)"
    " on create/run's fast path: store.choose_python and store._overrides_python call"
    " tomllib.loads catching only ValueError (spec.problems.parse_toml does catch RecursionError)"
)


@pytest.mark.parametrize(
    ("command", "where"),
    [
        pytest.param(
            command,
            where,
            id=f"{command}-{where}",
        )
        for command in ("create", "run", "show")
        for where in ("spec", "overrides", "default-overrides")
    ],
)
def test_deeply_nested_files_on_the_launch_path(
    disk: Disk, wheelhouse: Path, capfd: pytest.CaptureFixture[str], command: str, where: str
) -> None:
    flags: tuple[str, ...] = ()
    if where == "spec":
        (disk.project / "specs" / "m.toml").write_text(
            f'[model]\nname = "m"\n\n{VALID_SPEC}junk = {DEEP}\n'
        )
    elif where == "overrides":
        path = disk.project / "deep-overrides.toml"
        path.write_text(f"[global]\npython = {DEEP}\n")
        flags = ("--overrides", str(path))
    else:
        (disk.modelenv_home / "overrides.toml").write_text(f"[global]\npython = {DEEP}\n")
    argv = [command, "m", *flags]
    if command != "show":
        argv += idx(wheelhouse)
    if command == "run":
        argv += ["--", "python", "-c", "1"]
    check(capfd, disk, *argv, writes=(disk.modelenv_home,))
