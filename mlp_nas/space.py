"""The MLP token space of the seed MLPNAS study (section 5.1), and validation of architectures.

An architecture is a plain dict a user can read and paste back::

    {"layers": [[64, "relu"], "dropout", [32, "tanh"]]}

Each hidden layer is ``[units, activation]``; ``"dropout"`` is a dropout layer (rate 0.2). The
output layer follows the task and is not part of the architecture. A controller sees the same
thing as a token sequence: one token per layer, closed by the end token.

Behind a switch (``TokenSpace(train_tokens=True)``) the training hyperparameters become tokens too:
the sequence starts with one learning-rate, one L2 and one batch-size token (``TRAIN_CHOICES``),
and the architecture carries them, ``{"layers": [...], "train": {"learning_rate": 0.001, "l2": 0.0,
"batch_size": 64}}``. Their tokens come after the layer vocabulary, so the seed study's pure layer
space (the default) keeps its vocabulary, tokens and ``VOCAB_SIZE`` unchanged.

Samplers start from a prior over this space (``TokenSpace.log_prior``): ``"tokens"``, every valid token alike
at every step (the seed study's), or ``"layerwise"``, the distribution of the nnictl export that NNI's own tuners
draw from: a depth uniform over 1..``max_layers``, each layer's units and activation uniform, and a dropout layer
after each layer with probability 1/2. The first makes deep nets without dropout likely (after a dense layer the
dropout and the end token are each 1 of 30); the second is what NNI Random samples.
"""
from __future__ import annotations

import itertools

import numpy as np

UNITS = (8, 16, 32, 64, 128, 256, 512)
ACTIVATIONS = ("sigmoid", "tanh", "relu", "elu")
DROPOUT_RATE = 0.2
MAX_LAYERS = 10

END = 0
LAYER_TOKENS = {pair: i + 1 for i, pair in enumerate(itertools.product(UNITS, ACTIVATIONS))}
DROPOUT = len(LAYER_TOKENS) + 1
VOCAB_SIZE = DROPOUT + 1  # END, every (units, activation), dropout
START = VOCAB_SIZE  # fed to the controller before the first token; never sampled
TOKEN_LAYERS = {token: pair for pair, token in LAYER_TOKENS.items()}
TRAIN_CHOICES = {"learning_rate": (3e-4, 1e-3, 3e-3, 1e-2), "l2": (0.0, 1e-5, 1e-4, 1e-3),
                 "batch_size": (32, 64, 128, 256)}
TRAIN_TOKENS: dict[str, dict] = {}  # name -> {value: token}, numbered after the layer vocabulary
_next = VOCAB_SIZE
for _name, _values in TRAIN_CHOICES.items():
    TRAIN_TOKENS[_name] = {v: _next + i for i, v in enumerate(_values)}
    _next += len(_values)
TRAIN_VOCAB_SIZE = _next
TOKEN_TRAIN = {t: (name, v) for name, tokens in TRAIN_TOKENS.items() for v, t in tokens.items()}
PRIORS = ("tokens", "layerwise")


class ArchitectureError(ValueError):
    """An architecture dict that is not in the space; the message names the bad part."""


def check_prior(prior) -> str:
    """``prior`` if it is one of ``PRIORS``, else ``ValueError`` naming them."""
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {list(PRIORS)}, got {prior!r}")
    return prior


class TokenSpace:
    """Which token sequences are architectures: 1..``max_layers`` dense layers, dropout never first
    nor twice in a row, closed by END. ``valid_next`` is the rule a sampler must follow. With
    ``train_tokens`` every sequence starts with one token per entry of ``TRAIN_CHOICES``."""

    def __init__(self, max_layers: int = MAX_LAYERS, train_tokens: bool = False):
        if not isinstance(max_layers, int) or isinstance(max_layers, bool) or not 1 <= max_layers <= 50:
            raise ArchitectureError(f"max_layers must be an integer between 1 and 50, got {max_layers!r}")
        self.max_layers = max_layers
        self.train_tokens = bool(train_tokens)
        self.n_train = len(TRAIN_CHOICES) if self.train_tokens else 0
        self.vocab_size = TRAIN_VOCAB_SIZE if self.train_tokens else VOCAB_SIZE
        self.start = self.vocab_size  # fed to a controller before the first token; never sampled
        self.max_steps = self.n_train + 2 * max_layers + 1  # every layer followed by dropout, then END

    def valid_next(self, prefix: list[int]) -> np.ndarray:
        """Boolean mask over the vocabulary: which tokens may follow ``prefix``."""
        mask = np.zeros(self.vocab_size, dtype=bool)
        if len(prefix) < self.n_train:
            mask[list(TRAIN_TOKENS[list(TRAIN_CHOICES)[len(prefix)]].values())] = True
            return mask
        prefix = prefix[self.n_train:]
        n_dense = sum(1 for t in prefix if t != DROPOUT)
        if n_dense < self.max_layers:
            mask[1:DROPOUT] = True
        if n_dense > 0:
            mask[END] = True
            if prefix[-1] != DROPOUT and n_dense < self.max_layers:
                mask[DROPOUT] = True
        return mask

    def log_prior(self, prefix: list[int], prior: str = "tokens") -> np.ndarray:
        """Log-probabilities over the vocabulary of the token after ``prefix`` under ``prior`` (one of
        ``PRIORS``); -inf where ``valid_next`` forbids. ``"layerwise"`` draws the depth uniformly: after the
        k-th dense layer it ends with probability 1 / (max_layers - k + 1), and a dropout layer comes first
        with probability 1/2."""
        check_prior(prior)
        mask = self.valid_next(prefix)
        p = mask / mask.sum()
        layers = prefix[self.n_train:]
        if prior == "layerwise" and layers and mask[1]:  # a dense layer may follow
            n_dense = sum(1 for t in layers if t != DROPOUT)
            stop = 1.0 / (self.max_layers - n_dense + 1)
            go_on = 1.0 if not mask[DROPOUT] else 0.5  # a dropout layer first, with probability 1/2
            p = np.zeros(self.vocab_size)
            p[1:DROPOUT] = go_on * (1 - stop) / (DROPOUT - 1)
            p[END] = go_on * stop
            p[DROPOUT] = 1 - go_on
        with np.errstate(divide="ignore"):
            return np.where(mask, np.log(p), -np.inf)

    def step_masks(self, tokens: list[int]) -> np.ndarray:
        """Masks for every step of a complete sequence (including its END), shape (len, vocab)."""
        return np.stack([self.valid_next(tokens[:i]) for i in range(len(tokens))])

    def to_tokens(self, arch: dict) -> list[int]:
        """The token sequence of a validated architecture, END included."""
        arch = self.validate(arch)
        head = [TRAIN_TOKENS[name][arch["train"][name]] for name in TRAIN_CHOICES] if self.train_tokens else []
        tokens = [DROPOUT if layer == "dropout" else LAYER_TOKENS[tuple(layer)] for layer in arch["layers"]]
        return head + tokens + [END]

    def from_tokens(self, tokens) -> dict:
        """The architecture dict of a token sequence (END and anything after it ignored)."""
        layers, train = [], {}
        for t in tokens:
            t = int(t)
            if t == END:
                break
            if t in TOKEN_TRAIN:
                train[TOKEN_TRAIN[t][0]] = TOKEN_TRAIN[t][1]
            else:
                layers.append("dropout" if t == DROPOUT else list(TOKEN_LAYERS[t]))
        return self.validate({"layers": layers, **({"train": train} if self.train_tokens else {})})

    def validate(self, arch) -> dict:
        """Return a normalised copy of ``arch`` or raise :class:`ArchitectureError` saying what is wrong."""
        keys = {"layers", "train"} if self.train_tokens else {"layers"}
        if not isinstance(arch, dict) or set(arch) != keys:
            if self.train_tokens:
                raise ArchitectureError('with training tokens an architecture is a dict with the keys "layers" and '
                                        f'"train" (one value each of {dict(TRAIN_CHOICES)}); got {arch!r}')
            raise ArchitectureError('an architecture is a dict with the single key "layers", e.g. '
                                    f'{{"layers": [[64, "relu"], "dropout", [32, "tanh"]]}}; got {arch!r}')
        layers = arch["layers"]
        if not isinstance(layers, (list, tuple)):
            raise ArchitectureError(f'"layers" must be a list, got {type(layers).__name__}')
        out, n_dense = [], 0
        for i, layer in enumerate(layers):
            if layer == "dropout":
                if i == 0 or out[-1] == "dropout":
                    raise ArchitectureError(f"layers[{i}]: dropout must follow a dense layer")
                out.append("dropout")
                continue
            if not isinstance(layer, (list, tuple)) or len(layer) != 2:
                raise ArchitectureError(f'layers[{i}]: expected [units, activation] or "dropout", got {layer!r}')
            units, activation = layer
            if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or int(units) not in UNITS:
                raise ArchitectureError(f"layers[{i}]: units {units!r} not in {list(UNITS)}")
            if activation not in ACTIVATIONS:
                raise ArchitectureError(f"layers[{i}]: activation {activation!r} not in {list(ACTIVATIONS)}")
            out.append([int(units), str(activation)])
            n_dense += 1
        if not 1 <= n_dense <= self.max_layers:
            raise ArchitectureError(f"an architecture needs 1 to {self.max_layers} dense layers, got {n_dense}")
        if not self.train_tokens:
            return {"layers": out}
        train = arch["train"]
        if not isinstance(train, dict) or set(train) != set(TRAIN_CHOICES):
            raise ArchitectureError(f'"train" must hold exactly {list(TRAIN_CHOICES)}, got {train!r}')
        for name, values in TRAIN_CHOICES.items():
            if train[name] not in values or isinstance(train[name], bool):
                raise ArchitectureError(f"train.{name} {train[name]!r} not in {list(values)}")
        return {"layers": out, "train": {name: type(TRAIN_CHOICES[name][0])(train[name]) for name in TRAIN_CHOICES}}


def describe(arch: dict) -> str:
    """One line for tables: ``64 relu > dropout > 32 tanh``."""
    text = " > ".join("dropout" if layer == "dropout" else f"{layer[0]} {layer[1]}" for layer in arch["layers"])
    if arch.get("train"):
        text += " (" + ", ".join(f"{k} {v:g}" for k, v in arch["train"].items()) + ")"
    return text
