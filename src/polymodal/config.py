"""Experiment configuration: pydantic schemas, YAML loading, dotted overrides.

A config file::

    seed: 0
    data: {name: synthetic, task: synergy, n: 3000}
    model:
      encoders: {image: cnn, audio: {name: audio_conv, hidden_dim: 64}}
      fusion: {name: concat}
    train: {max_epochs: 10, batch_size: 64, lr: 0.001}
    eval: {split: test}

Components (``data``, each encoder, ``interaction``, ``fusion``, ``head``) are written as
``{name: NAME, **params}`` or just ``NAME``; their parameters are validated against the registered
factory's signature. Every problem is reported at once, with its YAML path.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ComponentSpec(BaseModel):
    """A registered component by name plus its parameters (the other keys)."""

    model_config = ConfigDict(extra="allow")

    name: str

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def params(self) -> dict[str, Any]:
        """The component's own parameters: every key except ``name``."""
        return dict(self.model_extra or {})


class DataConfig(ComponentSpec):
    """The dataset: a registered name (``synthetic``, ``digits-av``, ``manifest``) and its params."""

    name: str = "synthetic"


class ModelConfig(_Strict):
    """Encoders (one per used modality), optional interaction, fusion, and head.

    Only modalities that have an encoder are used, so a unimodal baseline is a config with one
    encoder. ``head`` None picks the head that matches the dataset's task.
    """

    encoders: dict[str, ComponentSpec] = Field(min_length=1)
    interaction: ComponentSpec | None = None
    fusion: ComponentSpec = Field(default_factory=lambda: ComponentSpec(name="concat"))
    head: ComponentSpec | None = None


class EarlyStoppingConfig(_Strict):
    """Stop when ``monitor`` has not improved for ``patience`` validation rounds."""

    monitor: str = "val/loss"
    mode: Literal["min", "max"] = "min"
    patience: int = Field(5, ge=1)
    min_delta: float = Field(0.0, ge=0.0)


class TrainConfig(_Strict):
    """The training loop. ``accelerator``, ``devices``, ``strategy`` and ``num_nodes`` are passed
    to Lightning as they are, so ``devices: 2, strategy: ddp`` trains data-parallel."""

    max_epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    scheduler: Literal["none", "cosine", "step"] = "none"
    warmup_epochs: int = Field(0, ge=0)
    step_size: int = Field(10, ge=1)
    gamma: float = Field(0.1, gt=0.0, le=1.0)
    early_stopping: EarlyStoppingConfig | None = None
    gradient_clip_val: float | None = Field(None, gt=0.0)
    precision: Literal["32-true", "64-true", "bf16-mixed", "16-mixed", "bf16-true"] = "32-true"
    accelerator: str = "auto"
    devices: int | str | list[int] = 1
    strategy: str = "auto"
    num_nodes: int = Field(1, ge=1)
    num_workers: int = Field(0, ge=0)
    deterministic: bool = True
    progress: bool = True


class EvalConfig(_Strict):
    """Evaluation: split, metric names (None: the task's defaults) and batch size."""

    split: str = "test"
    metrics: list[str] | None = None
    batch_size: int | None = Field(None, ge=1)


class ExperimentConfig(_Strict):
    """A whole experiment: what ``polymodal train`` reads."""

    name: str | None = None
    seed: int = Field(0, ge=0)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @field_validator("name")
    @classmethod
    def _simple_name(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "/\\"):
            raise ValueError("must not contain path separators")
        return value
