"""compiler.indexes: where packages come from, layered, with credentials masked.

Every call passes an explicit environment so this machine's settings cannot
interfere. /etc/pip.conf is always among pip's files (pip's own rule); on the
machines these tests run on it sets only keys modelenv does not read (cert,
constraint), so the tests assert only the keys modelenv reads.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from compiler import indexes
from compiler.indexes import IndexSettings, Setting, mask_url
from compiler.spec import IndexSection

from .conftest import run_cli, write_spec

SECRET_URL = "https://user:s3cret@example.invalid/simple"


def conf(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    """A minimal environment: home and XDG folders in tmp, no pip/uv variables."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "XDG_CONFIG_DIRS": str(tmp_path / "xdg")}


def flat(settings: IndexSettings) -> dict[str, tuple[object, str]]:
    return {k: (s.value, s.source) for k, s in settings.values.items()}


def layered(
    env: dict[str, str], spec: IndexSettings | None = None, cli: IndexSettings | None = None
):
    return indexes.layered(spec or IndexSettings(), cli or IndexSettings(), env)


# --- pip configuration files ------------------------------------------------------------


def test_pip_config_files_order(tmp_path: Path) -> None:
    env = {
        "HOME": "/h",
        "XDG_CONFIG_DIRS": f"/x1{os.pathsep}/x2",
        "PIP_CONFIG_FILE": str(tmp_path / "explicit.conf"),
    }
    assert indexes.pip_config_files(env) == [
        Path("/x1/pip/pip.conf"),
        Path("/x2/pip/pip.conf"),
        Path("/etc/pip.conf"),
        Path("/h/.pip/pip.conf"),
        Path("/h/.config/pip/pip.conf"),
        Path(sys.prefix) / "pip.conf",
        tmp_path / "explicit.conf",
    ]


def test_pip_config_files_defaults_and_xdg_config_home() -> None:
    files = indexes.pip_config_files({"HOME": "/h", "XDG_CONFIG_HOME": "/cfg"})
    assert files == [
        Path("/etc/xdg/pip/pip.conf"),
        Path("/etc/pip.conf"),
        Path("/h/.pip/pip.conf"),
        Path("/cfg/pip/pip.conf"),
        Path(sys.prefix) / "pip.conf",
    ]


def test_devnull_disables_every_file(env: dict[str, str], tmp_path: Path) -> None:
    conf(Path(env["HOME"]) / ".config" / "pip" / "pip.conf", "[global]\nindex-url = https://u/\n")
    env["PIP_CONFIG_FILE"] = os.devnull
    assert indexes.pip_config_files(env) == []
    assert layered(env).values == {}


def test_files_layer_global_user_site_then_explicit(env: dict[str, str], tmp_path: Path) -> None:
    home = Path(env["HOME"])
    xdg = conf(
        tmp_path / "xdg" / "pip" / "pip.conf",
        "[global]\nindex-url = https://xdg/simple\nextra-index-url = https://x1/ https://x2/\n",
    )
    legacy = conf(home / ".pip" / "pip.conf", "[global]\nindex-url = https://legacy/simple\n")
    user = conf(
        home / ".config" / "pip" / "pip.conf",
        "[global]\nindex-url = https://user/simple\nfind-links =\n    /w1\n    /w2\n",
    )
    settings = layered(env)
    assert flat(settings)["index_url"] == ("https://user/simple", str(user))
    assert flat(settings)["extra_index_urls"] == (("https://x1/", "https://x2/"), str(xdg))
    assert flat(settings)["find_links"] == (("/w1", "/w2"), str(user))
    assert "no_index" not in settings.values
    user.unlink()
    assert flat(layered(env))["index_url"] == ("https://legacy/simple", str(legacy))
    legacy.unlink()
    assert flat(layered(env))["index_url"] == ("https://xdg/simple", str(xdg))


def test_pip_config_file_variable_wins_over_other_files(
    env: dict[str, str], tmp_path: Path
) -> None:
    conf(Path(env["HOME"]) / ".config" / "pip" / "pip.conf", "[global]\nindex-url = https://u/\n")
    explicit = conf(tmp_path / "explicit.conf", "[global]\nindex-url = https://explicit/simple\n")
    env["PIP_CONFIG_FILE"] = str(explicit)
    assert flat(layered(env))["index_url"] == ("https://explicit/simple", str(explicit))


def test_pip_config_file_variable_skips_user_files_like_pip(
    env: dict[str, str], tmp_path: Path
) -> None:
    conf(
        Path(env["HOME"]) / ".config" / "pip" / "pip.conf",
        "[global]\nextra-index-url = https://user-only/simple\n",
    )
    explicit = conf(tmp_path / "explicit.conf", "[global]\nindex-url = https://explicit/simple\n")
    env["PIP_CONFIG_FILE"] = str(explicit)
    # pip (configuration.py, iter_config_files) skips the user files then; regression test
    assert "extra_index_urls" not in layered(env).values
    assert Path(env["HOME"]) / ".config" / "pip" / "pip.conf" not in indexes.pip_config_files(env)
    # a PIP_CONFIG_FILE that does not exist does not replace them
    env["PIP_CONFIG_FILE"] = str(tmp_path / "absent.conf")
    assert flat(layered(env))["extra_index_urls"][0] == ("https://user-only/simple",)


def test_missing_explicit_file_is_ignored(env: dict[str, str], tmp_path: Path) -> None:
    env["PIP_CONFIG_FILE"] = str(tmp_path / "absent.conf")
    assert tmp_path / "absent.conf" in indexes.pip_config_files(env)
    assert layered(env).values == {}


def test_install_section_wins_over_global(env: dict[str, str], tmp_path: Path) -> None:
    path = conf(
        tmp_path / "explicit.conf",
        "[install]\nindex-url = https://install/simple\n\n"
        "[global]\nindex-url = https://global/simple\nno-index = yes\n\n"
        "[download]\nindex-url = https://download/simple\n",
    )
    env["PIP_CONFIG_FILE"] = str(path)
    assert flat(layered(env)) == {
        "index_url": ("https://install/simple", str(path)),
        "no_index": (True, str(path)),
    }


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("1", True), ("off", False)])
def test_no_index_in_a_file(env: dict[str, str], tmp_path: Path, raw: str, value: bool) -> None:
    path = conf(tmp_path / "explicit.conf", f"[global]\nno-index = {raw}\n")
    env["PIP_CONFIG_FILE"] = str(path)
    assert flat(layered(env))["no_index"] == (value, str(path))


def test_unparsable_file_is_skipped(env: dict[str, str], tmp_path: Path) -> None:
    path = conf(tmp_path / "explicit.conf", "index-url = https://no-section/\n")
    env["PIP_CONFIG_FILE"] = str(path)
    assert layered(env).values == {}


# --- environment variables ---------------------------------------------------------------


@pytest.fixture()
def with_file(env: dict[str, str], tmp_path: Path) -> Path:
    path = conf(
        tmp_path / "explicit.conf",
        "[global]\nindex-url = https://file/simple\nextra-index-url = https://file-extra/\n"
        "find-links = /file-wheels\nno-index = false\n",
    )
    env["PIP_CONFIG_FILE"] = str(path)
    return path


@pytest.mark.parametrize(
    ("variables", "key", "expected"),
    [
        (
            {"PIP_INDEX_URL": " https://pip/simple "},
            "index_url",
            ("https://pip/simple", "PIP_INDEX_URL"),
        ),
        (
            {"PIP_INDEX_URL": "https://pip/simple", "UV_INDEX_URL": "https://uv/simple"},
            "index_url",
            ("https://uv/simple", "UV_INDEX_URL"),
        ),
        (
            {
                "PIP_INDEX_URL": "https://pip/simple",
                "UV_INDEX_URL": "https://uv/simple",
                "UV_DEFAULT_INDEX": "https://uv-default/simple",
            },
            "index_url",
            ("https://uv-default/simple", "UV_DEFAULT_INDEX"),
        ),
        (
            {"PIP_EXTRA_INDEX_URL": "https://e1/  https://e2/"},
            "extra_index_urls",
            (("https://e1/", "https://e2/"), "PIP_EXTRA_INDEX_URL"),
        ),
        (
            {"PIP_EXTRA_INDEX_URL": "https://e1/", "UV_EXTRA_INDEX_URL": "https://u1/ https://u2/"},
            "extra_index_urls",
            (("https://u1/", "https://u2/"), "UV_EXTRA_INDEX_URL"),
        ),
        ({"PIP_FIND_LINKS": "/a /b"}, "find_links", (("/a", "/b"), "PIP_FIND_LINKS")),
        (
            {"PIP_FIND_LINKS": "/a", "UV_FIND_LINKS": "/c,/d /e"},
            "find_links",
            (("/c", "/d", "/e"), "UV_FIND_LINKS"),
        ),
        ({"PIP_NO_INDEX": "yes"}, "no_index", (True, "PIP_NO_INDEX")),
        ({"PIP_NO_INDEX": "1", "UV_NO_INDEX": "0"}, "no_index", (False, "UV_NO_INDEX")),
        (
            {"UV_INDEX_STRATEGY": "unsafe-best-match"},
            "strategy",
            ("unsafe-best-match", "UV_INDEX_STRATEGY"),
        ),
        ({"UV_NO_BUILD_ISOLATION": "true"}, "no_build_isolation", (True, "UV_NO_BUILD_ISOLATION")),
    ],
)
def test_environment_over_files_and_uv_over_pip(
    env: dict[str, str],
    with_file: Path,
    variables: dict[str, str],
    key: str,
    expected: tuple[object, str],
) -> None:
    env.update(variables)
    settings = flat(layered(env))
    assert settings[key] == expected
    # keys no variable sets still come from the file
    for other, value in {
        "index_url": "https://file/simple",
        "extra_index_urls": ("https://file-extra/",),
        "find_links": ("/file-wheels",),
        "no_index": False,
    }.items():
        if other != key:
            assert settings[other] == (value, str(with_file))


def test_empty_variables_are_ignored(env: dict[str, str], with_file: Path) -> None:
    env.update(PIP_INDEX_URL="", UV_DEFAULT_INDEX="   ", PIP_FIND_LINKS="")
    settings = flat(layered(env))
    assert settings["index_url"] == ("https://file/simple", str(with_file))
    assert settings["find_links"] == (("/file-wheels",), str(with_file))


# --- spec and command line ---------------------------------------------------------------


def test_spec_sets_only_its_explicit_keys(env: dict[str, str], with_file: Path) -> None:
    env["PIP_EXTRA_INDEX_URL"] = "https://env-extra/"
    spec = indexes.from_spec(IndexSection.of(url="https://spec/simple"), "specs/m.toml [env.index]")
    assert flat(spec) == {"index_url": ("https://spec/simple", "specs/m.toml [env.index]")}
    settings = flat(layered(env, spec))
    assert settings["index_url"] == ("https://spec/simple", "specs/m.toml [env.index]")
    assert settings["extra_index_urls"] == (("https://env-extra/",), "PIP_EXTRA_INDEX_URL")
    assert settings["find_links"] == (("/file-wheels",), str(with_file))


def test_spec_explicit_defaults_still_count(env: dict[str, str]) -> None:
    env["UV_NO_BUILD_ISOLATION"] = "1"
    env["UV_EXTRA_INDEX_URL"] = "https://env-extra/"
    spec = indexes.from_spec(IndexSection.of(no_build_isolation=False, extra_urls=()), "s")
    settings = flat(layered(env, spec))
    assert settings["no_build_isolation"] == (False, "s")
    assert settings["extra_index_urls"] == ((), "s")


def test_spec_without_index_table() -> None:
    assert indexes.from_spec(None, "s").values == {}


def test_spec_all_keys() -> None:
    section = IndexSection.of(
        url="https://s/simple",
        extra_urls=("https://e/",),
        find_links=("./wheels",),
        strategy="unsafe-best-match",
        no_build_isolation=True,
    )
    assert flat(indexes.from_spec(section, "src")) == {
        "index_url": ("https://s/simple", "src"),
        "extra_index_urls": (("https://e/",), "src"),
        "find_links": (("./wheels",), "src"),
        "strategy": ("unsafe-best-match", "src"),
        "no_build_isolation": (True, "src"),
    }


def test_command_line_over_everything(env: dict[str, str], with_file: Path) -> None:
    env["UV_DEFAULT_INDEX"] = "https://env/simple"
    spec = indexes.from_spec(
        IndexSection.of(url="https://spec/simple", find_links=("/spec-wheels",)), "spec"
    )
    cli = indexes.from_command_line("https://cli/simple", ["https://cli-extra/"])
    settings = flat(layered(env, spec, cli))
    assert settings == {
        "index_url": ("https://cli/simple", "command line"),
        "extra_index_urls": (("https://cli-extra/",), "command line"),
        "find_links": (("/spec-wheels",), "spec"),
        "no_index": (False, str(with_file)),
    }


def test_from_command_line_sets_only_given_options() -> None:
    assert indexes.from_command_line().values == {}
    assert flat(indexes.from_command_line(None, [], ["/w"], True)) == {
        "find_links": (("/w",), "command line"),
        "no_index": (True, "command line"),
    }


def test_layered_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_DEFAULT_INDEX", "https://from-os-environ/simple")
    settings = indexes.layered(IndexSettings(), IndexSettings())
    assert flat(settings) == {"index_url": ("https://from-os-environ/simple", "UV_DEFAULT_INDEX")}


def test_index_settings_helpers() -> None:
    low = IndexSettings({"index_url": Setting("a", "x"), "find_links": Setting(("/w",), "x")})
    high = IndexSettings({"index_url": Setting("b", "y")})
    both = high.over(low)
    assert both.get("index_url") == "b"
    assert both.get("find_links") == ("/w",)
    assert both.get("strategy", "dflt") == "dflt"
    assert flat(both.without_sources("x")) == {"index_url": ("b", "y")}


# --- uv flags ----------------------------------------------------------------------------


def s(**values: object) -> IndexSettings:
    return IndexSettings({k: Setting(v, "t") for k, v in values.items()})


@pytest.mark.parametrize(
    ("settings", "args"),
    [
        (s(), []),
        (s(index_url="https://i/"), ["--index-url", "https://i/"]),
        (
            s(index_url="https://i/", extra_index_urls=("https://e1/", "https://e2/")),
            [
                "--index-url",
                "https://i/",
                "--extra-index-url",
                "https://e1/",
                "--extra-index-url",
                "https://e2/",
            ],
        ),
        (
            s(
                index_url="https://i/",
                extra_index_urls=("https://e/",),
                find_links=("/w1", "/w2"),
                no_index=True,
            ),
            ["--no-index", "--find-links", "/w1", "--find-links", "/w2"],
        ),
        (s(no_index=False, index_url="https://i/"), ["--index-url", "https://i/"]),
        (
            s(strategy="unsafe-best-match", no_build_isolation=True),
            ["--index-strategy", "unsafe-best-match", "--no-build-isolation"],
        ),
        (s(no_build_isolation=False, strategy=None), []),
    ],
)
def test_uv_args(settings: IndexSettings, args: list[str]) -> None:
    assert settings.uv_args() == args


def test_uv_args_full_order() -> None:
    settings = s(
        strategy="first-index",
        no_build_isolation=True,
        find_links=("/w",),
        extra_index_urls=("https://e/",),
        index_url="https://i/",
    )
    assert settings.uv_args() == [
        "--index-url",
        "https://i/",
        "--extra-index-url",
        "https://e/",
        "--find-links",
        "/w",
        "--index-strategy",
        "first-index",
        "--no-build-isolation",
    ]


# --- credentials -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (SECRET_URL, "https://user:****@example.invalid/simple"),
        ("https://tok3n@example.invalid/simple", "https://****@example.invalid/simple"),
        ("https://example.invalid/simple", "https://example.invalid/simple"),
        ("https://user:@h/x", "https://user:****@h/x"),
        ("https://u:p@host:8443/simple/", "https://u:****@host:8443/simple/"),
        ("https://u:p%40ss@h/x?q=1#f", "https://u:****@h/x?q=1#f"),
        ("https://u:p@ss@h/x", "https://u:****@h/x"),
        ("http://u:pw@[::1/x", "http://****@[::1/x"),  # not parsable: masked by pattern
        ("/local/wheels", "/local/wheels"),
        ("file:///local/wheels", "file:///local/wheels"),
        ("", ""),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_masked_view() -> None:
    settings = IndexSettings(
        {
            "index_url": Setting(SECRET_URL, "PIP_INDEX_URL"),
            "extra_index_urls": Setting(("https://tok@e/", "https://e2/"), "f"),
            "no_index": Setting(False, "f"),
        }
    )
    assert settings.masked() == {
        "index_url": {
            "value": "https://user:****@example.invalid/simple",
            "source": "PIP_INDEX_URL",
        },
        "extra_index_urls": {"value": ["https://****@e/", "https://e2/"], "source": "f"},
        "no_index": {"value": False, "source": "f"},
    }


def test_fingerprint_never_depends_on_the_password() -> None:
    a = IndexSettings({"index_url": Setting("https://user:one@h/simple", "x")})
    b = IndexSettings({"index_url": Setting("https://user:two@h/simple", "y")})
    c = IndexSettings({"index_url": Setting("https://other:one@h/simple", "x")})
    d = IndexSettings({"index_url": Setting("https://user:one@h2/simple", "x")})
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()
    assert a.fingerprint() != d.fingerprint()
    assert "one" not in a.fingerprint()
    assert (
        a.fingerprint()
        == IndexSettings({"index_url": Setting("https://user:****@h/simple", "x")}).fingerprint()
    )
    assert a.fingerprint().startswith("sha256:")
    assert len(a.fingerprint()) == len("sha256:") + 64
    assert IndexSettings().fingerprint() != a.fingerprint()


@pytest.fixture()
def secret_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_spec(project, "m", '[env]\npackages = ["alpha"]\n')
    monkeypatch.setenv("PIP_INDEX_URL", SECRET_URL)
    monkeypatch.setenv("UV_EXTRA_INDEX_URL", "https://t0ken-s3cret@extra.invalid/simple")
    return project


def test_show_text_never_prints_the_secret(
    capsys: pytest.CaptureFixture[str], secret_project: Path
) -> None:
    code, out, err = run_cli(capsys, "show", "m")
    assert code == 0, err
    assert "s3cret" not in out + err
    lines = out.splitlines()
    assert "  index-url: https://user:****@example.invalid/simple   (PIP_INDEX_URL)" in lines
    assert "  extra-index-urls: https://****@extra.invalid/simple   (UV_EXTRA_INDEX_URL)" in lines


def test_show_json_never_prints_the_secret(
    capsys: pytest.CaptureFixture[str], secret_project: Path
) -> None:
    code, out, err = run_cli(capsys, "show", "m", "--json", "--index-url", "https://a:s3cret@cli/")
    assert code == 0, err
    assert "s3cret" not in out + err
    assert json.loads(out)["index"] == {
        "index_url": {"value": "https://a:****@cli/", "source": "command line"},
        "extra_index_urls": {
            "value": ["https://****@extra.invalid/simple"],
            "source": "UV_EXTRA_INDEX_URL",
        },
    }


def test_show_text_index_values(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_spec(
        project,
        "m",
        '[env]\npackages = ["alpha"]\n\n[env.index]\nstrategy = "unsafe-best-match"\n',
    )
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    w1, w2 = project / "w1", project / "w2"
    w1.mkdir()
    w2.mkdir()
    code, out, _ = run_cli(capsys, "show", "m", "--find-links", str(w1), "--find-links", str(w2))
    assert code == 0
    index = out.split("index:\n", 1)[1].splitlines()[:-1]
    assert index == [
        f"  find-links: {w1} {w2}   (command line)",
        "  no-index: true   (PIP_NO_INDEX)",
        "  strategy: unsafe-best-match   (specs/m.toml [env.index])",
    ]


def test_show_fingerprint_ignores_environment_and_command_line_index(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_spec(project, "m", '[env]\npackages = ["alpha"]\n')
    _, out, _ = run_cli(capsys, "show", "m", "--json")
    plain = json.loads(out)["fingerprint"]
    monkeypatch.setenv("PIP_INDEX_URL", SECRET_URL)
    _, out, _ = run_cli(capsys, "show", "m", "--json", "--extra-index-url", "https://x/")
    assert json.loads(out)["fingerprint"] == plain
    write_spec(project, "m", '[env]\npackages = ["alpha"]\n\n[env.index]\nurl = "https://s/"\n')
    _, out, _ = run_cli(capsys, "show", "m", "--json")
    assert json.loads(out)["fingerprint"] != plain


def test_uv_index_variable_is_shown_or_not_passed_to_uv(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from compiler import uv

    env["UV_INDEX"] = "https://extra.invalid/simple"
    monkeypatch.setenv("UV_INDEX", env["UV_INDEX"])
    shown = any(s.source == "UV_INDEX" for s in layered(env).values.values())
    passed_to_uv = "UV_INDEX" in uv._environment(None)
    assert shown or not passed_to_uv


def test_folded_uv_variables_are_not_passed_to_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    from compiler import uv

    folded = ["UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS"]
    folded += ["UV_NO_INDEX", "UV_INDEX_STRATEGY"]
    for var in folded:
        monkeypatch.setenv(var, "x")
    env = uv._environment({"EXTRA": "1"})
    assert not set(folded) & set(env)
    assert env["EXTRA"] == "1"
    assert env["UV_NO_PROGRESS"] == "1"
