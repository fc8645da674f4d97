"""Property: whatever a user pastes as an architecture, a space either builds it or raises
ArchitectureError with one line naming the bad key; never a stack trace from deep inside torch."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nni_spaces import ArchitectureError, make_space

SPACES = {
    "enas-macro": make_space("enas-macro", num_layers=4, width=4),
    "enas-micro": make_space("enas-micro", num_cells=3, width=4, num_nodes=3),
    "darts": make_space("darts", num_cells=3, width=4),
    "ednas-cell": make_space("ednas-cell", num_cells=3, width=4),
}

junk = st.one_of(st.none(), st.booleans(), st.integers(-3, 12), st.floats(allow_nan=True), st.text(max_size=12),
                 st.lists(st.integers(-2, 8), max_size=4), st.lists(st.text(max_size=3), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@st.composite
def malformed(draw, space):
    arch = space.sample(draw(st.integers(0, 50)))
    labels = sorted(arch)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["junk", "drop", "unknown", "swap"]))
        if kind == "junk":
            arch[draw(st.sampled_from(labels))] = draw(junk)
        elif kind == "drop":
            arch.pop(draw(st.sampled_from(labels)), None)
        elif kind == "unknown":
            arch[draw(st.text(min_size=1, max_size=15))] = draw(junk)
        else:  # a value that is valid for another decision
            a, b = draw(st.sampled_from(labels)), draw(st.sampled_from(labels))
            if a in arch and b in arch:
                arch[a] = arch[b]
    return arch


@pytest.mark.parametrize("name", list(SPACES))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_malformed_architectures_are_rejected_clearly(name, data):
    space = SPACES[name]
    arch = data.draw(malformed(space))
    try:
        checked = space.check(arch)
    except ArchitectureError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 400
        assert any(repr(str(k)) in message or str(k) in message for k in list(arch) + list(space.decisions())) \
            or "must be a JSON object" in message
        return
    # accepted: then every decision that matters is present and valid, and it builds
    assert set(space.active(checked)) <= set(checked)
    space.canonical(checked)


@pytest.mark.parametrize("name", ["darts", "enas-micro"])
@settings(max_examples=60, deadline=None)
@given(genotype=st.one_of(junk, st.fixed_dictionaries({"normal": st.lists(st.lists(st.one_of(
    st.sampled_from(["sep_conv_3x3", "skip_connect", "max_pool_3x3", "bad"]), st.integers(-1, 6)), max_size=3),
    max_size=10), "reduce": junk})))
def test_malformed_genotypes_are_rejected_clearly(name, genotype):
    try:
        SPACES[name].from_genotype(genotype)
    except ArchitectureError as exc:
        assert "\n" not in str(exc)
