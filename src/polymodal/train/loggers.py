"""Experiment trackers of a training run: ``train.loggers: [csv, tensorboard, mlflow]``.

Each name is one of Lightning's loggers, writing inside the run directory unless told otherwise:

===============  ==========================================================================
``csv``          ``logs/csv/metrics.csv``, one row per epoch
``tensorboard``  ``logs/tensorboard/events.out.tfevents.*`` (``tensorboard --logdir RUN/logs``)
``mlflow``       a run of the experiment named after the config (``name``, else ``polymodal``)
                 at ``train.tracking_uri``, default ``sqlite:///RUN/mlflow.db`` (MLflow's
                 file store is deprecated); its id is kept in ``logs/mlflow_run_id``, so a
                 resumed training logs into the same MLflow run
===============  ==========================================================================

The config is logged as hyperparameters (flattened, ``train.lr``). ``logs/metrics.jsonl``
(:class:`polymodal.train.callbacks.MetricsHistory`) is written whatever this says. The
trackers need the ``trackers`` extra (``pip install 'polymodal[trackers]'``): a missing one is
a clear error before training starts.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polymodal.errors import PolymodalError
from polymodal.rundir.layout import LOGS_DIR

if TYPE_CHECKING:
    from polymodal.config import ExperimentConfig, TrainConfig

MLFLOW_DB = "mlflow.db"
MLFLOW_RUN_ID = "mlflow_run_id"
"""File in ``logs/`` holding the MLflow run id of a run directory."""

_NEEDS = {"tensorboard": "tensorboard", "mlflow": "mlflow"}
"""Logger name -> the package it needs."""


def require(name: str) -> None:
    """Raise a clear error when the package of tracker ``name`` is not installed."""
    package = _NEEDS.get(name)
    if package is not None and importlib.util.find_spec(package) is None:
        raise PolymodalError(
            f"the {name} tracker needs the {package} package, which is not installed",
            where="train.loggers",
            fix=f"pip install 'polymodal[trackers]' (or {package}), or remove {name} from "
            "train.loggers",
        )


def sqlite_uri(folder: str | Path) -> str:
    """``sqlite:///<folder>/mlflow.db`` (absolute): MLflow's default store here."""
    return f"sqlite:///{(Path(folder) / MLFLOW_DB).resolve()}"


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.1}}`` -> ``{"train.lr": 0.1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out |= flatten(value, name + ".")
        else:
            out[name] = value
    return out


def _csv(run_dir: Path, experiment: str, uri: str | None) -> Any:
    from lightning.pytorch.loggers import CSVLogger

    return CSVLogger(run_dir / LOGS_DIR, name="", version="csv")


def _tensorboard(run_dir: Path, experiment: str, uri: str | None) -> Any:
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(run_dir / LOGS_DIR, name="", version="tensorboard")


def _mlflow(run_dir: Path, experiment: str, uri: str | None) -> Any:
    from lightning.pytorch.loggers import MLFlowLogger

    id_file = run_dir / LOGS_DIR / MLFLOW_RUN_ID
    run_id = id_file.read_text(encoding="utf-8").strip() if id_file.is_file() else None
    logger = MLFlowLogger(
        experiment_name=experiment,
        run_name=run_dir.name,
        tracking_uri=uri or sqlite_uri(run_dir),
        artifact_location=(run_dir / "mlartifacts").resolve().as_uri(),
        run_id=run_id,
    )
    if logger.run_id:  # creates the run (on rank 0; other ranks log nothing)
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(logger.run_id + "\n", encoding="utf-8")
    return logger


LOGGERS: dict[str, Callable[[Path, str, str | None], Any]] = {
    "csv": _csv,
    "tensorboard": _tensorboard,
    "mlflow": _mlflow,
}
"""Name -> ``factory(run_dir, experiment name, tracking URI)`` of a Lightning logger."""


def make_loggers(
    names: list[str],
    run_dir: str | Path,
    *,
    experiment: str = "polymodal",
    tracking_uri: str | None = None,
    hyperparameters: dict[str, Any] | None = None,
) -> list[Any]:
    """The Lightning loggers of ``names`` for ``run_dir``, hyperparameters logged.

    Raises:
        PolymodalError: a tracker whose package is missing.
    """
    for name in names:
        require(name)
    loggers = [LOGGERS[name](Path(run_dir), experiment, tracking_uri) for name in names]
    if hyperparameters:
        flat = flatten(hyperparameters)
        for logger in loggers:
            logger.log_hyperparams(flat)
    return loggers


def loggers_of(config: ExperimentConfig, cfg: TrainConfig, run_dir: str | Path) -> list[Any]:
    """The loggers of ``cfg.loggers`` (the training loop ``cfg`` of ``config``) for a run
    directory: experiment named after the config, the config as hyperparameters."""
    if not cfg.loggers:
        return []
    from polymodal.config import config_to_dict

    return make_loggers(
        list(cfg.loggers),
        run_dir,
        experiment=config.name or "polymodal",
        tracking_uri=cfg.tracking_uri,
        hyperparameters=config_to_dict(config),
    )
