"""The SGD recipe shared by the weight-sharing search and the retraining of a child (DARTS' and EDNAS'
protocol): Nesterov momentum 0.9, weight decay 3e-4, the learning rate annealed by a cosine to zero."""
from __future__ import annotations

import torch


def sgd_cosine(weights, lr: float, steps: int, momentum: float = 0.9, weight_decay: float = 3e-4):
    """The optimizer and its per-step cosine schedule over ``steps`` steps."""
    optimizer = torch.optim.SGD(weights, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
