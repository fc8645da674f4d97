"""The enas policy follows the original ENAS controller's formulas: the decision order on each space, the skip
probability's range from the two-way softmax with the tanh constant, the skip penalty averaged over layers,
the micro operation prior, and the constants."""
import math

import pytest
import torch

from nni_spaces import make_space
from strategies import EnasPolicy, make_policy

SPACES = {
    "enas-macro": dict(num_layers=4, width=4),
    "enas-micro": dict(num_nodes=2, width=4, num_cells=3),
    "darts": dict(num_nodes=3, width=4, num_cells=3),
    "ednas-cell": dict(num_nodes=3, width=4, num_cells=3),
}


def enas_order(space_name: str, arch: dict) -> list[str]:
    """The labels in the order the original controller decides them, written from the papers' description."""
    if space_name == "enas-macro":
        return [label for i in range(4) for label in ([f"op_{i}"] + ([f"skip_{i}"] if i else []))]
    out = []
    for cell in ("normal", "reduce"):
        for n in range(2, 2 + (2 if space_name == "enas-micro" else 3)):
            if space_name == "enas-micro":  # input, input, op, op
                out += [f"{cell}/input_{n}_0", f"{cell}/input_{n}_1", f"{cell}/op_{n}_0", f"{cell}/op_{n}_1"]
            else:  # the pair (two attention picks), then the kept edges' ops, lower edge first
                kept = [0, 1] if n == 2 else arch[f"{cell}/input_{n}"]
                out += ([f"{cell}/input_{n}"] if n > 2 else []) + [f"{cell}/op_{n}_{j}" for j in sorted(kept)]
    return out


@pytest.mark.parametrize("space_name", list(SPACES))
def test_decision_order_is_enas(space_name, monkeypatch):
    space = make_space(space_name, **SPACES[space_name])
    policy = EnasPolicy(space, seed=0)
    calls = []
    choose, skips = policy._choose, policy._skips

    def record_choose(rec, label, logits, taken=None):
        if taken is None or bool(taken[0]):
            calls.append(label)
        return choose(rec, label, logits, taken)

    def record_skips(rec, label, logits):
        calls.append(label)
        return skips(rec, label, logits)

    monkeypatch.setattr(policy, "_choose", record_choose)
    monkeypatch.setattr(policy, "_skips", record_skips)
    for _ in range(3):
        calls.clear()
        arch = policy.sample()
        assert calls == enas_order(space_name, arch) == list(arch)
        space.check(arch)


def _skip_walk(policy, batch=400):
    with torch.no_grad():
        _, walk = policy._walk(None, batch)
    labels = [d.label for d in policy.decisions if d.kind == "bernoulli"]
    return walk, labels


def test_skip_probability_spans_the_two_way_softmax_range():
    """p(skip) = softmax([-a, a])[1] = sigmoid(2a), a = 1.5 tanh(q): within sigmoid(-3) .. sigmoid(3) =
    0.047 .. 0.953, reached when the attention saturates (the old sigmoid(1.5 tanh q) stopped at 0.18 .. 0.82)."""
    space = make_space("enas-macro", num_layers=6, width=4)
    low, high = 1 / (1 + math.exp(3)), 1 / (1 + math.exp(-3))
    policy = EnasPolicy(space, seed=0)
    walk, labels = _skip_walk(policy)
    probs = torch.cat([walk.probs(label).flatten() for label in labels])
    assert low <= float(probs.min()) and float(probs.max()) <= high
    assert 0.3 < float(probs.mean()) < 0.7  # untrained: near one half
    with torch.no_grad():
        policy.v_attn.mul_(1000.0)  # saturate tanh(q)
    walk, labels = _skip_walk(policy)
    probs = torch.cat([walk.probs(label).flatten() for label in labels])
    assert float(probs.min()) == pytest.approx(low, abs=1e-3) and float(probs.max()) == pytest.approx(high, abs=1e-3)
    assert float(probs.min()) < 0.05 and float(probs.max()) > 0.95


def test_skip_penalty_is_the_originals_kl_averaged_over_layers():
    """The original's penalty: per layer the sum over its skips of KL(sigmoid(a) || 0.4) (sigmoid of the
    tanh'd logit a, not the sampling probability sigmoid(2a)), then the mean over layers, weight 0.8."""
    space = make_space("enas-macro", num_layers=5, width=4)
    policy = EnasPolicy(space, seed=3)
    assert policy.hparams["skip_weight"] == 0.8 and policy.hparams["skip_target"] == 0.4
    walk, labels = _skip_walk(policy, batch=8)
    per_layer = []
    for label in labels:
        p_on = walk.probs(label)
        a = torch.log(p_on / (1 - p_on)) / 2
        p = torch.sigmoid(a)
        per_layer.append((p * torch.log(p / 0.4) + (1 - p) * torch.log((1 - p) / 0.6)).sum(-1))
    assert len(per_layer) == 4
    assert torch.allclose(walk.skip_kl, torch.stack(per_layer).mean(0), atol=1e-5)


def _op_probs(policy, cell, samples=300):
    with torch.no_grad():
        _, walk = policy._walk(None, samples)
    rows = [walk.probs(d.label) for d in policy.decisions if d.label.startswith(f"{cell}/op_")]
    return torch.cat(rows).mean(0)


def test_micro_op_prior():
    """b_soft starts at 10 on the convolutions and passes through 1.1 / 2.5 tanh with the rest of the
    logit; the normal cell adds +0.25 to the convolutions and -0.25 to the others. So the untrained
    controller draws each of the two separable convolutions with about e^0.69 / (2 e^0.69 + 3 e^-0.25) =
    0.315 in normal cells and e^0.44 / (2 e^0.44 + 3) = 0.254 in reduction cells."""
    space = make_space("enas-micro", num_nodes=3, width=4, num_cells=3)
    assert space.ops[:2] == ["sep_conv_3x3", "sep_conv_5x5"]
    policy = EnasPolicy(space, seed=0)
    assert policy.b_soft.tolist() == [10.0, 10.0, 0.0, 0.0, 0.0]
    assert policy.b_fixed.tolist() == [0.25, 0.25, -0.25, -0.25, -0.25]
    c = 1.1 / 2.5 * math.tanh(10.0)
    normal = math.exp(c + 0.25) / (2 * math.exp(c + 0.25) + 3 * math.exp(-0.25))
    reduce = math.exp(c) / (2 * math.exp(c) + 3)
    for cell, expected in (("normal", normal), ("reduce", reduce)):
        probs = _op_probs(policy, cell)
        assert probs[:2].tolist() == pytest.approx([expected] * 2, abs=0.02), cell
        assert probs[2:].tolist() == pytest.approx([(1 - 2 * expected) / 3] * 3, abs=0.02), cell
    flat = _op_probs(EnasPolicy(space, seed=0, op_prior=False), "normal")
    assert flat.tolist() == pytest.approx([0.2] * 5, abs=0.03)


def test_the_originals_constants():
    macro = EnasPolicy(make_space("enas-macro", num_layers=4, width=4), seed=0)
    micro = make_policy("enas", make_space("enas-micro", num_nodes=2, width=4, num_cells=3), seed=0)
    for policy in (macro, micro):
        h = policy.hparams
        assert (policy.lstm.hidden_size, policy.lstm.bias) == (64, False)
        assert h["betas"] == (0.0, 0.999) and h["eps"] == 1e-3 and h["entropy_weight"] == 1e-4
        assert h["baseline_decay"] == 0.99 and h["average_samples"] and h["weight_decay"] == 0.0
        assert all(float(p.detach().abs().max()) <= 0.1 for n, p in policy.named_parameters() if n != "b_soft")
    assert (macro.tanh_constant, macro.hparams["lr"], macro.hparams["samples_per_update"]) == (1.5, 1e-3, 20)
    assert (micro.tanh_constant, micro.op_tanh_reduce, micro.hparams["lr"], micro.hparams["samples_per_update"]) == (
        1.1, 2.5, 3.5e-3, 10)
    assert micro.hparams["skip_weight"] == 0.0 and not hasattr(macro, "b_soft")
    # shared op embeddings and softmax: one table for every op decision, whatever the depth
    deeper = EnasPolicy(make_space("enas-macro", num_layers=8, width=4), seed=0)
    assert sum(p.numel() for p in deeper.parameters()) == sum(p.numel() for p in macro.parameters())


def test_enas_refuses_a_space_without_node_structure():
    class Flat:
        name = "flat"

        def simplify(self):
            return {}

    with pytest.raises(ValueError, match="node/input structure"):
        EnasPolicy(Flat())
