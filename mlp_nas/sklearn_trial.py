"""The trial of ``configs/sklearn_tpe.yml``: scikit-learn's MLPClassifier with TPE's hyperparameters.

``python -m mlp_nas.sklearn_trial --dataset digits --seed 0`` fits on the training split and
reports the validation accuracy; the final dict also echoes the hyperparameters it really used.
"""
from __future__ import annotations

import argparse
import sys
import time

from nni_plumbing import warm_start


def main(argv=None) -> int:
    from nni_plumbing import faults
    faults.inject()  # no-op unless tests/test_faults.py planned a fault for this trial
    from nni_plumbing import mixup

    mixup.install()  # train the parameters NNI recorded for this trial id (NNI 3.0 can hand out another's)
    started_process = warm_start.process_started()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--label")
    parser.add_argument("--drop", nargs="*", default=[])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads for the fit (cores / trialConcurrency; more oversubscribes the CPU)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")

    import nni

    from nas_data.tabular import DataError, DatasetSpec, cached_split, default_cache_dir, read_split

    from .sklearn_mlp import fit_score

    params = nni.get_next_parameter() or {}
    try:
        split = read_split(cached_split(DatasetSpec.parse(args.dataset, args.label, args.drop), args.seed,
                                        default_cache_dir()))
    except DataError as exc:
        print(f"sklearn_trial: {exc}", file=sys.stderr)
        return 2
    from threadpoolctl import threadpool_limits

    started = time.time()
    with threadpool_limits(args.threads):  # two trials x two BLAS threads on two cores fit ~4x slower
        acc = fit_score(params, split.x_train, split.y_train, split.x_val, split.y_val, args.seed)
    now = time.time()
    nni.report_final_result({"default": acc, "method": "sklearn_tpe", "hyperparameters": params,
                             "startup_s": started - started_process, "train_s": now - started,
                             "wall_s": now - started_process})
    return 0


if __name__ == "__main__":
    code = warm_start.delegate("mlp_nas.sklearn_trial:main", warm_start.process_started())
    sys.exit(main() if code is None else code)
