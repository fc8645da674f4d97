"""The weight-sharing supernet: with a sampled path it computes exactly what the
frozen child carrying the same weights computes, for every space; unselected edges are not run."""
import pytest
import torch

from nni_spaces import make_space
from strategies import make_policy
from strategies.supernet import Supernet, child_with_shared_weights

SMALL = {
    "enas-macro": dict(num_layers=4, width=4),
    "enas-micro": dict(num_cells=3, width=4),
    "darts": dict(num_cells=3, width=4),
    "ednas-cell": dict(num_cells=3, width=4),
}


def scramble(supernet: Supernet) -> Supernet:
    """Weights and batch-norm statistics far from their initial values (uniform in [0.5, 1.5))."""
    with torch.no_grad():
        for tensor in list(supernet.parameters()) + [b for b in supernet.buffers() if b.is_floating_point()]:
            tensor.copy_(torch.rand_like(tensor) + 0.5)
    return supernet


@pytest.mark.parametrize("name", list(SMALL))
def test_sampled_path_equals_frozen_child_with_the_same_weights(name):
    torch.manual_seed(0)
    space = make_space(name, **SMALL[name])
    supernet = scramble(Supernet(space))
    x = torch.randn(4, 3, 32, 32)
    for seed in range(3):
        arch = space.sample(seed)
        child = child_with_shared_weights(supernet, space, arch)
        for train in (False, True):
            supernet.train(train), child.train(train)
            supernet.use(arch)
            assert torch.allclose(supernet(x), child(x), rtol=1e-5, atol=1e-6), (name, seed, train)


def test_only_the_kept_edges_run():
    space = make_space("ednas-cell", width=4, num_cells=3)
    supernet = Supernet(space)
    calls = []
    for name, module in supernet.named_modules():
        if name.count(".edges.") and name.split(".")[-1] in space.ops:
            module.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    arch = space.sample(1)
    supernet.use(arch)
    supernet(torch.randn(2, 3, 32, 32))
    assert len(calls) == 3 * 8  # 3 cells x 4 nodes x 2 kept edges, of 14 edges x 7 ops per cell


def test_a_policy_drives_the_supernet():
    space = make_space("darts", width=4, num_cells=3)
    supernet, policy = Supernet(space), make_policy("ednas", space, seed=0)
    optimizer = torch.optim.SGD(supernet.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=3e-4)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    for _ in range(2):
        supernet.use(policy.sample())
        loss = torch.nn.functional.cross_entropy(supernet(x), y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(supernet.parameters(), 5.0)
        optimizer.step()
        arch = policy.sample()
        supernet.use(arch)
        with torch.no_grad():
            reward = (supernet(x).argmax(1) == y).float().mean().item()
        policy.update([arch], [reward])
    assert policy.updates == 2
