"""Train one architecture of a paper space from scratch on image data, reporting each epoch to NNI.

The trial of the multi-trial door (``strategies/tuner.py``): it receives nnictl parameters (the space's
exported decisions plus ``_sample_id``, ``_space`` and ``_train``), rebuilds the architecture with
``space.from_nnictl``, trains ``space.freeze(arch)`` (SGD, cosine schedule, Nesterov momentum 0.9, weight
decay 3e-4, gradient clip 5) and reports the validation accuracy per epoch and, at the end, a dict with
what it really trained (``sample_id``, ``arch``), so results stay right under NNI's concurrency mix-up.
"""
from __future__ import annotations

import sys
import time

import torch
from torch.utils.data import DataLoader

from .image_data import load_images


def evaluate(model, loader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    return correct / max(total, 1)


def train_architecture(space, arch: dict, data, *, epochs: int, batch_size: int = 64, lr: float = 0.05,
                       seed: int = 0, report=None) -> dict:
    """Train ``space.freeze(arch)`` on ``data`` (an ``ImageData``); returns validation/test accuracy and timing."""
    torch.manual_seed(seed)
    model = space.freeze(arch)
    train, val, test = data.datasets()
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=3e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * len(loader))
    history, started = [], time.time()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            out = model(x)
            loss = torch.nn.functional.cross_entropy(out[0] if isinstance(out, tuple) else out, y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            scheduler.step()
        history.append(evaluate(model, DataLoader(val, batch_size=256)))
        if report:
            report(history[-1])
    return {"val_acc": history[-1], "val_history": history,
            "test_acc": evaluate(model, DataLoader(test, batch_size=256)),
            "parameters": sum(p.numel() for p in model.parameters()), "train_s": time.time() - started}


def main() -> int:
    import nni

    from nni_spaces import make_space

    params = nni.get_next_parameter()
    space_spec, train_spec, sample_id = params["_space"], params["_train"], params["_sample_id"]
    space = make_space(space_spec["name"], **space_spec["args"])
    arch = space.from_nnictl({k: v for k, v in params.items() if not k.startswith("_")})
    data = load_images(train_spec["data"], seed=train_spec["seed"], data_dir=train_spec.get("data_dir"))
    result = train_architecture(space, arch, data, epochs=train_spec["epochs"], batch_size=train_spec["batch_size"],
                                seed=train_spec["seed"] * 100003 + sample_id, report=nni.report_intermediate_result)
    nni.report_final_result({"default": result["val_acc"], "sample_id": sample_id, "arch": arch, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
