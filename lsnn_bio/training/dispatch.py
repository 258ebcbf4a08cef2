"""Which outer loop trains an experiment: chosen by its task (classification, regression or closed-loop control)."""

from .trainer import Trainer

OUTER_LOOPS = {
    "function_regression": ("regression", "RegressionTrainer"),
    "meta_rl_navigation": ("actor_critic", "ActorCriticTrainer"),
}


def trainer_class(experiment):
    """The trainer class for ``experiment``: same constructor and ``run()`` as ``Trainer``."""
    import importlib

    module, name = OUTER_LOOPS.get(experiment.config["task"]["name"], (None, None))
    if module is None:
        return Trainer
    return getattr(importlib.import_module(f".{module}", __package__), name)
