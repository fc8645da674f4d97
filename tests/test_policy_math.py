"""The policies' probability models.

On each of the four spaces, shrunk until every architecture can be listed: the log-probability that the
update uses (``Policy._evaluate_batch``, the pass ``update`` runs) is a normalised distribution over
exactly what the policy samples, and the mean of many REINFORCE gradients from ``update`` itself equals
the exact gradient of the expected reward.

What a "sequence" is: every policy samples only the decisions that shape the model, so a sequence is an
architecture dict holding exactly the labels ``space.active`` names. ENAS micro's two slots of a node are
ordered (``input_n_0``/``op_n_0`` then ``input_n_1``/``op_n_1``): swapping them builds the same cell but
is another dict, and the update scores the one that was sampled. In DARTS and EDNAS cells a node's input
pair is recorded unordered (``[0, 2]``); the ENAS controller picks it in two steps, and scores the pair by
the sum over both pick orders, so each pair is one sequence there too.
"""
import itertools
import random

import pytest
import torch

from nni_spaces import make_space
from strategies import make_policy

SMALL = {  # enumerable: 216, 1296, 2304 and 2304 sequences
    "enas-macro": dict(num_layers=3, width=4, ops=("conv_3x3", "sep_conv_3x3", "avg_pool_3x3")),
    "enas-micro": dict(num_nodes=1, width=4, num_cells=3, ops=("sep_conv_3x3", "avg_pool_3x3", "skip_connect")),
    "darts": dict(num_nodes=2, width=4, num_cells=3, ops=("sep_conv_3x3", "max_pool_3x3")),
    "ednas-cell": dict(num_nodes=2, width=4, num_cells=3, ops=("dil_conv_3x3", "skip_connect")),
}
POLICY_NAMES = ["uniform", "ednas", "lstm", "enas"]


def every_sequence(space) -> list[dict]:
    """Every architecture dict a policy can sample on ``space``, built from the space alone: each full
    assignment of the decisions, cut to the labels that shape its model, without repeats."""
    choices = space.decisions()
    values = {}
    for label, choice in choices.items():
        candidates = list(choice.values)
        if getattr(choice, "n_chosen", 0) is None:  # any subset
            values[label] = [list(c) for k in range(len(candidates) + 1) for c in itertools.combinations(candidates, k)]
        elif hasattr(choice, "n_chosen"):
            values[label] = [list(c) for c in itertools.combinations(candidates, choice.n_chosen)]
        else:
            values[label] = candidates
    seen, out = set(), []
    for combo in itertools.product(*values.values()):
        arch = dict(zip(values, combo))
        cut = {label: arch[label] for label in space.active(arch)}
        key = tuple(sorted((k, str(v)) for k, v in cut.items()))
        if key not in seen:
            seen.add(key)
            out.append(cut)
    return out


def _key(arch):
    return tuple(sorted((k, str(v)) for k, v in arch.items()))


def away_from_uniform(policy, seed=0):
    """Move a fresh policy's parameters so that its distribution is clearly not uniform."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * (1.0 if policy.name == "ednas" else 0.3))
    return policy


@pytest.mark.parametrize("space_name", list(SMALL))
def test_log_probabilities_sum_to_one_over_every_sequence(space_name):
    space = make_space(space_name, **SMALL[space_name])
    sequences = every_sequence(space)
    index = {_key(a) for a in sequences}
    for name in POLICY_NAMES:
        policy = away_from_uniform(make_policy(name, space, seed=1))
        with torch.no_grad():
            ev, _, _ = policy._evaluate_batch(sequences)
        total = float(ev.log_prob.double().exp().sum())
        assert abs(total - 1.0) < 1e-4, (name, total, len(sequences))
        # and the policy samples nothing else: every draw is one of the listed sequences
        assert all(_key(a) in index for a in policy.sample_batch(300)), name


def test_a_policy_never_samples_an_operation_on_an_edge_it_does_not_keep():
    space = make_space("darts", **SMALL["darts"])
    for name in POLICY_NAMES:
        for arch in make_policy(name, space, seed=0).sample_batch(50):
            assert sorted(arch) == sorted(space.active(arch)), name


def reward_table(space, seed=0):
    """A fixed reward per architecture: sigmoid of a sum of random weights of its (label, value) pairs."""
    rng = random.Random(seed)
    weights = {}

    def reward(arch):
        total = 0.0
        for label, value in arch.items():
            total += weights.setdefault((label, str(value)), rng.gauss(0.0, 1.0))
        return 1.0 / (1.0 + torch.exp(torch.tensor(-total)).item())
    return reward


def flat_grad(policy):
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in policy.parameters()])


@pytest.fixture
def one_thread():
    """One intra-op thread: batches of 1000 tiny LSTM steps run several times faster than on two contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


GRADIENT_CASES = [("darts", "enas", "moving"), ("darts", "lstm", "moving"), ("darts", "ednas", "moving"),
                  ("enas-macro", "enas", "moving"), ("enas-micro", "enas", "moving"),
                  ("darts", "ednas", "leave-one-out"), ("enas-micro", "enas", "leave-one-out")]


@pytest.mark.parametrize("space_name,name,baseline", GRADIENT_CASES)
def test_reinforce_from_update_is_unbiased(space_name, name, baseline, one_thread):
    """Exact: grad of sum_a pi(a) R(a) over every sequence. Estimate: the gradient that ``update`` leaves
    (moving baseline fixed at 0: decay 1; or each sample against the mean of the batch's others; no entropy
    bonus, no skip penalty; lr 0 so nothing moves), from 30 batches of 500 samples. Tolerance: on the exact
    gradient's direction and on 3 random directions, the mean of the 30 batch gradients lies within 4.5
    standard errors (estimated from the 30 batches) of the exact value (a chance failure below 1e-5 per
    direction). On the first case the same test, fed the gradient of a log-probability with one decision's
    term left out, fails: it has the power to see a bias."""
    space = make_space(space_name, **SMALL[space_name])
    extra = dict(lr=0.0, baseline_decay=1.0, entropy_weight=0.0, baseline=baseline)
    if name != "ednas":
        extra["skip_weight"] = 0.0
    else:
        extra["weight_decay"] = 0.0
    policy = away_from_uniform(make_policy(name, space, seed=2, **extra), seed=3)
    reward = reward_table(space)
    sequences = every_sequence(space)
    rewards = torch.tensor([reward(a) for a in sequences])
    policy.zero_grad()
    ev, _, _ = policy._evaluate_batch(sequences)
    (ev.log_prob.exp() * rewards).sum().backward()
    exact = flat_grad(policy).clone()
    check_bias = (space_name, name, baseline) == GRADIENT_CASES[0]
    estimates, biased = [], []
    for _ in range(30):
        archs = policy.sample_batch(500)
        rewards = [reward(a) for a in archs]
        policy.update(archs, rewards)
        scale = 1.0 if policy.hparams["average_samples"] else 1.0 / len(archs)  # update sums or averages
        estimates.append(-flat_grad(policy) * scale)
        if check_bias:
            policy.zero_grad()
            _, walk = policy._walk(archs)
            (-(walk.terms[1:].sum(0) * torch.tensor(rewards)).mean()).backward()  # decision 0's term dropped
            biased.append(-flat_grad(policy))
    assert z_scores(torch.stack(estimates), exact).max() < 4.5
    if check_bias:
        assert z_scores(torch.stack(biased), exact).max() > 4.5  # the same tolerance rejects it


def z_scores(estimates, exact):
    """|mean - exact| / standard error of the batch gradients projected on the exact gradient's direction
    and on 3 fixed random directions."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for u in [exact] + [torch.randn(exact.shape, generator=gen) for _ in range(3)]:
        projected = estimates @ (u / u.norm())
        out.append((projected.mean() - exact @ (u / u.norm())).abs() / (projected.std() / len(projected) ** 0.5))
    return torch.stack(out)
