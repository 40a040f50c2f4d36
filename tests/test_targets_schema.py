"""Target descriptions: schema checks on load and `extends` (neurodeploy/targets.py)."""
import pytest

from neurodeploy import targets as tg
from neurodeploy.errors import TargetError

SCHEMA = '''
[required]
"limits.pes" = "PE"
[optional]
"timing.clock" = ["Hz", "MHz"]
"geometry.*.x" = "QPE"
'''
BASE = '''
[target]
name = "base"
backend = "toy"
[limits]
pes = { value = 4, unit = "PE", source = "datasheet", confidence = "doc" }
[timing]
clock = { value = 150e6, unit = "Hz", source = "datasheet", confidence = "doc" }
[energy.dynamic]
spikes = { value = 2, unit = "pJ", source = "paper", confidence = "2nd" }
'''


def write(tmp_path, **files):
    (tmp_path / "target_schema.toml").write_text(SCHEMA)
    for name, text in files.items():
        (tmp_path / f"{name}.toml").write_text(text)
    return tmp_path


def test_a_valid_target_loads_and_the_shipped_targets_pass_their_schemas(tmp_path):
    t = tg.load(str(write(tmp_path, base=BASE) / "base.toml"))
    assert t.v("limits.pes") == 4 and t.q("energy.dynamic.spikes").unit == "pJ"
    for name in tg.available():
        assert tg.load(name).backend  # every shipped target passes its backend's schema


def test_extends_inherits_and_overrides(tmp_path):
    variant = '[target]\nname = "big"\nextends = "base"\n[limits]\npes = { value = 64, unit = "PE", source = "board", confidence = "doc" }\n'
    t = tg.load(str(write(tmp_path, base=BASE, big=variant) / "big.toml"))
    assert t.v("limits.pes") == 64  # overridden
    assert t.v("timing.clock") == 150e6 and t.backend == "toy"  # inherited
    assert t.get("target.extends") is None


@pytest.mark.parametrize("text, words", [
    (BASE.replace('pes = { value = 4, unit = "PE", source = "datasheet", confidence = "doc" }', ""),
     "required quantity 'limits.pes' is missing"),
    (BASE + 'extra = { value = 1, unit = "B", source = "x", confidence = "doc" }\n', "energy.dynamic.extra has unit 'B'"),
    (BASE + '[other]\nfoo = { value = 1, unit = "B", source = "x", confidence = "doc" }\n', "'other.foo' is not in the toy schema"),
    (BASE.replace('unit = "Hz"', 'unit = "s"'), "timing.clock has unit 's'"),
    (BASE + '[geometry]\nabsent = [[4, 3]]\n', "number 'geometry.absent' has no source"),
    (BASE.replace('source = "datasheet"', 'source = ""', 1), "has no source"),
])
def test_schema_violations_are_refused_with_the_key(tmp_path, text, words):
    with pytest.raises(TargetError, match=words.replace("(", r"\(").replace(")", r"\)")):
        tg.load(str(write(tmp_path, base=text) / "base.toml"))


def test_a_sourced_bare_number_and_a_wildcard_key_pass(tmp_path):
    text = BASE + ('[geometry]\nabsent = [[4, 3]]\nabsent_source = "vendor map"\n'
                   '[geometry.q0]\nx = { value = 1, unit = "QPE", source = "map", confidence = "code" }\n')
    assert tg.load(str(write(tmp_path, base=text) / "base.toml")).v("geometry.q0.x") == 1


def test_extends_errors(tmp_path):
    loop_a = '[target]\nname = "a"\nextends = "b"\n'
    loop_b = '[target]\nname = "b"\nextends = "a"\n'
    write(tmp_path, a=loop_a, b=loop_b, c='[target]\nname = "c"\nextends = "nowhere"\n')
    with pytest.raises(TargetError, match="extends loop"):
        tg.load(str(tmp_path / "a.toml"))
    with pytest.raises(TargetError, match="extends 'nowhere', which is not a target"):
        tg.load(str(tmp_path / "c.toml"))


def test_a_backend_without_schema_is_refused(tmp_path):
    (tmp_path / "t.toml").write_text(BASE.replace('"toy"', '"nosuchbackend"'))
    with pytest.raises(TargetError, match="has no target_schema.toml"):
        tg.load(str(tmp_path / "t.toml"))
