"""The policies: one interface, one REINFORCE; EDNAS and ENAS learn a toy
reward's best architecture, uniform does not move, and neither learned policy prefers it on shuffled rewards."""
import random

import pytest
import torch

from nni_spaces import make_space
from strategies import EdnasPolicy, EnasPolicy, LstmPolicy, UniformPolicy, make_policy

TOY = make_space("ednas-cell", width=4, num_cells=3, num_nodes=2, ops=["sep_conv_3x3", "skip_connect", "max_pool_3x3"])
BEST = TOY.sample(123)


def toy_reward(arch):
    """Share of the decisions that shape ``arch`` agreeing with BEST: 1.0 only for BEST."""
    active = TOY.active(arch)
    return sum(arch[k] == BEST.get(k) for k in active) / len(active)


def p_best(policy):
    with torch.no_grad():
        return float(policy.evaluate(BEST).log_prob.exp())


def train(policy, updates, shuffle=False):
    rng = random.Random(0)
    for _ in range(updates):
        archs = [policy.sample() for _ in range(policy.hparams["samples_per_update"])]
        rewards = [rng.random() if shuffle else toy_reward(a) for a in archs]
        policy.update(archs, rewards)
    return p_best(policy)


# Stated budgets: EDNAS 900 single-sample updates, ENAS 100 updates of 5 samples. The toy lifts the papers'
# limits on confidence, which would otherwise cap p(best) below 0.9 whatever the budget: ENAS' micro
# constants (1.1 * tanh, op logits / 2.5) keep a 3-way op choice below 0.6 by design, and EDNAS' weight
# decay 1e-3 holds its vectors back once the advantage vanishes (p(best) plateaus near 0.7 with it).
LEARNERS = {
    "ednas": (lambda: EdnasPolicy(TOY, seed=0, lr=0.1, weight_decay=0.0), 900),
    "lstm": (lambda: LstmPolicy(TOY, seed=0, tanh_constant=5.0, op_tanh_reduce=1.0, lr=0.003,
                                samples_per_update=5), 100),
}


@pytest.mark.parametrize("name", list(LEARNERS))
def test_learned_policies_find_the_toy_best_and_not_from_shuffled_rewards(name):
    make, updates = LEARNERS[name]
    start = p_best(make())
    assert start < 0.01  # 10 decisions: about 1 / (3^8 * 3^2) at the start
    assert train(make(), updates) > 0.9
    assert train(make(), updates, shuffle=True) < 0.1


def mean_reward(policy, samples=300):
    return sum(toy_reward(a) for a in policy.sample_batch(samples)) / samples


def test_enas_raises_the_toy_reward_and_not_from_shuffled_rewards():
    """ENAS' controller shares one op softmax and one op embedding table over all positions: on this toy,
    whose best architecture wants a different op per edge, 100 updates of 5 samples drive it to the toy's
    most frequent op everywhere (a local optimum, reward about 0.5, p(best) falls), not to the best. What it
    must still show: its mean reward rises well above the untrained one, and does not from shuffled rewards."""
    make = lambda: EnasPolicy(TOY, seed=0, tanh_constant=5.0, op_tanh_reduce=1.0, op_prior=False, lr=0.003,  # noqa: E731
                              samples_per_update=5)
    start = mean_reward(make())
    trained, shuffled = make(), make()
    train(trained, 100)
    train(shuffled, 100, shuffle=True)
    assert mean_reward(trained) > start + 0.1
    assert mean_reward(shuffled) < start + 0.05


def test_uniform_does_not_move():
    policy = UniformPolicy(TOY, seed=0)
    before = policy.probabilities()
    train(policy, 20)
    assert policy.probabilities() == before and list(policy.parameters()) == []
    assert all(abs(p - 1 / len(table)) < 1e-6 for table in before.values() for p in table.values())


def test_ednas_vectors_on_the_ednas_cell_space():
    space = make_space("ednas-cell", width=4, num_cells=3)
    policy = EdnasPolicy(space, seed=0)
    for cell in ("normal", "reduce"):
        assert [policy.vector(f"{cell}/input_{n}").numel() for n in (3, 4, 5)] == [3, 6, 10]
        ops = [d for d in policy.decisions if d.label.startswith(f"{cell}/op_")]
        assert len(ops) == 14 and all(policy.vector(d.label).numel() == 7 for d in ops)
    arch = policy.sample()
    ev = policy.evaluate(arch)
    for cell in ("normal", "reduce"):
        terms = [k for k in ev.terms if k.startswith(cell + "/")]
        assert sum("/input_" in k for k in terms) == 3 and sum("/op_" in k for k in terms) == 8
    # one softmax: the log-probability is the sum of log-softmax entries of the chosen options
    manual = sum(torch.log_softmax(policy.vector(label), 0)[d.index(arch[label])]
                 for d in policy.decisions for label in [d.label] if label in ev.terms)
    assert torch.allclose(ev.log_prob, manual)
    fresh = EdnasPolicy(space, seed=0)  # init 1e-3 * randn: nearly uniform, not exactly
    assert all(0 < v.abs().max() < 0.01 for v in fresh.vectors.values())


def test_baseline_moves_before_the_advantage():
    policy = EdnasPolicy(TOY, seed=0)
    stats = policy.update([policy.sample()], [1.0])
    assert stats["baseline"] == pytest.approx(0.01) and stats["mean_advantage"] == pytest.approx(0.99)


def test_leave_one_out_compares_each_sample_with_the_others():
    """Advantages R_i - mean of the others: a minibatch that lifts every reward by the same amount moves nothing;
    the moving average still follows the rewards (for the record); one sample falls back to it."""
    policy = EdnasPolicy(TOY, seed=0, baseline="leave-one-out")
    archs = policy.sample_batch(4)
    stats = policy.update(archs, [1.0, 0.0, 0.0, 0.0])
    assert stats["mean_advantage"] == pytest.approx(0.0)
    assert stats["baseline"] == pytest.approx(0.01 * 0.99 ** 3)  # b <- b - 0.01 (b - R) over 1, 0, 0, 0
    lifted, plain = EdnasPolicy(TOY, seed=0, baseline="leave-one-out"), EdnasPolicy(TOY, seed=0, baseline="leave-one-out")
    lifted.update(archs, [0.9, 0.5, 0.5, 0.5])
    plain.update(archs, [0.4, 0.0, 0.0, 0.0])
    assert all(torch.equal(a, b) for a, b in zip(lifted.parameters(), plain.parameters()))
    single = EdnasPolicy(TOY, seed=0, baseline="leave-one-out").update([archs[0]], [1.0])
    assert single["mean_advantage"] == pytest.approx(0.99)
    with pytest.raises(ValueError, match="baseline must be one of moving, leave-one-out"):
        EdnasPolicy(TOY, seed=0, baseline="mean")


def test_lstm_skip_penalty_pulls_skip_density_to_0_4():
    space = make_space("enas-macro", num_layers=4, width=4)
    policy = LstmPolicy(space, seed=0, lr=0.05, samples_per_update=4)
    assert policy.hparams["skip_weight"] == 0.8 and policy.tanh_constant == 1.5
    for _ in range(60):
        archs = [policy.sample() for _ in range(4)]
        policy.update(archs, [0.5] * 4)  # no signal but the penalty
    density = [p for label, table in policy.probabilities(samples=400).items() if "skip" in label
               for p in table.values()]
    assert abs(sum(density) / len(density) - 0.4) < 0.1


@pytest.mark.parametrize("name", ["uniform", "ednas", "lstm", "enas"])
def test_same_seed_same_architectures_and_state_round_trip(name, tmp_path):
    space = make_space("enas-micro", width=4, num_cells=3, num_nodes=3)
    a, b = make_policy(name, space, seed=7), make_policy(name, space, seed=7)
    assert [a.sample() for _ in range(3)] == [b.sample() for _ in range(3)]
    archs = [a.sample() for _ in range(2)]
    a.update(archs, [0.3, 0.8])
    path = tmp_path / "policy.pt"
    torch.save(a.state(), path)
    c = make_policy(name, space, seed=99)
    c.load_state(torch.load(path, weights_only=False))
    assert c.baseline == a.baseline and [c.sample() for _ in range(3)] == [a.sample() for _ in range(3)]
    assert c.probabilities() == a.probabilities()
    other = make_policy(name, make_space("enas-micro", width=4, num_cells=3, num_nodes=2))
    with pytest.raises(ValueError, match="belongs to a space with other decisions"):
        other.load_state(a.state())


def test_transfer_keeps_parameters_only():
    space = make_space("ednas-cell", width=4, num_cells=3)
    trained = EdnasPolicy(space, seed=0, lr=0.1)
    trained.update([trained.sample()], [1.0])
    moved = EdnasPolicy(space, seed=1)
    moved.load_state(trained.state(), optimizer=False)
    assert moved.probabilities() == trained.probabilities() and moved.baseline is None and moved.updates == 0


def test_update_needs_matching_rewards():
    with pytest.raises(ValueError, match="as many rewards as architectures"):
        UniformPolicy(TOY).update([BEST], [])
    with pytest.raises(ValueError, match="unknown policy 'ppo'"):
        make_policy("ppo", TOY)


@pytest.mark.parametrize("name", ["uniform", "ednas", "lstm", "enas"])
def test_reading_probabilities_does_not_change_what_is_sampled(name):
    a, b = make_policy(name, TOY, seed=3), make_policy(name, TOY, seed=3)
    a.probabilities(), a.probabilities(samples=20)
    assert [a.sample() for _ in range(3)] == [b.sample() for _ in range(3)]


@pytest.mark.parametrize("space_name", ["darts", "enas-macro"])
@pytest.mark.parametrize("name", ["ednas", "lstm", "enas"])
def test_batched_scoring_and_update_equal_one_architecture_at_a_time(name, space_name):
    """The update scores its batch in one pass: same log-probabilities, entropies, skip penalties and
    gradients as scoring each architecture alone and summing REINFORCE's terms."""
    space = make_space(space_name, width=4, num_cells=3) if space_name == "darts" else make_space(
        space_name, width=4, num_layers=4)
    batched, single = make_policy(name, space, seed=5), make_policy(name, space, seed=5)
    archs = batched.sample_batch(6)
    assert len({str(a) for a in archs}) > 1
    for arch in archs:
        space.check(arch)
    rewards = [0.1, 0.9, 0.4, 0.6, 0.3, 0.8]
    batched.update(archs, rewards)
    h, baseline, loss = single.hparams, 0.0, 0.0
    for arch, reward in zip(archs, rewards):
        ev = single.evaluate(arch)
        r = reward + h["entropy_weight"] * float(ev.entropy.detach())
        baseline = baseline - (1 - h["baseline_decay"]) * (baseline - r)
        loss = loss - ev.log_prob * (r - baseline) + h["skip_weight"] * ev.skip_kl
    (loss / len(archs) if h["average_samples"] else loss).backward()  # ENAS averages over its samples
    assert batched.baseline == pytest.approx(baseline)
    grads = 0
    for (key, p), q in zip(single.named_parameters(), batched.parameters()):
        if p.grad is None:  # the LSTM's last embedding feeds no later step
            assert q.grad is None or not q.grad.any(), key
            continue
        grads += 1
        assert torch.allclose(p.grad, q.grad, atol=1e-6), key
    assert grads >= 0.9 * len(list(single.parameters()))


# the LSTM controllers' draws (11-15 s each) share the batched walk the test_batched_scoring cases cover: slow
@pytest.mark.parametrize("name", ["uniform", "ednas", pytest.param("lstm", marks=pytest.mark.slow),
                                  pytest.param("enas", marks=pytest.mark.slow)])
def test_drawing_together_follows_the_policy(name):
    """sample_batch draws from the same distribution as sample(): the frequency of each decision's options
    over 2000 joint draws matches the policy's probabilities (exact ones for independent policies, those of
    2000 single draws for the LSTM)."""
    policy = make_policy(name, TOY, seed=0)
    if name != "uniform":
        policy.update(policy.sample_batch(4), [0.9, 0.1, 0.5, 0.7])
        with torch.no_grad():
            for p in policy.parameters():
                p.mul_(200.0 if name == "ednas" else 3.0)  # well away from uniform
    drawn = policy.sample_batch(2000)
    expected = policy.probabilities() if policy.independent else _frequencies(
        [policy.sample() for _ in range(2000)], policy)
    observed = _frequencies(drawn, policy)
    assert max(abs(observed[k][o] - expected[k][o]) for k in expected for o in expected[k]) < 0.06


def _frequencies(archs, policy):
    """Per decision, the share of each option among the architectures that hold it (an op on an edge the
    node does not keep is not sampled)."""
    out = {}
    for d in policy.decisions:
        having = [a for a in archs if d.label in a]
        out[d.label] = {key: sum(d.keys[d.index(a[d.label])] == key for a in having) / max(len(having), 1)
                        for key in d.keys}
    return out
