"""A trivial NNI trial for tests/test_mixup.py and tests/test_webui_browser.py: reports the parameters it
trained, after installing :mod:`nni_plumbing.mixup` when run with ``--fix``. A short random pause first makes
the two trials NNI starts together ask for their parameters in either order, as real trials do. It runs in the
test's warm server (:mod:`nni_plumbing.warm_start`) so that a trial does not spend seconds importing NNI's
dependencies."""
import os
import sys
import time


def main() -> int:
    import nni

    if "--fix" in sys.argv:
        from nni_plumbing.mixup import install

        install()
    time.sleep(int.from_bytes(os.urandom(2), "big") / 65536 * 0.4)  # os.urandom: forked children share random's state
    params = nni.get_next_parameter()
    score = 0.5 + (params["x"] % 10) / 20  # a made-up accuracy
    for epoch in range(1, 4):
        nni.report_intermediate_result({"default": score * epoch / 3, "x": params["x"]})
    nni.report_final_result({"default": score, "x": params["x"], "parameter_id": nni.trial._params["parameter_id"],
                             "architecture": params.get("architecture", "")})
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nni_plumbing.warm_start import delegate

    code = delegate("tests.mixup_trial:main", time.time())
    sys.exit(main() if code is None else code)
