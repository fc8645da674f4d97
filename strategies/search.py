"""Weight-sharing search with any policy over any space, checkpointed every epoch and resumable.

Each epoch: one pass over the training split updating the shared weights, a new sampled path every
step (SGD, lr 0.05 cosine, Nesterov momentum 0.9, weight decay 3e-4, gradient-norm clip 5, as EDNAS);
then ``policy_steps`` policy updates (default 125), each from ``samples_per_update`` architectures (default 4)
scored (top-1) on the next validation minibatch of ``val_batch_size`` images (default 16). That budget is
the search's, the same for every policy (``docs/search.md`` has the measurement behind the defaults).
Every epoch the policy's drift (KL from uniform and top probability per decision) goes to the history and
TensorBoard, beside the drift of null twins that learn from shuffled rewards (``strategies/drift.py``);
``result.json`` says whether the policy "learned" by that yardstick.
The final architecture: ``final_samples`` (100) sampled, each scored on the whole validation split with
the shared weights (ties broken by cross-entropy), the best kept and re-scored on the holdout split (the
test split from the command line), data it was not selected on; all candidates saved with scores.
For the studies (``studies/tuner.py``): ``snapshot_epochs`` derive the same way after those epochs too
(the best architecture by shared-weight reward at the first epoch, say), and ``probe_epoch`` /
``probe_k`` sample K architectures after that epoch and score each on the whole validation split.
``init_policy`` (``--init-policy``) starts the policy from another search's checkpoint, on another data set say
(the controller transfer of Singh's ENAS thesis, 2019): its parameters only, not its optimizer, baseline or
shared weights.

    python -m strategies.search --space ednas-cell --policy ednas --data digits --epochs 3 --out results/s1

Run as an NNI trial it reports each epoch's mean reward (``default``), policy entropy, shared-weight
accuracy and KL from uniform, and the derived architecture as the final result. Every epoch's policy heatmap
and cumulative sampling shares go to ``out/`` as PNG files and to ``out/tensorboard/``: under an NNI trial
that is the folder the web UI's TensorBoard button shows (``nni_plumbing/tensorboard.py``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

if __name__ == "__main__":  # the command line is checked before torch loads, so a wrong flag fails at once
    from strategies.search_cli import check_command_line

    check_command_line(sys.argv[1:])

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from nas_data.files import atomic_write  # noqa: E402

from .search_cli import CHECKPOINT, policy_checkpoint  # noqa: E402  (one name for the checks and the search)
from .sgd import sgd_cosine  # noqa: E402

# the policy budget's defaults, the same for every policy (measured in docs/search.md)
VAL_BATCH_SIZE, POLICY_STEPS, SAMPLES_PER_UPDATE = 16, 125, 4


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(1) == y).float().mean().item()


class WeightSharingSearch:
    """Parameters in ``__init__``; :meth:`run` trains (resuming from ``out/search_checkpoint.pt`` when
    it exists) and returns the result dict that is also written to ``out/result.json``.

    The policy's budget is the search's, the same for every policy: ``policy_steps`` updates an epoch (None: one
    pass over the validation split), each from ``samples_per_update`` architectures scored on one validation
    minibatch of ``val_batch_size`` images; ``baseline`` (``strategies.BASELINES``; None: the policy's own) is what
    each reward is compared with. ``holdout_set`` (the test split, say): the derived architecture is
    re-scored on it, data it was not selected on. ``shuffle_rewards`` trains the policy on the observed rewards
    in random order (the null run); ``null_twins`` copies of the policy always learn that way beside it, for
    the "learned" verdict (``strategies/drift.py``)."""

    def __init__(self, space, policy, train_set, val_set, *, out: str | os.PathLike, epochs: int = 10,
                 batch_size: int = 64, lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 3e-4,
                 grad_clip: float = 5.0, final_samples: int = 100, seed: int = 0, device: str = "cpu",
                 figures_every: int = 1, snapshot_epochs=(), probe_epoch: int | None = None, probe_k: int = 20,
                 val_batch_size: int = VAL_BATCH_SIZE, policy_steps: int | None = POLICY_STEPS,
                 samples_per_update: int = SAMPLES_PER_UPDATE, baseline: str | None = None, shuffle_rewards: bool = False,
                 null_twins: int = 2, holdout_set=None, init_policy: str | os.PathLike | None = None, report=None,
                 log=print):
        from . import check_baseline
        from .drift import NullTwins, RewardShuffler, drift
        from .supernet import Supernet

        if epochs < 1 or batch_size < 1 or final_samples < 1 or figures_every < 0:
            raise ValueError("epochs, batch_size and final_samples must be positive integers, figures_every >= 0")
        if val_batch_size < 1 or samples_per_update < 1 or (policy_steps is not None and policy_steps < 1) \
                or null_twins < 0:
            raise ValueError("val_batch_size, samples_per_update and policy_steps must be positive integers, "
                             "null_twins >= 0")
        if baseline is not None:  # the search's, like the budget: the same for every policy (and its twins)
            policy.hparams["baseline"] = check_baseline(baseline)
        self.figures_every = figures_every
        self.snapshot_epochs = sorted({int(e) for e in snapshot_epochs})
        if any(not 0 <= e < epochs for e in self.snapshot_epochs) or (
                probe_epoch is not None and not 0 <= probe_epoch < epochs) or probe_k < 1:
            raise ValueError(f"snapshot and probe epochs must lie in 0..{epochs - 1} and probe_k be positive")
        self.probe_epoch, self.probe_k = probe_epoch, probe_k
        self.snapshots: dict[int, dict] = {}  # epoch -> the derived architecture after it
        self.probe: list[dict] = []           # [{arch, reward}] sampled after probe_epoch
        self.space, self.policy, self.out = space, policy, Path(out)
        self.epochs, self.final_samples, self.grad_clip, self.seed = epochs, final_samples, grad_clip, seed
        self.report, self.log, self.device = report, log, torch.device(device)
        self.init_policy = None if init_policy is None else str(init_policy)
        if init_policy is not None:
            load_policy_parameters(policy, init_policy)
        self.initial_kl = drift(policy.probabilities(), policy.decisions)["mean_kl"]  # where the policy starts
        self.supernet = Supernet(space)
        torch.manual_seed(seed)  # the shared weights start from the seed, whatever RNG built the space
        for module in self.supernet.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        self.supernet.to(self.device)
        self.loader_rng = torch.Generator().manual_seed(seed)
        self.train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=self.loader_rng)
        self.val_loader = DataLoader(val_set, batch_size=val_batch_size, shuffle=True, generator=self.loader_rng)
        # derivation and probes: the whole split in a fixed order, so every candidate sees the same batches
        self.eval_loader = DataLoader(val_set, batch_size=batch_size, shuffle=False)
        self.holdout_loader = None if holdout_set is None else DataLoader(holdout_set, batch_size=batch_size)
        self.policy_steps = len(self.val_loader) if policy_steps is None else policy_steps
        self.samples_per_update, self.shuffle_rewards = samples_per_update, shuffle_rewards
        self.shuffler = RewardShuffler(seed)
        self.twins = NullTwins(policy, null_twins, seed) if null_twins else None
        self._weights = list(self.supernet.parameters())  # walking the supernet's modules each step is not free
        self.optimizer, self.scheduler = sgd_cosine(self._weights, lr, epochs * len(self.train_loader), momentum,
                                                    weight_decay)
        self.epoch, self.history = 0, []
        self.sampled: dict = {}  # label -> {candidate: times sampled for a training step}, cumulative
        self._drawing = self._writer = None

    @property
    def budget(self) -> dict:
        """What the policy gets, the same for every policy at the same settings."""
        steps = self.epochs * self.policy_steps
        return {"val_batch_size": self.val_loader.batch_size, "policy_steps_per_epoch": self.policy_steps,
                "samples_per_update": self.samples_per_update, "baseline": self.policy.hparams["baseline"],
                "policy_updates": steps,
                "reward_evaluations": steps * self.samples_per_update, "derivation_candidates": self.final_samples,
                "derivation_images": len(self.eval_loader.dataset),
                "holdout_images": len(self.holdout_loader.dataset) if self.holdout_loader else 0}

    # ------------------------------------------------------------------ steps
    def _train_epoch(self) -> float:
        self.supernet.train()
        losses = []
        archs = self.policy.sample_batch(len(self.train_loader))  # the policy stays put until the policy pass
        for (x, y), arch in zip(self.train_loader, archs):
            x, y = x.to(self.device), y.to(self.device)
            self._count(arch)
            self.supernet.use(arch)
            loss = torch.nn.functional.cross_entropy(self.supernet(x), y)
            self.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self._weights, self.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            losses.append(loss.item())
        return sum(losses) / len(losses)

    def _count(self, arch: dict) -> None:
        """Add a training step's architecture to the cumulative counts (keys as ``policy.probabilities``)."""
        active = set(self.space.active(arch))
        for d in self.policy.decisions:
            if d.label not in active:
                continue
            table, value = self.sampled.setdefault(d.label, {}), arch[d.label]
            keys = ([str(v) for v in value] if d.kind == "bernoulli" else
                    [",".join(map(str, value))] if d.kind == "subset" else [str(value)])
            for key in keys:
                table[key] = table.get(key, 0) + 1

    def _board(self):
        from nni_plumbing.tensorboard import summary_writer

        if self._writer is None:
            self._writer = summary_writer(self.out)
        return self._writer

    def _write_scalars(self, stats: dict) -> None:
        """The epoch's scalars and the policy's drift (mean and per decision) to TensorBoard, every epoch."""
        writer, epoch = self._board(), stats["epoch"]
        for key, value in stats.items():
            if isinstance(value, (int, float)) and key != "epoch":
                writer.add_scalar(f"search/{key}", value, epoch)
        drift = stats["drift"]
        for key in ("mean_kl", "mean_top", "conv_share"):
            if drift.get(key) is not None:
                writer.add_scalar(f"drift/{key}", drift[key], epoch)
        if stats.get("null_mean_kl"):
            writer.add_scalar("drift/null_mean_kl_max", max(stats["null_mean_kl"]), epoch)
        for label in drift["kl"]:
            writer.add_scalar(f"drift_kl/{label}", drift["kl"][label], epoch)
            writer.add_scalar(f"drift_top/{label}", drift["top"][label], epoch)
        writer.flush()

    def _draw(self, stats: dict) -> None:
        """This epoch's policy heatmap and the cumulative sampling counts (EDNAS Fig. 4 and 5) as PNG files,
        and both as TensorBoard images; done in a background thread (drawing costs about as much as a small
        epoch); the next call or the end of :meth:`run` waits for it."""
        from .heatmaps import draw_heatmap

        probs = self.policy.probabilities()
        tables = {d.label: {k: self.sampled.get(d.label, {}).get(k, 0) for k in d.keys} for d in self.policy.decisions}
        epoch, name = self.epoch - 1, f"{self.policy.name} on {self.space.name}, after epoch {self.epoch - 1}"
        writer = self._board()

        def draw():
            policy = draw_heatmap(probs, self.out / f"policy_epoch{epoch:03d}.png", f"policy probabilities, {name}")
            sampled = draw_heatmap(tables, self.out / f"sampled_epoch{epoch:03d}.png",
                                   f"cumulative sampling shares, {name}", normalise=True)
            writer.add_image("policy/probabilities", policy, epoch, dataformats="HWC")
            writer.add_image("policy/sampled_shares", sampled, epoch, dataformats="HWC")
            writer.flush()
        self._wait_for_drawing()
        self._drawing = threading.Thread(target=draw, daemon=True)
        self._drawing.start()

    def _wait_for_drawing(self) -> None:
        if self._drawing is not None:
            self._drawing.join()
            self._drawing = None

    @torch.no_grad()
    def _score(self, arch: dict, x, y) -> float:
        """Top-1 of ``arch`` on one minibatch with the shared weights. Batch norm uses the minibatch's
        statistics (callers put the supernet in training mode): running averages mix every sampled path
        and describe none of them."""
        self.supernet.use(arch)
        return accuracy(self.supernet(x), y)

    @torch.no_grad()
    def _score_split(self, arch: dict, loader) -> tuple[float, float]:
        """Top-1 and mean cross-entropy of ``arch`` over every batch of ``loader`` (see :meth:`_score`)."""
        self.supernet.use(arch)
        correct = loss = 0.0
        for x, y in loader:
            logits = self.supernet(x.to(self.device))
            y = y.to(self.device)
            correct += (logits.argmax(1) == y).sum().item()
            loss += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
        return correct / len(loader.dataset), loss / len(loader.dataset)

    def _val_batches(self):
        while True:
            yield from self.val_loader

    def _policy_epoch(self) -> dict:
        from .drift import drift

        self.supernet.train()  # batch statistics for the rewards, see _score
        rewards, entropies = [], []
        n, batches = self.samples_per_update, self._val_batches()
        for _ in range(self.policy_steps):
            x, y = next(batches)
            x, y = x.to(self.device), y.to(self.device)
            archs = self.policy.sample_batch(n)
            scores = [self._score(a, x, y) for a in archs]
            self.shuffler.observe(scores)
            stats = self.policy.update(archs, self.shuffler.draw(n) if self.shuffle_rewards else scores)
            if self.twins:
                self.twins.step(self.shuffler, n)
            rewards += scores
            entropies.append(stats["entropy"])
        return {"mean_reward": sum(rewards) / len(rewards), "entropy": sum(entropies) / len(entropies),
                "drift": drift(self.policy.probabilities(), self.policy.decisions),
                "null_mean_kl": [d["mean_kl"] for d in self.twins.drifts()] if self.twins else []}

    # ------------------------------------------------------------------ checkpoints
    def _save(self) -> None:
        state = {"epoch": self.epoch, "epochs": self.epochs, "history": self.history, "sampled": self.sampled,
                 "snapshots": self.snapshots, "probe": self.probe, "supernet": self.supernet.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "policy": self.policy.state(), "torch_rng": torch.get_rng_state(),
                 "loader_rng": self.loader_rng.get_state(), "shuffler": self.shuffler.state(),
                 "twins": self.twins.state() if self.twins else []}
        atomic_write(self.out / CHECKPOINT, lambda f: torch.save(state, f), binary=True)

    def _load(self) -> bool:
        path = self.out / CHECKPOINT
        if not path.exists():
            return False
        state = torch.load(path, weights_only=False, map_location="cpu")  # load_state_dict moves it
        if state["epochs"] != self.epochs:
            raise ValueError(f"{path} belongs to a search of {state['epochs']} epochs (its learning-rate schedule "
                             f"depends on it); pass --epochs {state['epochs']} to resume it, or another --out")
        self.supernet.load_state_dict(state["supernet"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.policy.load_state(state["policy"])
        torch.set_rng_state(state["torch_rng"])
        self.loader_rng.set_state(state["loader_rng"])
        self.epoch, self.history, self.sampled = state["epoch"], state["history"], state["sampled"]
        self.snapshots, self.probe = state.get("snapshots", {}), state.get("probe", [])
        if "shuffler" in state:
            self.shuffler.load_state(state["shuffler"])
        if self.twins and state.get("twins"):
            self.twins.load_state(state["twins"])
        self.log(f"[search] resumed from {path} after epoch {self.epoch}")
        return True

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        self.out.mkdir(parents=True, exist_ok=True)
        self._load()
        while self.epoch < self.epochs:
            started = time.time()
            train_loss = self._train_epoch()
            stats = {"epoch": self.epoch, "train_loss": train_loss, **self._policy_epoch(),
                     "seconds": time.time() - started}
            stats["shared_weight_accuracy"] = stats["mean_reward"]
            self.history.append(stats)
            if self.epoch in self.snapshot_epochs:
                self.snapshots[self.epoch] = self._best_of_samples(keep_candidates=False)
            if self.epoch == self.probe_epoch:
                self.probe = self._probe()
            self.epoch += 1
            self._save()
            self._write_scalars(stats)
            if self.figures_every and (self.epoch % self.figures_every == 0 or self.epoch == self.epochs):
                self._draw(stats)
            null = f", shuffled twins {max(stats['null_mean_kl']):.2e}" if stats["null_mean_kl"] else ""
            self.log(f"[search] epoch {stats['epoch']}: loss {train_loss:.3f}, mean reward {stats['mean_reward']:.3f}, "
                     f"policy entropy {stats['entropy']:.2f}, KL from uniform {stats['drift']['mean_kl']:.2e}{null} "
                     f"({stats['seconds']:.1f} s)")
            if self.report:
                self.report({"default": stats["mean_reward"], "entropy": stats["entropy"],
                             "shared_weight_accuracy": stats["shared_weight_accuracy"],
                             "kl_from_uniform": stats["drift"]["mean_kl"]}, final=False)
        try:
            return self.derive()
        finally:
            self._wait_for_drawing()
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def _best_of_samples(self, keep_candidates: bool = True) -> dict:
        """Sample ``final_samples`` architectures, score each on the whole validation split (top-1, ties broken
        by the lower cross-entropy), keep the best and re-score it on the holdout set when there is one."""
        self.supernet.train()  # batch statistics, see _score
        candidates = []
        for arch in self.policy.sample_batch(self.final_samples):
            score, loss = self._score_split(arch, self.eval_loader)
            candidates.append({"arch": arch, "score": score, "loss": loss})
        best = max(candidates, key=lambda c: (c["score"], -c["loss"]))
        found = {"arch": {k: best["arch"][k] for k in self.space.active(best["arch"])}, "score": best["score"],
                 "loss": best["loss"], "tied_at_top": sum(c["score"] == best["score"] for c in candidates),
                 "genotype": self.space.genotype(best["arch"])}
        if self.holdout_loader is not None:
            found["holdout_score"], found["holdout_loss"] = self._score_split(best["arch"], self.holdout_loader)
        return {**found, "candidates": candidates} if keep_candidates else found

    def _probe(self) -> list[dict]:
        """``probe_k`` architectures sampled from the policy, each scored with the shared weights on the whole
        validation split (Singh et al. 2019, Figure 1: does this reward predict the accuracy after retraining?)."""
        self.supernet.train()  # batch statistics, see _score
        probe = []
        for _ in range(self.probe_k):
            arch = self.policy.sample()
            probe.append({"arch": {k: arch[k] for k in self.space.active(arch)},
                          "reward": self._score_split(arch, self.eval_loader)[0]})
        return probe

    def derive(self) -> dict:
        """The final architecture (:meth:`_best_of_samples`), written with everything else to ``result.json``:
        the per-epoch history (drift included), the budget and the "learned" verdict."""
        from .drift import verdict

        best = self._best_of_samples()
        last = self.history[-1]
        result = {**best, "policy": self.policy.name, "space": self.space.name, "epochs": self.history,
                  "probabilities": self.policy.probabilities(), "seed": self.seed, "budget": self.budget,
                  "shuffle_rewards": self.shuffle_rewards, "init_policy": self.init_policy,
                  "initial_kl": self.initial_kl,
                  "verdict": verdict(last["drift"]["mean_kl"], last["null_mean_kl"], self.shuffle_rewards),
                  "snapshots": {str(e): v for e, v in self.snapshots.items()}, "probe": self.probe}
        text = json.dumps(result, indent=1)
        atomic_write(self.out / "result.json", lambda f: f.write(text + "\n"))
        if self.report:
            self.report({"default": best["score"], "arch": result["arch"],
                         "holdout_score": best.get("holdout_score"), "learned": result["verdict"]["learned"]},
                        final=True)
        return result


def load_policy_parameters(policy, path: str | os.PathLike) -> None:
    """Start ``policy`` from the parameters of the policy in the search checkpoint ``path`` (or a folder holding
    one); ``ValueError`` (one line) when there is none or it belongs to another policy or space."""
    path = policy_checkpoint(path)
    state = torch.load(path, weights_only=False, map_location="cpu")
    if not isinstance(state, dict) or "policy" not in state:
        raise ValueError(f"init_policy: {path} holds no policy state; give the {CHECKPOINT} of a search")
    try:
        policy.load_state(state["policy"], optimizer=False)
    except ValueError as exc:
        raise ValueError(f"init_policy: {exc}") from None


def _nni_report(values: dict, final: bool) -> None:
    import nni
    (nni.report_final_result if final else nni.report_intermediate_result)(values)


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (``strategies/search_cli.py``, which needs no torch)."""
    from .search_cli import build_parser as parser

    return parser()


def main(argv=None) -> int:
    from nas_data.images import load_images
    from nas_data.tabular import DataError
    from nni_spaces import make_space

    from . import make_policy
    from .search_cli import check_args, record_settings, usable_device

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.nni:
        import nni

        from nni_plumbing import mixup

        mixup.install()  # train the parameters NNI recorded for this trial id
        args.seed = int(nni.get_next_parameter().get("seed", args.seed))
        args.out = args.out or os.environ.get("NNI_OUTPUT_DIR")
    if not args.out:
        parser.error("--out is required outside an NNI trial")
    try:
        check_args(args)
        device = usable_device(args.device)
        data = load_images(args.data, seed=args.seed, data_dir=args.data_dir)
        shape = dict(in_channels=data.shape[0], num_classes=data.num_classes, width=args.width)
        if args.space == "enas-macro":
            space = make_space(args.space, num_layers=args.cells, **shape)
        else:
            space = make_space(args.space, num_cells=args.cells, image_size=data.shape[1], **shape)
        policy = make_policy(args.policy, space, seed=args.seed)
        train, val, test = data.datasets()
        search = WeightSharingSearch(space, policy, train, val, out=args.out, epochs=args.epochs,
                                     batch_size=args.batch_size, final_samples=args.final_samples, seed=args.seed,
                                     device=device, figures_every=args.figures_every,
                                     val_batch_size=args.val_batch_size, policy_steps=args.policy_steps,
                                     samples_per_update=args.samples_per_update, baseline=args.baseline,
                                     shuffle_rewards=args.shuffle_rewards,
                                     null_twins=args.null_twins, holdout_set=test, init_policy=args.init_policy,
                                     report=_nni_report if args.nni else None)
        record_settings(args)
        result = search.run()
    except (ValueError, DataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"score": result["score"], "holdout_score": result.get("holdout_score"),
                      "verdict": result["verdict"]["text"], "genotype": result["genotype"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
