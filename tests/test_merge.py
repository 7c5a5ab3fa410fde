"""compiler.merge.merge: the pure layering of requirements, rule by rule."""

from __future__ import annotations

import pytest

from compiler.errors import ModelenvError
from compiler.merge import Layer, Merged, Provenance, Requirement, merge
from compiler.requirements import Kind

SPEC = "specs/m.toml"
OVR = "overrides.toml"


def base(*packages: str, constraints: tuple[str, ...] = ()) -> Layer:
    return Layer(SPEC, "env", tuple(packages), constraints)


def over(*packages: str, constraints: tuple[str, ...] = (), layer: str = "global") -> Layer:
    return Layer(OVR, layer, tuple(packages), constraints, allow_remove=True)


def cli(*packages: str) -> Layer:
    return Layer("command line", "", tuple(packages), (), allow_remove=True)


def texts(reqs: tuple[Requirement, ...]) -> list[str]:
    return [r.text for r in reqs]


def keys(reqs: tuple[Requirement, ...]) -> list[str]:
    return [r.key for r in reqs]


def test_no_layers_is_empty() -> None:
    assert merge([]) == Merged((), (), ())


def test_single_layer_keeps_order_and_text() -> None:
    merged = merge([base("zeta>=1", "alpha", "Mid_Name==2.0")])
    assert texts(merged.requirements) == ["zeta>=1", "alpha", "Mid_Name==2.0"]
    assert keys(merged.requirements) == ["zeta", "alpha", "mid-name"]
    assert merged.constraints == ()
    assert merged.removed == ()


def test_entries_are_stripped() -> None:
    merged = merge([base("  alpha>=1  ")])
    assert texts(merged.requirements) == ["alpha>=1"]


def test_layers_apply_first_to_last() -> None:
    merged = merge([base("alpha==1"), over("alpha==2"), cli("alpha==3")])
    assert texts(merged.requirements) == ["alpha==3"]
    # and in the other order the spec's entry would win
    merged = merge([cli("alpha==3"), over("alpha==2"), base("alpha==1")])
    assert texts(merged.requirements) == ["alpha==1"]


def test_replacement_keeps_position() -> None:
    merged = merge([base("a", "b==1", "c"), over("b==2")])
    assert texts(merged.requirements) == ["a", "b==2", "c"]


def test_new_key_is_appended() -> None:
    merged = merge([base("a", "b"), over("z", "a==9")])
    assert texts(merged.requirements) == ["a==9", "b", "z"]


def test_later_entry_in_same_layer_replaces_earlier() -> None:
    # merge itself does not reject duplicates (the spec loader does): last wins in place
    merged = merge([cli("a==1", "b", "a==2")])
    assert texts(merged.requirements) == ["a==2", "b"]
    assert [(e.text, o) for e, o in merged.requirements[0].replaced] == [
        ("a==1", Provenance("command line", ""))
    ]


def test_removal_drops_the_key_and_is_recorded() -> None:
    merged = merge([base("a", "b", "c"), over("!b")])
    assert texts(merged.requirements) == ["a", "c"]
    assert len(merged.removed) == 1
    entry, origin = merged.removed[0]
    assert entry.kind is Kind.REMOVE
    assert entry.key == "b"
    assert entry.text == "!b"
    assert origin == Provenance(OVR, "global")


def test_removal_of_an_absent_key_is_still_recorded() -> None:
    merged = merge([base("a"), cli("!nothere")])
    assert texts(merged.requirements) == ["a"]
    assert [(e.key, o.source) for e, o in merged.removed] == [("nothere", "command line")]


def test_removed_then_added_again_goes_to_the_end_without_history() -> None:
    merged = merge([base("a", "b", "c"), over("!a"), cli("a==5")])
    assert texts(merged.requirements) == ["b", "c", "a==5"]
    readded = merged.requirements[-1]
    assert readded.replaced == ()
    assert readded.origin == Provenance("command line", "")
    assert [e.key for e, _ in merged.removed] == ["a"]


@pytest.mark.parametrize(
    ("written", "override"),
    [
        ("Foo_Bar", "foo-bar==2"),
        ("foo-bar", "FOO.BAR==2"),
        ("foo.bar", "Foo_Bar==2"),
        ("foo__bar", "foo-bar==2"),
    ],
)
def test_name_normalisation_makes_one_key(written: str, override: str) -> None:
    merged = merge([base("x", written, "y"), over(override)])
    assert keys(merged.requirements) == ["x", "foo-bar", "y"]
    assert texts(merged.requirements) == ["x", override, "y"]


@pytest.mark.parametrize("removal", ["!Foo_Bar", "!foo.bar", "!FOO-BAR"])
def test_removal_uses_normalised_names(removal: str) -> None:
    merged = merge([base("foo-bar>=1", "x"), cli(removal)])
    assert texts(merged.requirements) == ["x"]
    assert merged.removed[0][0].key == "foo-bar"


def test_extras_and_markers_of_an_override_replace_the_base_entry() -> None:
    merged = merge(
        [
            base("torch[cuda]>=2 ; sys_platform == 'linux'", "x"),
            over("torch==2.4.0"),
        ]
    )
    assert texts(merged.requirements) == ["torch==2.4.0", "x"]
    merged = merge([base("torch>=2"), over("torch[cpu]==2.4 ; python_version >= '3.10'")])
    assert texts(merged.requirements) == ["torch[cpu]==2.4 ; python_version >= '3.10'"]
    assert merged.requirements[0].key == "torch"


def test_system_placeholder_has_the_package_key() -> None:
    merged = merge([base("#system_NumPy#")])
    (req,) = merged.requirements
    assert req.key == "numpy"
    assert req.entry.kind is Kind.SYSTEM
    assert req.entry.name == "NumPy"
    assert req.entry.expand("1.26.4") == "NumPy==1.26.4"
    assert req.entry.expand(None) == "NumPy"


def test_placeholder_replaces_a_pin_and_a_pin_replaces_a_placeholder() -> None:
    merged = merge([base("a", "numpy==1.0", "b"), over("#system_numpy#")])
    assert texts(merged.requirements) == ["a", "#system_numpy#", "b"]
    assert merged.requirements[1].replaced[0][0].text == "numpy==1.0"

    merged = merge([base("a", "#system_numpy#", "b"), over("numpy==1.0")])
    assert texts(merged.requirements) == ["a", "numpy==1.0", "b"]
    assert merged.requirements[1].entry.kind is Kind.REQUIREMENT
    assert merged.requirements[1].replaced[0][0].text == "#system_numpy#"


def test_placeholder_with_marker() -> None:
    merged = merge([base("#system_numpy# ; sys_platform == 'linux'")])
    (req,) = merged.requirements
    assert req.entry.marker == 'sys_platform == "linux"'
    assert req.entry.expand("2.0.1") == 'numpy==2.0.1 ; sys_platform == "linux"'
    assert req.entry.expand(None) == 'numpy ; sys_platform == "linux"'


def test_removal_of_a_placeholder() -> None:
    merged = merge([base("#system_numpy#", "a"), cli("!numpy")])
    assert texts(merged.requirements) == ["a"]


def test_provenance_of_each_entry() -> None:
    engine = Layer("specs/_engines.toml", "engine vllm", ("vllm>=0.11", "numpy<2.3"))
    merged = merge(
        [
            engine,
            base("numpy==1.26.4", "a"),
            Layer(SPEC, "engines.vllm", ("b",)),
            over("a==2", layer="models.m"),
            cli("c"),
        ]
    )
    origins = {r.key: (r.origin.source, r.origin.layer) for r in merged.requirements}
    assert origins == {
        "vllm": ("specs/_engines.toml", "engine vllm"),
        "numpy": (SPEC, "env"),
        "a": (OVR, "models.m"),
        "b": (SPEC, "engines.vllm"),
        "c": ("command line", ""),
    }
    assert keys(merged.requirements) == ["vllm", "numpy", "a", "b", "c"]


def test_provenance_str() -> None:
    assert str(Provenance(SPEC, "env")) == "specs/m.toml [env]"
    assert str(Provenance("command line", "")) == "command line"
    assert Layer(OVR, "global").provenance == Provenance(OVR, "global")


def test_replaced_history_chain_is_oldest_first() -> None:
    merged = merge(
        [
            Layer("specs/_engines.toml", "engine transformers", ("transformers>=4.53.3",)),
            base("transformers==4.37.2"),
            over("transformers==4.40", layer="global"),
            over("transformers==4.45", layer="models.m"),
            cli("transformers==4.54.0"),
        ]
    )
    (req,) = merged.requirements
    assert req.text == "transformers==4.54.0"
    assert req.origin == Provenance("command line", "")
    assert [(e.text, o.source, o.layer) for e, o in req.replaced] == [
        ("transformers>=4.53.3", "specs/_engines.toml", "engine transformers"),
        ("transformers==4.37.2", SPEC, "env"),
        ("transformers==4.40", OVR, "global"),
        ("transformers==4.45", OVR, "models.m"),
    ]


def test_unreplaced_entry_has_empty_history() -> None:
    merged = merge([base("a"), over("b")])
    assert all(r.replaced == () for r in merged.requirements)


def test_constraints_merge_by_the_same_rules() -> None:
    merged = merge(
        [
            base("x", constraints=("numpy<2", "Foo_Bar>=1", "scipy")),
            over(constraints=("foo-bar<3", "pandas<3", "!scipy")),
        ]
    )
    assert texts(merged.constraints) == ["numpy<2", "foo-bar<3", "pandas<3"]
    assert merged.constraints[1].replaced[0][0].text == "Foo_Bar>=1"
    assert merged.constraints[1].origin == Provenance(OVR, "global")
    # constraints and packages are separate tables
    assert texts(merged.requirements) == ["x"]
    assert [(e.key, o.layer) for e, o in merged.removed] == [("scipy", "global")]


def test_packages_and_constraints_do_not_interfere() -> None:
    merged = merge([base("numpy", constraints=("numpy<2",)), over("!numpy")])
    assert texts(merged.requirements) == []
    assert texts(merged.constraints) == ["numpy<2"]


def test_placeholder_in_constraints_is_an_error() -> None:
    with pytest.raises(ModelenvError) as info:
        merge([base("a", constraints=("numpy<2", "#system_numpy#"))])
    assert str(info.value) == (
        "specs/m.toml [env]: constraints[1]: '#system_numpy#': placeholders are only"
        " allowed in packages"
    )


def test_placeholder_in_override_constraints_is_an_error() -> None:
    with pytest.raises(ModelenvError, match=r"^overrides.toml \[global\]: constraints\[0\]: "):
        merge([base("a"), over(constraints=("#system_torch#",))])


@pytest.mark.parametrize(
    ("layers", "prefix"),
    [
        (
            [base("ok", "foo bar")],
            "specs/m.toml [env]: packages[1]: invalid requirement 'foo bar': ",
        ),
        (
            [base("ok", constraints=("ok", "ok2", "no no"))],
            "specs/m.toml [env]: constraints[2]: invalid requirement 'no no': ",
        ),
        (
            [base("a"), over("x=1")],
            "overrides.toml [global]: packages[0]: invalid requirement 'x=1': ",
        ),
        ([Layer("a.toml", "", ("x=1",))], "a.toml: packages[0]: invalid requirement 'x=1': "),
        ([base("a"), cli("ok", "x y")], "command line: -p: invalid requirement 'x y': "),
    ],
)
def test_invalid_entry_names_layer_and_index(layers: list[Layer], prefix: str) -> None:
    with pytest.raises(ModelenvError) as info:
        merge(layers)
    assert str(info.value).startswith(prefix), str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("", "empty requirement"),
        ("a # comment", "invalid requirement 'a # comment': '#' may only start a #system_NAME#"),
        ("#torch#", "unknown placeholder '#torch#': the only placeholder is #system_NAME#"),
        ("#system_#", "malformed placeholder '#system_#': '' is not a valid distribution name"),
        ("#system_numpy", "malformed placeholder '#system_numpy': expected '#system_NAME#'"),
        ("#system_numpy# ; nonsense", "invalid marker in '#system_numpy# ; nonsense': "),
    ],
)
def test_invalid_entry_messages(entry: str, message: str) -> None:
    with pytest.raises(ModelenvError) as info:
        merge([base("ok", entry)])
    assert str(info.value).startswith(f"specs/m.toml [env]: packages[1]: {message}")


def test_removal_not_allowed_without_allow_remove() -> None:
    with pytest.raises(ModelenvError) as info:
        merge([base("a", "!a")])
    assert str(info.value) == (
        "specs/m.toml [env]: packages[1]: '!a' removes a package, which only overrides and -p"
        " may do; delete the entry instead"
    )
    with pytest.raises(ModelenvError, match=r"constraints\[0\]: '!a' removes a package"):
        merge([base("a", constraints=("!a",))])


def test_malformed_removal() -> None:
    with pytest.raises(ModelenvError) as info:
        merge([cli("!not a name")])
    assert str(info.value) == (
        "command line: -p: invalid removal '!not a name': expected '!NAME' with a distribution name"
    )


def test_error_in_a_later_layer_reports_that_layer() -> None:
    with pytest.raises(ModelenvError, match=r"^overrides.toml \[models.m\]: packages\[1\]"):
        merge([base("a"), over("b", layer="global"), over("c", "bad entry", layer="models.m")])


def test_merge_is_pure() -> None:
    layers = [base("a", "b==1"), over("b==2", "!a")]
    first = merge(layers)
    second = merge(layers)
    assert first == second
    assert layers[0].packages == ("a", "b==1")


def test_marker_variants_of_a_package_are_kept_together() -> None:
    """One layer may list a package once per marker (all different): they are
    kept side by side, and a later layer's entry replaces them all."""
    variants = ("deepdoc-lib[gpu]~=0.2.2 ; has_cuda", "deepdoc-lib~=0.2.2 ; not has_cuda")
    merged = merge([base("a", *variants, "b")])
    assert texts(merged.requirements) == ["a", *variants, "b"]
    replaced = merge([base("a", *variants, "b"), over("deepdoc-lib==0.3")])
    assert texts(replaced.requirements) == ["a", "deepdoc-lib==0.3", "b"]
    assert [e.text for e, _ in replaced.requirements[1].replaced] == list(variants)
    removed = merge([base("a", *variants), over("!deepdoc-lib")])
    assert texts(removed.requirements) == ["a"]
    # Without a marker on each, the later entry of a layer still replaces.
    assert texts(merge([base("x ; os_name == 'nt'", "x")]).requirements) == ["x"]
