"""Token samplers for the MLP space: the Keras LSTM controller and the uniform-random baseline.

Both offer the same calls: ``sample(n)`` token sequences, ``update(sequences, rewards)``,
``state()`` / ``load_state(state)`` for checkpoints. The uniform sampler is the controller's own
distribution at equal logits with an update that does nothing, which makes it the fair baseline.
Both take a ``prior`` (``mlp_nas.space.PRIORS``): the uniform sampler draws from it, and the controller adds
its log-probabilities to the LSTM's logits, so that it starts from the prior and learns a correction to it.
"""
from __future__ import annotations

import os

import numpy as np

from .space import END, TokenSpace, check_prior


class UniformSampler:
    """Draws from the space's prior (``"tokens"``: uniform over the valid tokens at every step); learns nothing."""

    def __init__(self, space: TokenSpace, seed: int = 0, prior: str = "tokens"):
        self.space = space
        self.prior = check_prior(prior)
        self.rng = np.random.default_rng(seed)

    def sample(self, n: int) -> list[list[int]]:
        out = []
        for _ in range(n):
            tokens: list[int] = []
            while not tokens or tokens[-1] != END:
                if self.prior == "tokens":  # the draws the seed study's runs were made with
                    tokens.append(int(self.rng.choice(np.flatnonzero(self.space.valid_next(tokens)))))
                else:
                    p = np.exp(self.space.log_prior(tokens, self.prior))
                    tokens.append(int(self.rng.choice(len(p), p=p / p.sum())))
            out.append(tokens)
        return out

    def update(self, sequences, rewards, accuracies=None) -> dict:
        return {}

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


class LSTMController:
    """An LSTM that emits one token per step, fed the embedding of the token it sampled before.

    Trained by REINFORCE on the log-probabilities of the tokens it actually sampled, times
    (reward - moving-average baseline), plus an entropy bonus, with Adam. With ``predictor`` a
    dense head on the last LSTM state also learns the validation accuracy (MSE), sharing the LSTM;
    the MSE of accuracies is ~0.05, far below the policy loss, hence its default weight of 20
    (at weight 1 it barely moved in 80 updates here). The vocabulary is the space's: with
    ``TokenSpace(train_tokens=True)`` the controller also picks the learning rate, L2 and batch size. With
    ``prior="layerwise"`` the log-prior of each step is added to the logits: at its initial, near-zero logits the
    controller samples what NNI Random samples from the nnictl export, and REINFORCE moves it from there (the
    entropy bonus then pulls, weakly, towards every valid token alike, not towards the prior).

    >>> c = LSTMController(TokenSpace(max_layers=3), seed=0)
    >>> seqs = c.sample(4)
    >>> stats = c.update(seqs, [0.9, 0.1, 0.5, 0.4])
    """

    def __init__(self, space: TokenSpace, lstm_units: int = 128, embedding_dim: int = 32,
                 learning_rate: float = 0.01, entropy_weight: float = 1e-3, baseline_decay: float = 0.9,
                 predictor: bool = False, predictor_weight: float = 20.0, seed: int = 0, prior: str = "tokens"):
        os.environ["KERAS_BACKEND"] = "tensorflow"  # the update below uses TensorFlow's GradientTape
        import keras

        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(f"the controller needs Keras on TensorFlow, but Keras was already imported with "
                               f"the {keras.backend.backend()!r} backend in this process")

        for name, value, low in (("lstm_units", lstm_units, 1), ("embedding_dim", embedding_dim, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
        if not 0 <= baseline_decay < 1:
            raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay!r}")
        self.space = space
        self.prior = check_prior(prior)
        self.entropy_weight = float(entropy_weight)
        self.baseline_decay = float(baseline_decay)
        self.predictor_weight = float(predictor_weight)
        self.baseline: float | None = None
        self.rng = np.random.default_rng(seed)
        init = keras.initializers.RandomUniform(-0.1, 0.1, seed=seed)
        self.vocab_size = space.vocab_size
        self.embedding = keras.layers.Embedding(space.vocab_size + 1, embedding_dim, embeddings_initializer=init)
        self.cell = keras.layers.LSTMCell(lstm_units, kernel_initializer=init, recurrent_initializer=init)
        self.head = keras.layers.Dense(space.vocab_size, kernel_initializer=init)
        self.predictor = keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init) if predictor else None
        self.optimizer = keras.optimizers.Adam(learning_rate)
        self.units = lstm_units
        _, outs = self._run(np.full((1, 1), space.start), np.ones((1, 1, space.vocab_size), bool))  # build the weights
        if self.predictor is not None:
            self.predictor(outs[:, 0])
        self.optimizer.build(self.variables)

    @property
    def variables(self):
        layers = [self.embedding, self.cell, self.head] + ([self.predictor] if self.predictor else [])
        return [v for layer in layers for v in layer.trainable_variables]

    def _step(self, tokens, state):
        out, state = self.cell(self.embedding(tokens), state)
        return out, state, self.head(out)

    def _bias(self, prefix: list[int]) -> np.ndarray:
        """What the prior adds to the logits after ``prefix`` (0 where the space forbids: the mask handles it)."""
        if self.prior == "tokens":
            return np.zeros(self.vocab_size)
        lp = self.space.log_prior(prefix, self.prior)
        return np.where(np.isfinite(lp), lp, 0.0)

    def _run(self, inputs: np.ndarray, masks: np.ndarray, bias: np.ndarray | None = None):
        """Teacher-forced pass: inputs (n, T) token ids, masks (n, T, vocab), the prior's ``bias`` (n, T, vocab)
        or None; masked log-softmax per step."""
        import tensorflow as tf

        n, steps = inputs.shape
        state = [tf.zeros((n, self.units)), tf.zeros((n, self.units))]
        logps, outs = [], []
        for t in range(steps):
            out, state, logits = self._step(inputs[:, t], state)
            if bias is not None:
                logits = logits + bias[:, t].astype(np.float32)
            logits = tf.where(masks[:, t], logits, -1e9)
            logps.append(tf.nn.log_softmax(logits))
            outs.append(out)
        return tf.stack(logps, axis=1), tf.stack(outs, axis=1)

    def sample(self, n: int) -> list[list[int]]:
        """Sample ``n`` complete token sequences, each step from the masked softmax."""
        import tensorflow as tf

        state = [tf.zeros((n, self.units)), tf.zeros((n, self.units))]
        seqs: list[list[int]] = [[] for _ in range(n)]
        prev = np.full(n, self.space.start)
        for _ in range(self.space.max_steps):
            live = [i for i, s in enumerate(seqs) if not s or s[-1] != END]
            if not live:
                break
            _, state, logits = self._step(prev, state)
            logits = logits.numpy().astype(np.float64)
            for i in live:
                mask = self.space.valid_next(seqs[i])
                z = np.where(mask, logits[i] + self._bias(seqs[i]), -np.inf)
                p = np.exp(z - z.max())
                token = int(self.rng.choice(self.vocab_size, p=p / p.sum()))
                seqs[i].append(token)
                prev[i] = token
        return seqs

    def _batch(self, sequences):
        steps = max(len(s) for s in sequences)
        inputs = np.full((len(sequences), steps), END)
        targets = np.zeros((len(sequences), steps), dtype=np.int64)
        masks = np.ones((len(sequences), steps, self.vocab_size), dtype=bool)
        live = np.zeros((len(sequences), steps), dtype=np.float32)
        bias = None if self.prior == "tokens" else np.zeros((len(sequences), steps, self.vocab_size))
        for i, s in enumerate(sequences):
            inputs[i, : len(s)] = [self.space.start] + list(s[:-1])
            targets[i, : len(s)] = s
            masks[i, : len(s)] = self.space.step_masks(list(s))
            live[i, : len(s)] = 1.0
            if bias is not None:
                bias[i, : len(s)] = [self._bias(list(s[:t])) for t in range(len(s))]
        return inputs, targets, masks, live, bias

    def log_probs(self, sequences) -> np.ndarray:
        """Log-probability of each complete sequence under the current policy."""
        import tensorflow as tf

        inputs, targets, masks, live, bias = self._batch(sequences)
        logp, _ = self._run(inputs, masks, bias)
        picked = tf.reduce_sum(tf.gather(logp, targets, axis=2, batch_dims=2) * live, axis=1)
        return picked.numpy()

    def update(self, sequences, rewards, accuracies=None) -> dict:
        """One REINFORCE step on a batch of sampled sequences and their rewards."""
        # Why this baseline differs from the PyTorch policies' REINFORCE (strategies/base.py, after ENAS,
        # Pham et al. 2018): there the baseline starts at 0, moves once per sample *before* that sample's
        # advantage is taken, the entropy bonus is added to the reward, and the loss sums over the batch; one
        # update per sample (or per few samples) over hundreds of updates, so the zero start washes out. Here
        # one update is one whole controller epoch (10 samples, 10 epochs in the MLP NAS study), so: the
        # baseline starts at the first epoch's mean reward (from 0, every first-epoch architecture would look
        # good, as every accuracy is > 0, and a tenth of the budget would only push probabilities up); the
        # advantage uses the baseline of the epochs before (the epoch's own mean would cancel with itself),
        # which then moves once towards this epoch's mean; the loss is the batch mean, so the learning rate
        # does not depend on archs_per_epoch; and the entropy bonus stays outside the reward, so that the
        # reward (and baseline) reported per epoch is the accuracy alone.
        import tensorflow as tf

        rewards = np.asarray(rewards, dtype=np.float32)
        if len(sequences) == 0:
            return {}
        if self.baseline is None:
            self.baseline = float(rewards.mean())
        advantage = rewards - np.float32(self.baseline)
        inputs, targets, masks, live, bias = self._batch(sequences)
        with tf.GradientTape() as tape:
            logp, outs = self._run(inputs, masks, bias)
            seq_logp = tf.reduce_sum(tf.gather(logp, targets, axis=2, batch_dims=2) * live, axis=1)
            probs = tf.exp(logp)
            entropy = tf.reduce_sum(-tf.reduce_sum(tf.where(masks, probs * logp, 0.0), axis=2) * live, axis=1)
            loss = -tf.reduce_mean(seq_logp * advantage) - self.entropy_weight * tf.reduce_mean(entropy)
            pred_loss = tf.constant(0.0)
            if self.predictor is not None and accuracies is not None:
                pred = self._predict(outs, live)
                pred_loss = tf.reduce_mean(tf.square(pred - np.asarray(accuracies, np.float32)))
                loss = loss + self.predictor_weight * pred_loss
        grads = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * float(rewards.mean())
        return {"loss": float(loss), "entropy": float(tf.reduce_mean(entropy)), "baseline": self.baseline,
                "predictor_mse": float(pred_loss)}

    def predict_accuracy(self, sequences) -> np.ndarray | None:
        """The predictor head's accuracy estimate for each sequence (None without a predictor)."""
        if self.predictor is None:
            return None
        inputs, _, masks, live, _ = self._batch(sequences)
        _, outs = self._run(inputs, masks)  # the prior moves the logits, not the LSTM outputs the head reads
        return self._predict(outs, live).numpy()

    def _predict(self, outs, live):
        """The predictor head on each sequence's LSTM output at its END step."""
        import tensorflow as tf

        last = live.sum(axis=1).astype(np.int64) - 1
        return tf.squeeze(self.predictor(tf.gather(outs, last, axis=1, batch_dims=1)), axis=1)

    def state(self) -> dict:
        return {"weights": [v.numpy() for v in self.variables],
                "optimizer": [v.numpy() for v in self.optimizer.variables],
                "baseline": self.baseline, "rng": self.rng.bit_generator.state}

    def load_state(self, state: dict) -> None:
        for v, value in zip(self.variables, state["weights"]):
            v.assign(value)
        for v, value in zip(self.optimizer.variables, state["optimizer"]):
            v.assign(value)
        self.baseline = state["baseline"]
        self.rng.bit_generator.state = state["rng"]
