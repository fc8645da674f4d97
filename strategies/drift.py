"""How far a policy has moved from uniform, and the shuffled-reward null it is judged against.

:func:`drift` measures a policy's probabilities: per decision the KL divergence from the uniform
distribution over its options (for any-subset decisions the mean over candidates of the KL from a fair
coin) and the top probability; their means over decisions; and the op probability mass on convolutions
against pooling / skip / identity (the direction EDNAS Fig. 4 reads off its heatmaps).

A policy that learns nothing still drifts: REINFORCE with noisy rewards is a random walk. Whether a
search's drift means anything is judged against the same policy trained on the same reward stream with
the link between architecture and reward cut. :class:`RewardShuffler` keeps a window of the rewards the
search observed and hands them out in random order; :class:`NullTwins` are copies of the policy, each
sampling its own architectures and learning from shuffled rewards (no extra reward evaluations: only
their sampling and updates cost). ``python -m strategies.search --shuffle-rewards`` trains the search's
own policy that way.
"""
from __future__ import annotations

import copy
import math
from collections import deque

import torch

LEARNED_MARGIN = 2.0
"""A policy's final mean KL must exceed this many times the largest null twin's to be called "learned"."""


def _kl_uniform(probs: list[float]) -> float:
    n = len(probs)
    return sum(p * math.log(p * n) for p in probs if p > 0)


def _kl_coin(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return p * math.log(2 * p) + (1 - p) * math.log(2 * (1 - p))


def is_conv(op: str) -> bool:
    """Whether an op name is a convolution (``sep_conv_3x3``, ``conv5x5``, ``dil_conv_5x5``, ...)."""
    return "conv" in op


def drift(probabilities: dict, decisions) -> dict:
    """``{"mean_kl", "mean_top", "kl": {label: kl}, "top": {label: top}, "conv_share", "conv_share_uniform"}``
    for ``probabilities`` (label -> {candidate: p}, as ``Policy.probabilities``) over ``decisions``.
    ``conv_share``: mean over the op decisions of the probability on convolutions; ``conv_share_uniform``: the
    same under uniform sampling (the line it moves away from)."""
    kl, top, conv, conv_uniform = {}, {}, [], []
    for d in decisions:
        probs = [float(v) for v in probabilities[d.label].values()]
        if d.kind == "bernoulli":
            kl[d.label] = sum(_kl_coin(p) for p in probs) / len(probs)
            top[d.label] = max(max(p, 1 - p) for p in probs)
        else:
            total = sum(probs) or 1.0
            probs = [p / total for p in probs]
            kl[d.label], top[d.label] = _kl_uniform(probs), max(probs)
            if d.kind == "choice" and all(isinstance(o, str) for o in d.options):
                flags = [is_conv(o) for o in d.options]
                if any(flags) and not all(flags):
                    conv.append(sum(p for p, f in zip(probs, flags) if f))
                    conv_uniform.append(sum(flags) / len(flags))
    n = max(len(kl), 1)
    return {"mean_kl": sum(kl.values()) / n, "mean_top": sum(top.values()) / n, "kl": kl, "top": top,
            "conv_share": sum(conv) / len(conv) if conv else None,
            "conv_share_uniform": sum(conv_uniform) / len(conv_uniform) if conv_uniform else None}


class RewardShuffler:
    """The last ``window`` rewards a search observed, handed out in random order (its own seeded generator):
    the reward stream of the search with the architecture-reward link cut."""

    def __init__(self, seed: int, window: int = 64):
        self.rewards: deque = deque(maxlen=window)
        self.generator = torch.Generator().manual_seed(seed)

    def observe(self, rewards) -> None:
        self.rewards.extend(float(r) for r in rewards)

    def draw(self, n: int) -> list[float]:
        """``n`` rewards from the window, without replacement while it has enough (call after :meth:`observe`)."""
        pool = list(self.rewards)
        if n <= len(pool):
            order = torch.randperm(len(pool), generator=self.generator)[:n]
        else:
            order = torch.randint(len(pool), (n,), generator=self.generator)
        return [pool[i] for i in order.tolist()]

    def state(self) -> dict:
        return {"rewards": list(self.rewards), "generator": self.generator.get_state()}

    def load_state(self, state: dict) -> None:
        self.rewards.clear()
        self.rewards.extend(state["rewards"])
        self.generator.set_state(state["generator"])


class NullTwins:
    """``count`` copies of ``policy`` made before it learns (own seeds, so own samples), each updated on
    shuffled rewards with as many samples per update as the policy. Their final drift is the range a policy
    reaches by chance under the same budget; :func:`verdict` compares against it."""

    def __init__(self, policy, count: int, seed: int):
        space = policy.space
        self.twins = []
        for k in range(count):
            twin = copy.deepcopy(policy, memo={id(space): space})
            twin.generator = torch.Generator().manual_seed(1_000_003 * (seed + 1) + k)
            self.twins.append(twin)

    def step(self, shuffler: RewardShuffler, samples: int) -> None:
        for twin in self.twins:
            twin.update(twin.sample_batch(samples), shuffler.draw(samples))

    def drifts(self) -> list[dict]:
        return [drift(t.probabilities(), t.decisions) for t in self.twins]

    def state(self) -> list[dict]:
        return [t.state() for t in self.twins]

    def load_state(self, states: list[dict]) -> None:
        for twin, state in zip(self.twins, states):
            twin.load_state(state)


def verdict(mean_kl: float, null_kls: list[float], shuffled: bool) -> dict:
    """Whether the drift is the policy's learning: ``learned`` only when the final mean KL exceeds
    :data:`LEARNED_MARGIN` times every null twin's (and the search's own rewards were not shuffled)."""
    ceiling = max(null_kls) if null_kls else None
    if shuffled:
        text = "shuffled rewards: a null run, nothing to learn"
        learned = False
    elif ceiling is None:
        text, learned = "no null twins: cannot tell learning from chance drift", False
    else:
        learned = mean_kl > LEARNED_MARGIN * ceiling and mean_kl > 0
        text = (f"learned: mean KL from uniform {mean_kl:.3g} > {LEARNED_MARGIN:g} x the shuffled-reward twins' "
                f"largest {ceiling:.3g}" if learned else
                f"not learned: mean KL from uniform {mean_kl:.3g} is within {LEARNED_MARGIN:g} x the shuffled-reward "
                f"twins' largest {ceiling:.3g}")
    return {"learned": learned, "mean_kl": mean_kl, "null_mean_kls": null_kls, "margin": LEARNED_MARGIN, "text": text}
