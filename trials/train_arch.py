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
import torch.nn.functional as F
from torch.utils.data import DataLoader

from nas_data.images import load_images
from nni_plumbing import labels
from nni_plumbing.checks import trial_seed
from strategies.sgd import sgd_cosine

#: The retraining "tricks" of Yang (2020) with the papers' values (DARTS' protocol): each a switch, recorded
#: in every result so that protocols are never mixed silently. Cutout's length is half the image side
#: (16 px on CIFAR's 32); drop-path rises linearly to its value over training; the auxiliary head's loss
#: has weight 0.4.
TRICKS = {"cutout": 0.5, "drop_path": 0.2, "auxiliary": 0.4}


def protocol(*, epochs: int, batch_size: int, lr: float, cutout: bool = False, drop_path: bool = False,
             auxiliary: bool = False) -> dict:
    """The training protocol as a plain dict, switches resolved to their values (0 = off)."""
    return {"optimizer": "sgd-nesterov-cosine", "epochs": epochs, "batch_size": batch_size, "lr": lr,
            "momentum": 0.9, "weight_decay": 3e-4, "grad_clip": 5.0,
            "cutout": TRICKS["cutout"] if cutout else 0.0, "drop_path": TRICKS["drop_path"] if drop_path else 0.0,
            "auxiliary": TRICKS["auxiliary"] if auxiliary else 0.0}


def apply_cutout(x: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """DeVries & Taylor's cutout: zero one square of side ``fraction`` x the image side per image, centred
    anywhere (clipped at the border)."""
    n, _, h, w = x.shape
    side = max(1, round(fraction * min(h, w)))
    cy = torch.randint(0, h, (n, 1, 1), generator=generator)
    cx = torch.randint(0, w, (n, 1, 1), generator=generator)
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    inside = ((rows - cy).abs() * 2 < side) & ((cols - cx).abs() * 2 < side)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def evaluate(model, loader, device="cpu") -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x.to(device)).argmax(1).cpu() == y).sum().item()
            total += len(y)
    return correct / max(total, 1)


def train_architecture(space, arch: dict, data, *, epochs: int, batch_size: int = 64, lr: float = 0.05,
                       seed: int = 0, cutout: bool = False, drop_path: bool = False, auxiliary: bool = False,
                       device: str = "cpu", report=None) -> dict:
    """Train ``space.freeze(arch)`` on ``data`` (an ``ImageData``) from scratch; returns validation/test
    accuracy, timing and the protocol. ``auxiliary`` needs a space built with ``auxiliary=True``."""
    proto = protocol(epochs=epochs, batch_size=batch_size, lr=lr, cutout=cutout, drop_path=drop_path,
                     auxiliary=auxiliary)
    torch.manual_seed(seed)
    model = space.freeze(arch).to(device)
    if proto["drop_path"] and not hasattr(model, "set_drop_path"):
        raise ValueError(f"drop-path applies to cell networks; {space.name} has no cells to drop paths in")
    if proto["auxiliary"] and getattr(model, "auxiliary_head", None) is None:
        raise ValueError(f"the auxiliary head needs a cell space built with auxiliary=True ({space.name})")
    train, val, test = data.datasets()
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator)
    weights = list(model.parameters())
    optimizer, scheduler = sgd_cosine(weights, lr, epochs * len(loader))
    history, losses, started = [], [], time.time()
    for epoch in range(epochs):
        model.train()
        total = 0.0
        if proto["drop_path"]:
            model.set_drop_path(proto["drop_path"] * epoch / epochs)
        for x, y in loader:
            if proto["cutout"]:
                x = apply_cutout(x, proto["cutout"], generator)
            x, y = x.to(device), y.to(device)
            out = model(x)
            if isinstance(out, tuple):
                loss = F.cross_entropy(out[0], y) + proto["auxiliary"] * F.cross_entropy(out[1], y)
            else:
                loss = F.cross_entropy(out, y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(weights, 5.0)
            optimizer.step()
            scheduler.step()
            total += loss.item()
        losses.append(total / len(loader))
        history.append(evaluate(model, DataLoader(val, batch_size=256), device))
        if report:
            report(history[-1])
    return {"val_acc": history[-1], "val_history": history, "train_loss": losses,
            "test_acc": evaluate(model, DataLoader(test, batch_size=256), device),
            "parameters": sum(p.numel() for p in model.parameters()), "train_s": time.time() - started,
            "protocol": proto}


def main() -> int:
    from nni_plumbing import faults
    faults.inject()  # no-op unless tests/test_faults.py planned a fault for this trial
    from nni_plumbing import mixup

    mixup.install()  # train the parameters NNI recorded for this trial id (NNI 3.0 can hand out another's)
    import nni

    from nni_spaces import make_space

    params = nni.get_next_parameter()
    space_spec, train_spec, sample_id = params["_space"], params["_train"], params["_sample_id"]
    torch.set_num_threads(int(train_spec.get("threads", 1)))  # two trials x two threads on two cores: slower
    space = make_space(space_spec["name"], **space_spec["args"])
    arch = space.from_nnictl({k: v for k, v in labels.strip(params).items() if not k.startswith("_")})
    data = load_images(train_spec["data"], seed=train_spec["seed"], data_dir=train_spec.get("data_dir"))
    result = train_architecture(space, arch, data, epochs=train_spec["epochs"], batch_size=train_spec["batch_size"],
                                seed=trial_seed(train_spec["seed"], sample_id), report=nni.report_intermediate_result)
    nni.report_final_result({"default": result["val_acc"], "sample_id": sample_id, "arch": arch, **result})
    return 0


if __name__ == "__main__":
    from nni_plumbing import warm_start

    code = warm_start.delegate("trials.train_arch:main", warm_start.process_started())
    sys.exit(main() if code is None else code)
