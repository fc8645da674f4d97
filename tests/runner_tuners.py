"""Tuners that misbehave on purpose, run by NNI as an experiment's tuner in tests/test_runner.py."""
import os
from pathlib import Path

from nni import NoMoreTrialError
from nni.tuner import Tuner

from nas_data.files import atomic_write
from nni_plumbing.tuner_watch import ERROR_FILE


class _Base(Tuner):
    def __init__(self, **_):
        pass

    def update_search_space(self, search_space):
        pass

    def generate_parameters(self, parameter_id, **kwargs):
        return {"x": parameter_id}

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        pass


class RaisingTuner(_Base):
    """Does not use the project's tuner base; raises when NNI hands it the search space, as the MLP NAS
    tuner did on a CSV path that did not resolve in the dispatcher's folder."""

    def update_search_space(self, search_space):
        raise FileNotFoundError("no such file: data/missing.csv")


class RaisingInitTuner(_Base):
    """Its constructor raises: NNI's dispatcher process exits before it connects."""

    def __init__(self, **_):
        raise ValueError("bad classArgs: depth must be positive")


class ErrorFileTuner(_Base):
    """Writes the one-line error file as the project's tuner base does, and raises nothing NNI would log."""

    def update_search_space(self, search_space):
        folder = Path(os.environ["NNI_CHECKPOINT_DIRECTORY"])
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / ERROR_FILE, lambda f: f.write("DataError: label column 'quality' not found\n"))

    def generate_parameters(self, parameter_id, **kwargs):
        raise NoMoreTrialError("waiting")


class NoTrialTuner(_Base):
    """Never hands out a trial: NNI sits in TUNER_NO_MORE_TRIAL with nothing running."""

    def generate_parameters(self, parameter_id, **kwargs):
        raise NoMoreTrialError("nothing to hand out")
