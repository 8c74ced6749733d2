"""Experiment configuration: pydantic schemas, YAML loading, dotted overrides, preset expansion.

A config file::

    seed: 0
    data: {name: synthetic, task: synergy, n: 3000}
    model:
      encoders: {image: cnn, audio: {name: audio_conv, hidden_dim: 64}}
      fusion: {name: concat}
    train: {max_epochs: 10, batch_size: 64, lr: 0.001}
    eval: {split: test}

or, from a preset with changes: ``model: {preset: tfn, fusion: {proj_dim: 16}}``.

Components (``data``, each encoder, ``interaction``, ``fusion``, ``head``) are written as
``{name: NAME, **params}`` or just ``NAME``; their parameters are validated against the registered
factory's signature. Every problem is reported at once, with its YAML path.

Modules: :mod:`~polymodal.config.schema` (the sections), :mod:`~polymodal.config.presets` (the
expansion pre-pass), :mod:`~polymodal.config.problems` (problems with YAML paths),
:mod:`~polymodal.config.loading` (files, overrides, ``parse_config``). Importing it stays light
(pydantic and PyYAML, no torch).
"""

from polymodal.config.loading import (
    apply_overrides,
    config_to_dict,
    config_to_yaml,
    load_config,
    parse_config,
    read_yaml,
)
from polymodal.config.presets import LINEAR_PROBE, expand_model, expand_presets, merge
from polymodal.config.problems import component_problems, format_validation_errors
from polymodal.config.schema import (
    ComponentSpec,
    DataConfig,
    EarlyStoppingConfig,
    EvalConfig,
    ExperimentConfig,
    ModelConfig,
    PretrainConfig,
    TrainConfig,
    TransferConfig,
)

__all__ = [
    "LINEAR_PROBE",
    "ComponentSpec",
    "DataConfig",
    "EarlyStoppingConfig",
    "EvalConfig",
    "ExperimentConfig",
    "ModelConfig",
    "PretrainConfig",
    "TrainConfig",
    "TransferConfig",
    "apply_overrides",
    "component_problems",
    "config_to_dict",
    "config_to_yaml",
    "expand_model",
    "expand_presets",
    "format_validation_errors",
    "load_config",
    "merge",
    "parse_config",
    "read_yaml",
]
