"""The controller learns from the actions it sampled."""
import numpy as np
import pytest

from mlp_nas.policies import LSTMController, UniformSampler
from mlp_nas.space import ACTIVATIONS, DROPOUT, END, TRAIN_CHOICES, VOCAB_SIZE, TokenSpace

UPDATES, BATCH = 40, 10


def relu_share(space, tokens):
    dense = [layer for layer in space.from_tokens(tokens)["layers"] if layer != "dropout"]
    return sum(layer[1] == "relu" for layer in dense) / len(dense)


def train(policy, space, shuffle):
    rng = np.random.default_rng(7)
    for _ in range(UPDATES):
        seqs = policy.sample(BATCH)
        rewards = np.array([relu_share(space, s) for s in seqs])
        policy.update(seqs, rng.permutation(rewards) if shuffle else rewards)
    return float(np.mean([relu_share(space, s) for s in policy.sample(300)]))


@pytest.fixture(scope="module")
def space():
    return TokenSpace(max_layers=4)


def test_controller_learns_relu_and_not_from_shuffled_rewards(space):
    uniform = train(UniformSampler(space, seed=0), space, shuffle=False)
    assert abs(uniform - 1 / len(ACTIVATIONS)) < 0.06  # uniform sampling does not move
    learned = train(LSTMController(space, seed=0), space, shuffle=False)
    assert learned > 0.8, learned  # far above uniform's 0.25 after UPDATES updates of BATCH samples
    # With shuffled rewards the policy only drifts (0.30-0.55 over these seeds): no preference for relu.
    shuffled = [train(LSTMController(space, seed=s), space, shuffle=True) for s in range(4)]
    assert np.mean(shuffled) < 0.5 and max(shuffled) < learned - 0.3, shuffled


def test_layerwise_prior_controller_starts_from_the_prior_and_still_learns(space):
    """With ``prior="layerwise"`` the untrained controller samples NNI's export distribution (uniform depth, about
    one dropout layer in two) instead of mostly the deepest nets, and REINFORCE still moves it."""
    wide = TokenSpace()
    plain, layerwise = LSTMController(wide, seed=0).sample(300), LSTMController(wide, seed=0, prior="layerwise").sample(300)
    depth = lambda seqs: np.array([sum(t not in (DROPOUT, END) for t in s) for s in seqs])  # noqa: E731
    assert np.mean(depth(plain) == 10) > 0.5 and 4.5 < depth(layerwise).mean() < 6.5
    dropout_share = np.mean([sum(t == DROPOUT for t in s) / max(1, d - (d == 10)) for s, d in zip(layerwise, depth(layerwise))])
    assert 0.4 < dropout_share < 0.6
    assert train(LSTMController(space, seed=0, prior="layerwise"), space, shuffle=False) > 0.8


def test_the_seed_studys_space_samples_what_it_always_did():
    """Recorded before the controller took its vocabulary from the space: the pure layer space is unchanged."""
    c = LSTMController(TokenSpace(4), seed=0)
    assert c.sample(3) == [[18, 0], [8, 24, 18, 16, 0], [2, 27, 21, 28, 0]]
    c.update(c.sample(4), [0.1, 0.9, 0.5, 0.3])
    assert c.sample(2) == [[11, 21, 9, 26, 0], [4, 15, 14, 27, 0]]


def test_same_seed_same_samples_and_state_round_trip(space):
    a, b = LSTMController(space, seed=3), LSTMController(space, seed=3)
    assert a.sample(5) == b.sample(5)
    a.update(a.sample(4), [0.1, 0.9, 0.5, 0.3])
    b.load_state(a.state())
    assert a.sample(6) == b.sample(6)
    seqs = a.sample(3)
    np.testing.assert_allclose(a.log_probs(seqs), b.log_probs(seqs), rtol=1e-6)


def test_samples_respect_the_space(space):
    for tokens in LSTMController(space, seed=1).sample(40):
        assert tokens[-1] == END and tokens[0] not in (END, DROPOUT)
        space.from_tokens(tokens)


def test_predictor_head_learns_accuracy(space):
    c = LSTMController(space, predictor=True, seed=0)
    seqs = c.sample(8)
    accs = np.linspace(0.2, 0.9, 8)
    before = np.mean((c.predict_accuracy(seqs) - accs) ** 2)
    for _ in range(30):
        stats = c.update(seqs, accs, accs)
    assert stats["predictor_mse"] < before / 2


def test_controller_with_training_tokens_learns_a_learning_rate():
    """``train_tokens``: the controller's vocabulary is the space's; it samples valid sequences that start with
    the training tokens, and learns which learning rate the reward prefers (uniform: 1 in 4)."""
    space = TokenSpace(max_layers=3, train_tokens=True)
    c = LSTMController(space, seed=0)
    assert c.vocab_size == space.vocab_size > VOCAB_SIZE
    for tokens in c.sample(20):
        arch = space.from_tokens(tokens)
        assert set(arch["train"]) == set(TRAIN_CHOICES) and space.to_tokens(arch) == tokens

    def share(seqs):
        return np.mean([space.from_tokens(s)["train"]["learning_rate"] == 3e-3 for s in seqs])

    assert share(c.sample(300)) < 0.4  # about 1 in 4 before learning
    for _ in range(UPDATES):
        seqs = c.sample(BATCH)
        c.update(seqs, [float(space.from_tokens(s)["train"]["learning_rate"] == 3e-3) for s in seqs])
    assert share(c.sample(300)) > 0.8
    b = LSTMController(space, seed=0)
    b.load_state(c.state())
    assert b.sample(5) == c.sample(5)
