"""The paper spaces: exact sizes, decisions that matter, freeze, genotypes, nnictl export and back."""
import itertools
import json
from math import comb

import numpy as np
import pytest
import torch
from nni.mutable import CategoricalMultiple

from nni_spaces import DARTS_V2, ArchitectureError, DartsSpace, EdnasCellSpace, EnasMacroSpace, EnasMicroSpace, make_space

SMALL = {
    "enas-macro": dict(num_layers=4, width=4),
    "enas-micro": dict(num_cells=3, width=4),
    "darts": dict(num_cells=3, width=4),
    "ednas-cell": dict(num_cells=3, width=4),
}


@pytest.fixture(scope="module", params=list(SMALL))
def space(request):
    return make_space(request.param, **SMALL[request.param])


# ------------------------------------------------------------------ sizes
def test_ednas_cell_count_is_the_papers():
    # EDNAS section 3.3.2: prod_{i=1}^{4} C(i+1, 2) * 7^8 = 1 * 3 * 6 * 10 * 7^8 per cell type
    space = EdnasCellSpace(width=4, num_cells=3)
    assert space.count_per_cell() == 180 * 7 ** 8 == 1_037_664_180
    assert space.count() == 1_037_664_180 ** 2  # normal and reduction cells are sampled independently


@pytest.mark.parametrize("layers", [4, 12])
def test_enas_macro_count(layers):
    space = EnasMacroSpace(num_layers=layers, width=4)
    assert space.count() == 6 ** layers * 2 ** (layers * (layers - 1) // 2)


def test_darts_count_formula():
    # Derivation: intermediate node n (n = 2..5) keeps 2 of its n incoming edges, C(n, 2) ways (1, 3, 6, 10),
    # each kept edge carries one of the 7 non-zero operations: 7^2 per node. A cell: prod C(n,2) * 7^8 = 180 * 7^8.
    space = DartsSpace(width=4, num_cells=3)
    per_cell = np.prod([comb(n, 2) for n in range(2, 6)]) * 7 ** 8
    assert space.count_per_cell() == per_cell == 1_037_664_180
    assert space.count() == per_cell ** 2
    assert len(space.decisions()) == 2 * (14 + 3)  # 14 edge ops and 3 pair choices per cell type


def test_enas_micro_count_formula():
    # Derivation: computed node n (n = 2..6 for B = 5) has two slots, each (one of n earlier nodes) x (one of 5 ops):
    # m = 5n options per slot. The node sums its slots, so slot order does not matter: m (m + 1) / 2 distinct
    # unordered pairs (repetition allowed). A cell: prod_n 5n(5n+1)/2; normal and reduction cells independent.
    space = EnasMicroSpace(width=4, num_cells=3)
    per_cell = 1
    for n in range(2, 7):
        m = 5 * n
        per_cell *= m * (m + 1) // 2
    assert space.count_per_cell() == per_cell == 55 * 120 * 210 * 325 * 465
    assert space.count() == per_cell ** 2
    # the paper's looser (5 x (B-2)!)^4 ~ 1.3e11 counts differently (B with the 2 inputs); ours is exact


def _all_values(choice):
    if isinstance(choice, CategoricalMultiple):
        if choice.n_chosen is None:
            return [list(c) for r in range(len(choice.values) + 1) for c in itertools.combinations(choice.values, r)]
        return [list(c) for c in itertools.combinations(choice.values, choice.n_chosen)]
    return list(choice.values)


@pytest.mark.parametrize("space", [
    DartsSpace(width=4, num_cells=3, num_nodes=2, ops=["max_pool_3x3", "skip_connect"]),
    EdnasCellSpace(width=4, num_cells=3, num_nodes=3, ops=["avg_pool_3x3", "skip_connect"]),
    EnasMicroSpace(width=4, num_cells=3, num_nodes=2, ops=["avg_pool_3x3", "skip_connect"]),
], ids=["darts", "ednas", "micro"])
def test_count_per_cell_equals_brute_force_distinct_architectures(space):
    """Enumerate every decision combination of the normal cell and count distinct computations."""
    decisions = space.decisions()
    fixed = space.sample(0)
    labels = [k for k in decisions if k.startswith("normal/")]
    seen = set()
    for values in itertools.product(*(_all_values(decisions[k]) for k in labels)):
        arch = {**fixed, **dict(zip(labels, values))}
        seen.add(space.canonical(arch))
    assert len(seen) == space.count_per_cell()


def test_macro_count_equals_brute_force():
    space = EnasMacroSpace(num_layers=3, width=4, ops=["conv_3x3", "max_pool_3x3"])
    decisions = space.decisions()
    combos = {tuple(map(str, v)) for v in itertools.product(*(_all_values(c) for c in decisions.values()))}
    assert len(combos) == space.count() == 2 ** 3 * 2 ** 3


# ------------------------------------------------------------------ DARTS-V2
def test_darts_v2_has_the_papers_parameters_and_equals_nni_hub():
    from nni.nas.hub.pytorch import DARTS as HubDarts

    space = DartsSpace(width=36, num_cells=20)
    ours = space.freeze(space.from_genotype(DARTS_V2))
    n_ours = sum(p.numel() for p in ours.parameters())
    hub = HubDarts.load_searched_model("darts-v2")
    assert n_ours == sum(p.numel() for p in hub.parameters())
    assert round(n_ours / 1e6, 1) == 3.3  # DARTS paper, Table 1: 3.3M (the repository prints 3.349342)
    assert space.genotype(space.from_genotype(DARTS_V2))["normal_concat"] == [2, 3, 4, 5]


# ------------------------------------------------------------------ forward / backward
@pytest.mark.parametrize("shape,classes", [((3, 32, 32), 10), ((1, 8, 8), 10)])
@pytest.mark.parametrize("name", list(SMALL))
def test_random_samples_run_forward_and_backward(name, shape, classes):
    space = make_space(name, in_channels=shape[0], num_classes=classes, image_size=shape[1], **SMALL[name])
    for seed in range(2):
        model = space.freeze(space.sample(seed))
        out = model(torch.randn(4, *shape))
        assert out.shape == (4, classes)
        out.logsumexp(1).mean().backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_auxiliary_head_and_drop_path():
    space = DartsSpace(width=4, num_cells=6, auxiliary=True)
    model = space.freeze(space.sample(1))
    model.set_drop_path(0.3)
    logits, aux = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)
    model.eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


# ------------------------------------------------------------------ decisions that matter
def test_ops_on_unselected_edges_do_not_matter():
    space = EdnasCellSpace(width=4, num_cells=3)
    arch = space.sample(3)
    for cell in ("normal", "reduce"):
        active = [k for k in space.active(arch) if k.startswith(cell + "/")]
        assert sum("/input_" in k for k in active) == 3 and sum("/op_" in k for k in active) == 8
        assert len(set(active)) == len(active)
    unused = next(f"normal/op_5_{j}" for j in range(5) if j not in arch["normal/input_5"])
    changed = {**arch, unused: next(op for op in space.ops if op != arch[unused])}
    assert space.canonical(changed) == space.canonical(arch)
    trimmed = {k: arch[k] for k in space.active(arch)}  # inactive decisions may be left out
    assert space.canonical(trimmed) == space.canonical(arch)


def test_micro_slot_order_does_not_matter_and_loose_ends_are_the_output():
    space = EnasMicroSpace(width=4, num_cells=3)
    arch = space.sample(0)
    swapped = dict(arch)
    for s, t in (("input_2_0", "input_2_1"), ("op_2_0", "op_2_1")):
        swapped[f"normal/{s}"], swapped[f"normal/{t}"] = arch[f"normal/{t}"], arch[f"normal/{s}"]
    assert space.canonical(swapped) == space.canonical(arch)
    genotype = space.genotype(arch)
    used = {source for _, source in genotype["normal"]}
    assert genotype["normal_concat"] == [n for n in range(2, 7) if n not in used]


def test_genotype_round_trip(space):
    for seed in range(3):
        arch = space.sample(seed)
        assert space.canonical(space.from_genotype(json.loads(json.dumps(space.genotype(arch))))) == \
            space.canonical(arch)


# ------------------------------------------------------------------ nnictl export and back
def test_export_to_nnictl_and_back_in_a_trial_builds_the_same_model(space):
    exported = json.loads(json.dumps(space.to_nnictl()))
    assert all(spec["_type"] == "choice" for spec in exported.values())
    rng = np.random.default_rng(0)
    for _ in range(3):
        # what a tuner sends: one value per exported parameter
        params = {k: spec["_value"][rng.integers(len(spec["_value"]))] for k, spec in exported.items()}
        params = json.loads(json.dumps(params))
        arch = space.from_nnictl(params)
        torch.manual_seed(0)
        a = space.freeze(arch)
        torch.manual_seed(0)
        b = space.freeze(json.loads(json.dumps(arch)))
        assert [(k, v.shape) for k, v in a.state_dict().items()] == [(k, v.shape) for k, v in b.state_dict().items()]
        x = torch.randn(2, space.config["in_channels"], 32, 32)
        a.eval(), b.eval()
        assert torch.equal(a(x), b(x))
    # and the way there: an architecture encodes to parameters that decode to itself
    arch = space.sample(5)
    assert space.canonical(space.from_nnictl(space.nnictl_params(arch))) == space.canonical(arch)


def test_nni_tuners_accept_the_exported_space():
    from nni.algorithms.hpo.tpe_tuner import TpeTuner

    for space in (EnasMacroSpace(num_layers=4, width=4), EdnasCellSpace(width=4, num_cells=3)):
        tuner = TpeTuner(seed=0)
        tuner.update_search_space(space.to_nnictl())
        for i in range(3):
            space.freeze(space.from_nnictl(tuner.generate_parameters(i)))


# ------------------------------------------------------------------ checking
@pytest.mark.parametrize("mutate,message", [
    (lambda a: "not a dict", "must be a JSON object"),
    (lambda a: {**a, "normal/op_9_0": "sep_conv_3x3"}, "unknown decision 'normal/op_9_0'"),
    (lambda a: {**a, "normal/op_2_0": "conv_7x7"}, "'normal/op_2_0' = \"conv_7x7\" is not one of"),
    (lambda a: {**a, "normal/input_4": [1, 1]}, "'normal/input_4' = [1, 1] is not 2 distinct of"),
    (lambda a: {**a, "normal/input_4": [0, 7]}, "'normal/input_4' = [0, 7]"),
    (lambda a: {**a, "normal/input_4": "0,1"}, "must be a list of input indices"),
    (lambda a: {k: v for k, v in a.items() if k != "reduce/input_5"}, "missing decision 'reduce/input_5'"),
])
def test_bad_architectures_get_one_clear_line(mutate, message):
    space = DartsSpace(width=4, num_cells=3)
    with pytest.raises(ArchitectureError, match=None) as info:
        space.freeze(mutate(space.sample(0)))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_op_on_a_selected_edge_is_named():
    space = EdnasCellSpace(width=4, num_cells=3)
    arch = space.sample(0)
    j = arch["normal/input_4"][1]
    del arch[f"normal/op_4_{j}"]
    with pytest.raises(ArchitectureError, match=f"missing decision 'normal/op_4_{j}'"):
        space.check(arch)


@pytest.mark.parametrize("genotype,message", [
    ({"normal": []}, "needs 'normal' and 'reduce'"),
    ({**DARTS_V2, "normal": DARTS_V2["normal"][:6]}, "must list 8 [op, input] pairs"),
    ({**DARTS_V2, "normal": [["sep_conv_3x3", 0]] * 8}, "reads input 0 twice"),
    ({**DARTS_V2, "reduce": [["max_pool_3x3", 4]] + DARTS_V2["reduce"][1:]}, "input an earlier node"),
    ({**DARTS_V2, "normal": [["conv_7x7", 0]] + DARTS_V2["normal"][1:]}, "op \"conv_7x7\" is not one of"),
    ({**DARTS_V2, "normal_concat": [4, 5]}, "does not match this space"),
])
def test_bad_genotypes_get_one_clear_line(genotype, message):
    with pytest.raises(ArchitectureError) as info:
        DartsSpace(width=4, num_cells=3).from_genotype(genotype)
    assert message in str(info.value)


def test_bad_space_parameters():
    with pytest.raises(ValueError, match="ops must be distinct names"):
        DartsSpace(ops=["none", "sep_conv_3x3"])
    with pytest.raises(ValueError, match="num_cells must be a positive integer"):
        EdnasCellSpace(num_cells=0)
    with pytest.raises(ValueError, match="unknown space 'nasnet'"):
        make_space("nasnet")
