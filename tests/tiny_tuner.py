"""A tiny custom NNI tuner for the web UI test: hands out random MLP architectures with their web UI labels
(nni_plumbing.labels), seeded, so the trial table and the hyper-parameter view show what a real search shows."""
import random

from nni.tuner import Tuner

from nni_plumbing import labels

UNITS = (8, 16, 32, 64, 128)
ACTIVATIONS = ("relu", "tanh", "elu", "sigmoid")


class TinyTuner(Tuner):
    def __init__(self, seed: int = 0, n_features: int = 64, n_classes: int = 10):
        self.rng = random.Random(seed)
        self.n_features, self.n_classes = n_features, n_classes

    def update_search_space(self, search_space):
        pass

    def generate_parameters(self, parameter_id, **kwargs):
        layers = [[self.rng.choice(UNITS), self.rng.choice(ACTIVATIONS)] if self.rng.random() > 0.2 else "dropout"
                  for _ in range(self.rng.randint(1, 4))]
        arch = {"layers": layers}
        return {"x": parameter_id, "arch": arch, **labels.mlp(arch, self.n_features, self.n_classes)}

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        pass
