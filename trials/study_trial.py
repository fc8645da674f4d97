"""The trial of every study (``studies/tuner.py``): one job from the tuner, either a weight-sharing
search or the retraining of one architecture from scratch, reported to NNI with what it really ran.

Parameters (JSON from the tuner; ``job`` and ``kind`` pick the work):

- ``{"job": 3, "kind": "search", "space": {"name", "args"}, "policy": "ednas", "seed": 0, "data": {...},
  "search": {"epochs", "batch_size", "final_samples", "val_batch_size", "policy_steps", "samples_per_update",
  "snapshot_epochs", "probe_epoch", "probe_k", "init_policy"}, "tag": {...}}`` reports ``{"default": final score,
  "job", "kind", "arch", "snapshots", "probe", "budget", "holdout_score", "tied_at_top", "learned", "verdict",
  "final_kl", "initial_kl", "reward_curve", "checkpoint", "tag"}`` (``checkpoint``: the search's own, whose policy
  a controller transfer starts from);
- ``{"job": 7, "kind": "retrain", "space": {...}, "arch": {...}, "seed": 0, "data": {...},
  "train": {"epochs", "batch_size", "lr", "cutout", "drop_path", "auxiliary"}}`` reports each epoch's
  validation accuracy and ``{"default": val_acc, "job", "kind", "arch", "test_acc", "protocol", ...}``.

``data`` is ``{"name": "digits", "data_dir": null, "threads": 1}``; ``threads`` caps torch's CPU threads
(cores / trialConcurrency).
"""
from __future__ import annotations

import os
import sys
import tempfile


def run_job(params: dict, report_epoch=None, out: str | None = None) -> dict:
    """Run one job; returns the final result dict (``default`` is the value NNI optimises and plots)."""
    import torch

    from nas_data.images import load_images
    from nni_spaces import make_space

    data_spec = params["data"]
    torch.set_num_threads(int(data_spec.get("threads") or torch.get_num_threads()))
    seed = int(params["seed"])
    data = load_images(data_spec["name"], seed=seed, data_dir=data_spec.get("data_dir"))
    shape = dict(in_channels=data.shape[0], num_classes=data.num_classes)
    if params["space"]["name"] != "enas-macro":
        shape["image_size"] = data.shape[1]
    space_args = {**params["space"]["args"], **shape}
    base = {"job": params["job"], "kind": params["kind"], "seed": seed, "space": params["space"]["name"]}
    if params["kind"] == "search":
        from strategies import make_policy
        from strategies.search import CHECKPOINT, WeightSharingSearch

        space = make_space(params["space"]["name"], **space_args)
        policy = make_policy(params["policy"], space, seed=seed)
        train, val, test = data.datasets()
        options = dict(params["search"])
        out = out or tempfile.mkdtemp()
        # the winner is re-scored with the shared weights on the test split, data it was not selected on
        search = WeightSharingSearch(space, policy, train, val, out=out, seed=seed,
                                     holdout_set=test,
                                     report=(lambda values, final: final or report_epoch(values["default"]))
                                     if report_epoch else None, **options)
        result = search.run()
        return {**base, "default": result["score"], "policy": params["policy"], "arch": result["arch"],
                "snapshots": result["snapshots"], "probe": result["probe"], "budget": result["budget"],
                "holdout_score": result.get("holdout_score"), "tied_at_top": result["tied_at_top"],
                "learned": result["verdict"]["learned"], "verdict": result["verdict"]["text"],
                "final_kl": result["verdict"]["mean_kl"], "initial_kl": result["initial_kl"],
                "reward_curve": [e["mean_reward"] for e in result["epochs"]],
                "checkpoint": os.path.abspath(os.path.join(out, CHECKPOINT)), "data": data_spec["name"],
                "tag": params.get("tag", {})}
    if params["kind"] == "retrain":
        from .train_arch import train_architecture

        train = dict(params["train"])
        if train.get("auxiliary"):
            space_args["auxiliary"] = True
        space = make_space(params["space"]["name"], **space_args)
        arch = space.check(params["arch"])
        result = train_architecture(space, arch, data, seed=seed, report=report_epoch,
                                    device="cuda" if torch.cuda.is_available() else "cpu", **train)
        return {**base, "default": result["val_acc"], "arch": params["arch"], "tag": params.get("tag", {}),
                **result}
    raise ValueError(f"unknown job kind {params['kind']!r}; expected search or retrain")


def main() -> int:
    from nni_plumbing import faults
    faults.inject()  # no-op unless tests/test_faults.py planned a fault for this trial
    from nni_plumbing import mixup

    mixup.install()  # train the parameters NNI recorded for this trial id (NNI 3.0 can hand out another's)
    import nni

    params = nni.get_next_parameter()
    if params.get("kind") == "skip":
        return 0  # stands in for a retraining whose search failed (studies/tuner.py)
    result = run_job(params, report_epoch=nni.report_intermediate_result, out=os.environ.get("NNI_OUTPUT_DIR"))
    nni.report_final_result(result)
    return 0


if __name__ == "__main__":
    from nni_plumbing import warm_start

    code = warm_start.delegate("trials.study_trial:main", warm_start.process_started())
    sys.exit(main() if code is None else code)
