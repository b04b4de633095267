"""Experiment trackers (``training.report_to``): the Trainer's own integrations, set up for a run folder.

The Trainer logs to them (transformers' ``report_to``); TuneDeck only names what can be asked for, refuses
a tracker whose package is missing before anything is written, and puts each one's files where a run's
files live::

    report_to: [tensorboard, wandb]
    # runs/<run>/tensorboard/  (so `tensorboard --logdir runs` shows every run)
    # runs/<run>/wandb/        (W&B offline unless WANDB_MODE is set; `wandb sync` uploads it later)

The run name each tracker shows is the run folder's name.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .errors import ConfigError

TENSORBOARD_DIR = "tensorboard"  # in the run folder
WANDB_DIR = "wandb"

# The tracker's name in transformers' report_to -> (the module it needs, how to install it).
TRACKERS: dict[str, tuple[str, str]] = {
    "tensorboard": ("tensorboard", "pip install 'tunedeck[tensorboard]'"),
    "wandb": ("wandb", "pip install 'tunedeck[wandb]'"),
    "mlflow": ("mlflow", "pip install 'tunedeck[mlflow]'"),
    "trackio": ("trackio", "pip install 'tunedeck[trackio]'"),
    "comet_ml": ("comet_ml", "pip install comet_ml"),
    "neptune": ("neptune", "pip install neptune"),
    "clearml": ("clearml", "pip install clearml"),
    "dvclive": ("dvclive", "pip install dvclive"),
    "swanlab": ("swanlab", "pip install swanlab"),
    "codecarbon": ("codecarbon", "pip install codecarbon"),
}

_SET_BY_US: dict[str, str] = {}  # environment variables this module set (a later run may set them again)


def installed(name: str) -> bool:
    module = TRACKERS[name][0]
    if name == "tensorboard":  # transformers' TensorBoardCallback takes either
        return importlib.util.find_spec("tensorboard") is not None or importlib.util.find_spec("tensorboardX") is not None
    return importlib.util.find_spec(module) is not None


def check_installed(cfg) -> None:
    """ConfigError naming the first tracker in ``training.report_to`` whose package is not installed, with the pip command."""
    for name in cfg.training.report_to:
        if not installed(name):
            raise ConfigError([("training.report_to", f"{name} is not installed; install it with: {TRACKERS[name][1]} "
                                                      "(or remove it from the list)")])


def report_to(cfg) -> list[str] | str:
    """What TrainingArguments' ``report_to`` gets: the configured trackers, or "none"."""
    return list(cfg.training.report_to) or "none"


def _set_env(key: str, value: str) -> None:
    """Set ``key`` unless the user did (a value this module set before counts as ours, not the user's)."""
    if key in os.environ and _SET_BY_US.get(key) != os.environ[key]:
        return
    os.environ[key] = value
    _SET_BY_US[key] = value


def place_logs(trainer, run_dir: Path) -> None:
    """Point the trainer's tracker callbacks at ``run_dir``: TensorBoard's event files in ``tensorboard/``,
    W&B's offline files in ``wandb/`` (and offline, unless the user set WANDB_MODE)."""
    for cb in trainer.callback_handler.callbacks:
        kind = type(cb).__name__
        if kind == "TensorBoardCallback" and not os.environ.get("TENSORBOARD_LOGGING_DIR"):
            cb.logging_dir = str(Path(run_dir) / TENSORBOARD_DIR)
        elif kind == "WandbCallback":
            _set_env("WANDB_MODE", "offline")
            _set_env("WANDB_DIR", str(run_dir))  # wandb makes its wandb/ folder inside
