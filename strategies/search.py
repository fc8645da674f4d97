"""Weight-sharing search with any policy over any space, checkpointed every epoch and resumable.

Each epoch: one pass over the training split updating the shared weights, a new sampled path every
step (SGD, lr 0.05 cosine, Nesterov momentum 0.9, weight decay 3e-4, gradient-norm clip 5, as EDNAS);
then one pass over the validation split updating the policy, each update from
``policy.hparams["samples_per_update"]`` architectures scored (top-1) on the current validation
minibatch. The final architecture: ``final_samples`` (100) sampled, each scored on one validation
minibatch with the shared weights, the best kept (EDNAS section 3.4); all of them saved with scores.
For the studies (``studies/tuner.py``): ``snapshot_epochs`` derive the same way after those epochs too
(the best architecture by shared-weight reward at the first epoch, say), and ``probe_epoch`` /
``probe_k`` sample K architectures after that epoch and score each on the whole validation split.

    python -m strategies.search --space ednas-cell --policy ednas --data digits --epochs 3 --out results/s1

Run as an NNI trial it reports each epoch's mean reward (``default``), policy entropy and shared-weight
accuracy, and the derived architecture as the final result. Every epoch's policy heatmap and cumulative
sampling shares go to ``out/`` as PNG files and, with the epoch's scalars, to ``out/tensorboard/``: under
an NNI trial that is the folder the web UI's TensorBoard button shows (``nni_plumbing/tensorboard.py``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from nas_data.files import atomic_write

CHECKPOINT = "search_checkpoint.pt"


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(1) == y).float().mean().item()


class WeightSharingSearch:
    """Parameters in ``__init__``; :meth:`run` trains (resuming from ``out/search_checkpoint.pt`` when
    it exists) and returns the result dict that is also written to ``out/result.json``."""

    def __init__(self, space, policy, train_set, val_set, *, out: str | os.PathLike, epochs: int = 10,
                 batch_size: int = 64, lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 3e-4,
                 grad_clip: float = 5.0, final_samples: int = 100, seed: int = 0, device: str = "cpu",
                 figures_every: int = 1, snapshot_epochs=(), probe_epoch: int | None = None, probe_k: int = 20,
                 report=None, log=print):
        from .supernet import Supernet

        if epochs < 1 or batch_size < 1 or final_samples < 1 or figures_every < 0:
            raise ValueError("epochs, batch_size and final_samples must be positive integers, figures_every >= 0")
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
        self.supernet = Supernet(space)
        torch.manual_seed(seed)  # the shared weights start from the seed, whatever RNG built the space
        for module in self.supernet.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        self.supernet.to(self.device)
        self.loader_rng = torch.Generator().manual_seed(seed)
        self.train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=self.loader_rng)
        self.val_loader = DataLoader(val_set, batch_size=batch_size, shuffle=True, generator=self.loader_rng)
        self._weights = list(self.supernet.parameters())  # walking the supernet's modules costs ~6 ms a step
        self.optimizer = torch.optim.SGD(self._weights, lr=lr, momentum=momentum, nesterov=True,
                                         weight_decay=weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, epochs * len(self.train_loader))
        self.epoch, self.history = 0, []
        self.sampled: dict = {}  # label -> {candidate: times sampled for a training step}, cumulative
        self._drawing = self._writer = None

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

    def _draw(self, stats: dict) -> None:
        """This epoch's policy heatmap and the cumulative sampling counts (EDNAS Fig. 4 and 5) as PNG files,
        and both with the epoch's scalars as TensorBoard images and scalars; done in a background thread
        (drawing costs about as much as a small epoch); the next call or the end of :meth:`run` waits for it."""
        from nni_plumbing.tensorboard import summary_writer

        from .heatmaps import draw_heatmap

        probs = self.policy.probabilities()
        tables = {d.label: {k: self.sampled.get(d.label, {}).get(k, 0) for k in d.keys} for d in self.policy.decisions}
        epoch, name = self.epoch - 1, f"{self.policy.name} on {self.space.name}, after epoch {self.epoch - 1}"
        scalars = {k: v for k, v in stats.items() if k != "epoch"}

        def draw():
            policy = draw_heatmap(probs, self.out / f"policy_epoch{epoch:03d}.png", f"policy probabilities, {name}")
            sampled = draw_heatmap(tables, self.out / f"sampled_epoch{epoch:03d}.png",
                                   f"cumulative sampling shares, {name}", normalise=True)
            if self._writer is None:
                self._writer = summary_writer(self.out)
            for key, value in scalars.items():
                self._writer.add_scalar(f"search/{key}", value, epoch)
            self._writer.add_image("policy/probabilities", policy, epoch, dataformats="HWC")
            self._writer.add_image("policy/sampled_shares", sampled, epoch, dataformats="HWC")
            self._writer.flush()
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

    def _policy_epoch(self) -> dict:
        self.supernet.train()  # batch statistics for the rewards, see _score
        rewards, entropies = [], []
        n = self.policy.hparams["samples_per_update"]
        for x, y in self.val_loader:
            x, y = x.to(self.device), y.to(self.device)
            archs = self.policy.sample_batch(n)
            scores = [self._score(a, x, y) for a in archs]
            stats = self.policy.update(archs, scores)
            rewards += scores
            entropies.append(stats["entropy"])
        return {"mean_reward": sum(rewards) / len(rewards), "entropy": sum(entropies) / len(entropies)}

    # ------------------------------------------------------------------ checkpoints
    def _save(self) -> None:
        state = {"epoch": self.epoch, "epochs": self.epochs, "history": self.history, "sampled": self.sampled,
                 "snapshots": self.snapshots, "probe": self.probe, "supernet": self.supernet.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "policy": self.policy.state(), "torch_rng": torch.get_rng_state(),
                 "loader_rng": self.loader_rng.get_state()}
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
            if self.figures_every and (self.epoch % self.figures_every == 0 or self.epoch == self.epochs):
                self._draw(stats)
            self.log(f"[search] epoch {stats['epoch']}: loss {train_loss:.3f}, mean reward {stats['mean_reward']:.3f}, "
                     f"policy entropy {stats['entropy']:.2f} ({stats['seconds']:.1f} s)")
            if self.report:
                self.report({"default": stats["mean_reward"], "entropy": stats["entropy"],
                             "shared_weight_accuracy": stats["shared_weight_accuracy"]}, final=False)
        try:
            return self.derive()
        finally:
            self._wait_for_drawing()
            if self._writer is not None:
                self._writer.close()

    def _best_of_samples(self, keep_candidates: bool = True) -> dict:
        """Sample ``final_samples`` architectures, score each on one validation minibatch, keep the best."""
        x, y = next(iter(DataLoader(self.val_loader.dataset, batch_size=self.val_loader.batch_size, shuffle=False)))
        x, y = x.to(self.device), y.to(self.device)
        self.supernet.train()  # batch statistics, see _score
        candidates = [{"arch": arch, "score": self._score(arch, x, y)}
                      for arch in self.policy.sample_batch(self.final_samples)]
        best = max(candidates, key=lambda c: c["score"])
        found = {"arch": {k: best["arch"][k] for k in self.space.active(best["arch"])}, "score": best["score"],
                 "genotype": self.space.genotype(best["arch"])}
        return {**found, "candidates": candidates} if keep_candidates else found

    def _probe(self) -> list[dict]:
        """``probe_k`` architectures sampled from the policy, each scored with the shared weights on the whole
        validation split (seed 000 Figure 1: does this reward predict the accuracy after retraining?)."""
        self.supernet.train()  # batch statistics, see _score
        loader = DataLoader(self.val_loader.dataset, batch_size=self.val_loader.batch_size, shuffle=False)
        probe = []
        for _ in range(self.probe_k):
            arch = self.policy.sample()
            correct = sum(self._score(arch, x.to(self.device), y.to(self.device)) * len(y) for x, y in loader)
            probe.append({"arch": {k: arch[k] for k in self.space.active(arch)},
                          "reward": correct / len(loader.dataset)})
        return probe

    def derive(self) -> dict:
        """The final architecture (:meth:`_best_of_samples`), written with everything else to ``result.json``."""
        best = self._best_of_samples()
        result = {**best, "policy": self.policy.name, "space": self.space.name, "epochs": self.history,
                  "probabilities": self.policy.probabilities(), "seed": self.seed,
                  "snapshots": {str(e): v for e, v in self.snapshots.items()}, "probe": self.probe}
        text = json.dumps(result, indent=1)
        atomic_write(self.out / "result.json", lambda f: f.write(text + "\n"))
        if self.report:
            self.report({"default": best["score"], "arch": result["arch"]}, final=True)
        return result


def _nni_report(values: dict, final: bool) -> None:
    import nni
    (nni.report_final_result if final else nni.report_intermediate_result)(values)


def build_parser() -> argparse.ArgumentParser:
    from nas_data.images import IMAGE_DATASETS
    from nni_spaces import SPACES

    from . import POLICY_CLASSES

    parser = argparse.ArgumentParser(prog="python -m strategies.search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", choices=list(SPACES), default="ednas-cell")
    parser.add_argument("--policy", choices=list(POLICY_CLASSES), default="ednas")
    parser.add_argument("--data", choices=list(IMAGE_DATASETS), default="digits")
    parser.add_argument("--data-dir", help="folder holding CIFAR in torchvision's layout")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--cells", type=int, default=5, help="cells (cell spaces) or layers (enas-macro)")
    parser.add_argument("--final-samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figures-every", type=int, default=1, metavar="N",
                        help="heatmaps and TensorBoard every N epochs and after the last (0: never; each costs ~1 s "
                        "of CPU in a background thread)")
    parser.add_argument("--device", help="torch device for the supernet (default: cuda when torch sees one, else cpu)")
    parser.add_argument("--out", help="folder for the checkpoint and result.json (resumes from it); "
                        "default under an NNI trial: its output folder")
    parser.add_argument("--nni", action="store_true", help="run as an nnictl trial: take 'seed' from the trial's "
                        "parameters (a grid over seeds repeats the search), report every epoch to NNI")
    return parser


def main(argv=None) -> int:
    from nas_data.images import load_images
    from nas_data.tabular import DataError
    from nni_spaces import make_space

    from . import make_policy

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.nni:
        import nni
        args.seed = int(nni.get_next_parameter().get("seed", args.seed))
        args.out = args.out or os.environ.get("NNI_OUTPUT_DIR")
    if not args.out:
        parser.error("--out is required outside an NNI trial")
    try:
        data = load_images(args.data, seed=args.seed, data_dir=args.data_dir)
        shape = dict(in_channels=data.shape[0], num_classes=data.num_classes, width=args.width)
        if args.space == "enas-macro":
            space = make_space(args.space, num_layers=args.cells, **shape)
        else:
            space = make_space(args.space, num_cells=args.cells, image_size=data.shape[1], **shape)
        policy = make_policy(args.policy, space, seed=args.seed)
        train, val, _ = data.datasets()
        search = WeightSharingSearch(space, policy, train, val, out=args.out, epochs=args.epochs,
                                     batch_size=args.batch_size, final_samples=args.final_samples, seed=args.seed,
                                     device=args.device or ("cuda" if torch.cuda.is_available() else "cpu"),
                                     figures_every=args.figures_every,
                                     report=_nni_report if args.nni else None)
        result = search.run()
    except (ValueError, DataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"score": result["score"], "genotype": result["genotype"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
