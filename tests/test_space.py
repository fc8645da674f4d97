import numpy as np
import pytest

from mlp_nas.policies import UniformSampler
from mlp_nas.space import DROPOUT, END, ArchitectureError, TokenSpace, describe


def test_round_trip_tokens():
    space = TokenSpace()
    arch = {"layers": [[64, "relu"], "dropout", [8, "sigmoid"]]}
    tokens = space.to_tokens(arch)
    assert tokens[1] == DROPOUT and tokens[-1] == END
    assert space.from_tokens(tokens) == arch
    assert describe(arch) == "64 relu > dropout > 8 sigmoid"


@pytest.mark.parametrize("arch,message", [
    ({"layers": []}, "1 to 10 dense layers"),
    ({"layers": ["dropout", [8, "relu"]]}, r"layers\[0\]: dropout must follow"),
    ({"layers": [[8, "relu"], "dropout", "dropout"]}, r"layers\[2\]"),
    ({"layers": [[9, "relu"]]}, "units 9 not in"),
    ({"layers": [[8, "swish"]]}, "activation 'swish' not in"),
    ({"layers": [[8, "relu"]] * 11}, "1 to 10 dense layers"),
    ({"hidden": []}, 'single key "layers"'),
    ([[8, "relu"]], 'single key "layers"'),
])
def test_bad_architectures_are_named(arch, message):
    with pytest.raises(ArchitectureError, match=message):
        TokenSpace().validate(arch)


def test_uniform_sampler_valid_and_seeded():
    space = TokenSpace(max_layers=4)
    a, b = UniformSampler(space, seed=1).sample(50), UniformSampler(space, seed=1).sample(50)
    assert a == b
    for tokens in a:
        arch = space.from_tokens(tokens)  # validates
        assert space.to_tokens(arch) == tokens
    depths = [sum(t != DROPOUT for t in s[:-1]) for s in a]
    assert max(depths) <= 4 and min(depths) >= 1
    assert UniformSampler(space).update(a, np.ones(len(a))) == {}
