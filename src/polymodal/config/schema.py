"""Pydantic schemas of an experiment: data, model, training, evaluation and pretraining sections.

Components (``data``, each encoder, ``interaction``, ``fusion``, ``head``) are written as
``{name: NAME, **params}`` or just ``NAME``; their parameters are validated against the registered
factory's signature by :mod:`polymodal.config.problems`. Presets (``{preset: NAME, ...}``) are
expanded before these schemas see the mapping (:mod:`polymodal.config.presets`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from polymodal.config.generation import GenerationConfig


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
    """The dataset: a registered name (``synthetic``, ``digits-av``, ``manifest``) and params."""

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
    decoder: ComponentSpec | None = None
    """A registered decoder (``transformer_decoder``, ...) for a ``generation`` task: it writes
    the target text from the token sequences of the encoders (after the interaction); fusion
    and head are then unused. ``memory_dim`` and ``vocab_size`` are injected."""
    unimodal_loss_weight: float = Field(0.0, ge=0.0)
    """w > 0 gives each encoder a linear classifier of the task on its own features, whose
    losses (weighted by w) are added during training, against modality competition (see
    :class:`polymodal.models.multimodal.MultimodalModel`); with late fusion, the losses train
    its own per-modality heads instead (a loss per head). 0 (default): none."""


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
    selection: Literal["best", "last"] = "best"
    """Which weights the run keeps for evaluation (``checkpoint/model.safetensors``): ``best``,
    those of the epoch with the best validation value of the monitored metric
    (``early_stopping.monitor``, else ``val/loss``) on the dataset's val split, which every
    built-in dataset carves from its training data (never from test); ``last``, those after the
    last epoch. Without a val split ``best`` keeps the last epoch's weights. The rule used is
    recorded in ``checkpoint/model.json`` and ``train_summary.json`` (``selection``) and in the
    run's ``metrics.json``, and the leaderboard shows it per model."""
    gradient_clip_val: float | None = Field(None, gt=0.0)
    precision: Literal["32-true", "64-true", "bf16-mixed", "16-mixed", "bf16-true"] = "32-true"
    accelerator: str = "auto"
    devices: int | str | list[int] = 1
    strategy: str = "auto"
    num_nodes: int = Field(1, ge=1)
    num_workers: int = Field(0, ge=0)
    deterministic: bool = True
    progress: bool = True
    feature_cache: bool | str = False
    """Encode the splits once with every frozen encoder (parameters, none trainable) and train
    on the stored features: True stores them under ``<run_dir>/feature_cache``, a string is a
    folder of your own (shared between runs); False (default) encodes every step."""
    loggers: list[Literal["csv", "tensorboard", "mlflow"]] = Field(default_factory=list)
    """Experiment trackers the epoch metrics also go to (:mod:`polymodal.train.loggers`):
    ``csv`` (``logs/csv/metrics.csv``), ``tensorboard`` (``logs/tensorboard/``), ``mlflow``
    (``tracking_uri``); ``logs/metrics.jsonl`` is written whatever this says."""
    tracking_uri: str | None = None
    """MLflow's tracking URI; default ``sqlite:///<run_dir>/mlflow.db`` (a benchmark's results:
    ``<bench_dir>/mlflow.db``)."""


class EvalConfig(_Strict):
    """Evaluation: split, metric names (None: the task's defaults) and batch size."""

    split: str = "test"
    metrics: list[str] | None = None
    batch_size: int | None = Field(None, ge=1)


class TransferConfig(_Strict):
    """How the supervised stage of a two-stage run uses the pretrained encoders.

    ``linear_probe`` freezes them (no gradient, eval mode; with ``train.feature_cache`` their
    features are computed once) and trains fusion and head only; ``finetune`` trains everything,
    starting from the pretrained weights. ``label_fraction`` keeps that share of the labelled
    training rows for the supervised stage (stratified by class, seeded by the experiment's
    seed): the few-label setting. Pretraining always uses every training row, labels unused.
    """

    mode: Literal["linear_probe", "finetune"] = "linear_probe"
    label_fraction: float = Field(1.0, gt=0.0, le=1.0)


class PretrainConfig(_Strict):
    """Contrastive pretraining of two towers (stage 1; see ``polymodal.train.pretrain``).

    ``objective`` is a registered pretraining objective (``contrastive``: CLIP's symmetric
    InfoNCE; ``moco``: cross-modal momentum contrast) with its parameters; ``towers`` holds one
    model section per modality, named after it, with a single encoder of that modality and a
    ``retrieval`` head. ``preset: clip`` (or just ``pretrain: clip``) starts from a preset of
    :mod:`polymodal.presets` and merges the other keys into it (mappings key by key; expanded
    by :func:`polymodal.config.expand_presets` before validation).
    ``train`` is the training loop of this stage (default: the experiment's ``train``);
    ``transfer`` says how the supervised stage uses the encoders.
    """

    objective: ComponentSpec
    towers: dict[str, ModelConfig] = Field(min_length=2, max_length=2)
    train: TrainConfig | None = None
    transfer: TransferConfig = Field(default_factory=TransferConfig)

    @property
    def modalities(self) -> list[str]:
        """The two towers' modalities, in order."""
        return list(self.towers)


class ExperimentConfig(_Strict):
    """A whole experiment: what ``polymodal train`` reads.

    ``model`` alone: supervised training. ``pretrain`` alone: contrastive pretraining of two
    towers (evaluated by retrieval). Both: a two-stage run, pretraining then the supervised
    model, whose encoders of the towers' modalities start from the pretrained towers' encoders
    (``pretrain.transfer``); a ``model`` without ``encoders`` takes the towers' encoders.
    ``model: {preset: tfn, ...changes}`` and ``pretrain: {preset: clip, ...}`` name presets;
    :func:`polymodal.config.parse_config` expands them before validating.
    """

    name: str | None = None
    plugins: list[str] = Field(default_factory=list)
    """Modules imported before the config is checked, so the components they register can be
    named (see :mod:`polymodal.plugins`); saved with the run."""
    seed: int = Field(0, ge=0)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig | None = None
    pretrain: PretrainConfig | None = None
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    """Target tokenizer and decoding of a generation task (:mod:`polymodal.config.generation`)."""

    @model_validator(mode="before")
    @classmethod
    def _encoders_from_towers(cls, value: Any) -> Any:
        """A two-stage ``model`` without ``encoders`` takes the towers' encoders."""
        if not isinstance(value, dict):
            return value
        model, pretrain = value.get("model"), value.get("pretrain")
        if isinstance(model, dict) and "encoders" not in model and pretrain is not None:
            try:
                towers = PretrainConfig.model_validate(pretrain).towers
            except Exception:  # reported by the field's own validation
                return value
            encoders = {m: t.encoders[m].model_dump() for m, t in towers.items() if m in t.encoders}
            value = {**value, "model": {**model, "encoders": encoders}}
        return value

    @model_validator(mode="after")
    def _stages(self) -> ExperimentConfig:
        if self.model is None and self.pretrain is None:
            raise ValueError("give `model` (supervised), `pretrain` (contrastive), or both")
        if self.model is not None and self.pretrain is not None:
            for m, spec in self.model.encoders.items():
                tower = self.pretrain.towers.get(m)
                if tower is None or m not in tower.encoders:
                    continue
                if spec.model_dump() != tower.encoders[m].model_dump():
                    raise ValueError(
                        f"model.encoders.{m} differs from pretrain.towers.{m}.encoders.{m}: the "
                        "supervised stage starts from the pretrained encoder, so both must be the "
                        "same (leave `encoders` out of `model` to take the towers' encoders)"
                    )
        return self

    @property
    def pretrain_train(self) -> TrainConfig:
        """The training loop of the pretraining stage: ``pretrain.train`` or ``train``."""
        if self.pretrain is not None and self.pretrain.train is not None:
            return self.pretrain.train
        return self.train

    @field_validator("name")
    @classmethod
    def _simple_name(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "/\\"):
            raise ValueError("must not contain path separators")
        return value
