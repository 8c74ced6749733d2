"""polymodal: build, train and evaluate multimodal models.

The public API, for scripts and notebooks (see ``docs/python.md``)::

    import polymodal as pm

    config = pm.load_config("configs/synthetic-concat.yaml", ["train.max_epochs=2"])
    result = pm.train_experiment(config, "runs/concat")     # run dir + best validation metrics
    evaluation = pm.evaluate_run("runs/concat")             # metrics with intervals, report.md

Every name is imported on first use, so ``import polymodal`` stays light (no torch): the
table :data:`_EXPORTS` maps each public name to the module that defines it. Training is
``train_experiment`` because ``polymodal.train`` is the training package.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> the module that defines it. The one place to update when a module moves.
_EXPORTS: dict[str, str] = {
    # configuration
    "ExperimentConfig": "polymodal.config",
    "load_config": "polymodal.config",
    "parse_config": "polymodal.config",
    # models
    "build_model": "polymodal.models.builder",
    "MultimodalModel": "polymodal.models.multimodal",
    # training and trained runs
    "train_experiment": "polymodal.train.run",
    "TrainResult": "polymodal.train.run",
    "load_trained": "polymodal.rundir.load",
    # evaluation
    "evaluate_run": "polymodal.evaluate.run",
    "EvaluationOptions": "polymodal.evaluate.run",
    "EvaluationResult": "polymodal.evaluate.run",
    "evaluate_predictions": "polymodal.evaluate.external",
    "compare_runs": "polymodal.evaluate.compare",
    # benchmarks
    "BenchSpec": "polymodal.bench.spec",
    "load_spec": "polymodal.bench.cells",
    "default_spec": "polymodal.bench.cells",
    "run_benchmark": "polymodal.bench.runner",
    "run_and_report": "polymodal.bench.report",
    "BenchResult": "polymodal.bench.runner",
    "build_leaderboard": "polymodal.bench.leaderboard",
    # registries
    "Registry": "polymodal.registry",
    "ALL_REGISTRIES": "polymodal.registry",
    "ENCODERS": "polymodal.registry",
    "INTERACTIONS": "polymodal.registry",
    "FUSIONS": "polymodal.registry",
    "HEADS": "polymodal.registry",
    "OBJECTIVES": "polymodal.registry",
    "METRICS": "polymodal.registry",
    "DATASETS": "polymodal.registry",
    "DECODERS": "polymodal.registry",
    # component contracts (base classes)
    "Encoder": "polymodal.encoders.base",
    "Interaction": "polymodal.interaction.base",
    "Fusion": "polymodal.fusion.base",
    "Head": "polymodal.heads.base",
    "Prediction": "polymodal.heads.base",
    "PairObjective": "polymodal.objectives.pair",
    "Metric": "polymodal.evaluate.metrics.base",
    # data contracts
    "Sample": "polymodal.data.schema",
    "ModalitySpec": "polymodal.data.schema",
    "TaskSpec": "polymodal.data.schema",
    "DatasetInfo": "polymodal.data.schema",
    "Batch": "polymodal.data.schema",
    "ModalityBatch": "polymodal.data.schema",
    "Features": "polymodal.data.schema",
    "ModelOutput": "polymodal.data.schema",
    "DataBundle": "polymodal.data.bundle",
    "ListDataset": "polymodal.data.bundle",
    # plugins and console
    "load_plugins": "polymodal.plugins",
    "load_entry_points": "polymodal.plugins",
    "log_to_stderr": "polymodal.console",
    # errors
    "PolymodalError": "polymodal.errors",
    "ConfigError": "polymodal.errors",
    "DataError": "polymodal.errors",
    "CheckpointError": "polymodal.errors",
    "PluginError": "polymodal.plugins",
}

# Exported under another name than the one its module gives it.
_RENAMED: dict[str, str] = {"train_experiment": "train"}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """Import the module of a public name on first use (PEP 562) and keep the value."""
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'polymodal' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
