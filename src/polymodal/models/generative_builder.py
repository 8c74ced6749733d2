"""Build a :class:`~polymodal.models.generative.GenerativeModel` from a model section with a
``decoder`` (task ``generation``), and the target tokenizer it writes with.

The tokenizer is the decoder's own when it has one (``decoder.tokenizer``, a pretrained
vocabulary; a decoder registered with ``own_tokenizer=True`` gets no fitted vocabulary and no
``vocab_size``), else a :class:`~polymodal.decoders.vocab.TextVocabulary` fitted on the training
references with the ``generation:`` section's options (or given: the one a run saved). Problems
are reported as the classifier builder reports them, each with its ``model.…`` path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from polymodal.config import ComponentSpec, ModelConfig
from polymodal.config.generation import GenerationConfig
from polymodal.data.schema import DatasetInfo
from polymodal.decoders.tokenizer import TargetTokenizer
from polymodal.decoders.vocab import TextVocabulary
from polymodal.errors import ConfigError
from polymodal.models.builder import _create, _raise, _validated
from polymodal.models.generative import GenerativeModel
from polymodal.registry import DECODERS, ENCODERS, INTERACTIONS


def check_generation_section(cfg: ModelConfig, info: DatasetInfo) -> None:
    """A decoder goes with a generation task and the other way round; no head with a decoder.

    Raises:
        ConfigError: listing the mismatches.
    """
    problems = []
    if info.task.type == "generation" and cfg.decoder is None:
        problems.append(
            f"model.decoder: dataset {info.name!r} has a generation task (reference texts): "
            "give a decoder, e.g. decoder: {name: transformer_decoder}"
        )
    if cfg.decoder is not None and info.task.type != "generation":
        problems.append(
            f"model.decoder: dataset {info.name!r} has a {info.task.type} task; a decoder "
            "writes text and needs a generation task (task: generation, label: the references)"
        )
    if cfg.decoder is not None and cfg.head is not None:
        problems.append("model.head: a model with a decoder has no head; remove it")
    _raise(problems)


def fit_vocabulary(texts: Iterable[str], gen: GenerationConfig) -> TextVocabulary:
    """The target vocabulary of ``texts`` (the training references) with ``gen``'s options."""
    return TextVocabulary.fit(
        texts,
        gen.tokenizer,
        min_freq=gen.min_freq,
        max_size=gen.max_vocab_size,
        lowercase=gen.lowercase,
    )


def _components(cfg: ModelConfig, info: DatasetInfo) -> tuple[dict, dict | None, dict]:
    """Validated user parameters of the encoders, interaction and decoder (all problems at once)."""
    problems: list[str] = []
    encoders: dict[str, Any] = {}
    for key, spec in cfg.encoders.items():
        if key not in info.modalities:
            problems.append(
                f"model.encoders.{key}: {key!r} is not a modality of dataset {info.name!r}; "
                f"its modalities are: {', '.join(info.modalities)}"
            )
        encoders[key] = _validated(ENCODERS, spec, f"model.encoders.{key}", problems) or {}
    interaction = None
    if cfg.interaction is not None:
        interaction = _validated(INTERACTIONS, cfg.interaction, "model.interaction", problems)
    assert cfg.decoder is not None
    decoder = _validated(DECODERS, cfg.decoder, "model.decoder", problems)
    _raise(problems)
    return encoders, interaction, decoder or {}


def build_generative_model(
    cfg: ModelConfig,
    info: DatasetInfo,
    tokenizer: TargetTokenizer | None = None,
    texts: Iterable[str] = (),
    gen: GenerationConfig | None = None,
) -> GenerativeModel:
    """The generating model of ``cfg`` for ``info`` (task ``generation``).

    Args:
        cfg: a model section with ``decoder``.
        info: the dataset.
        tokenizer: the target tokenizer (a run's saved one); None: fit one on ``texts``.
        texts: the training references, read when ``tokenizer`` is None.
        gen: the ``generation:`` section (tokenizer options); None: defaults.

    Raises:
        ConfigError: every problem of the section, each with its ``model.…`` path.
    """
    check_generation_section(cfg, info)
    params, inter_params, dec_params = _components(cfg, info)
    problems: list[str] = []
    encoders = {
        key: _create(ENCODERS, spec, params[key], f"model.encoders.{key}", problems,
                     spec=info.modalities[key])
        for key, spec in cfg.encoders.items()
    }  # fmt: skip
    _raise(problems)
    dims = {key: int(enc.out_dim) for key, enc in encoders.items()}
    interaction = None
    if cfg.interaction is not None:
        interaction = _create(INTERACTIONS, cfg.interaction, inter_params or {},
                              "model.interaction", problems, in_dims=dims)  # fmt: skip
        _raise(problems)
        dims = {key: int(interaction.out_dims[key]) for key in dims}
    memory_dim = max(dims.values())
    spec: ComponentSpec = cfg.decoder  # type: ignore[assignment]
    if DECODERS.entry(spec.name).meta.get("own_tokenizer"):  # its vocabulary comes with it
        decoder = _create(DECODERS, spec, dec_params, "model.decoder", problems,
                          memory_dim=memory_dim)  # fmt: skip
    else:
        tokenizer = tokenizer or fit_vocabulary(texts, gen or GenerationConfig())
        decoder = _create(DECODERS, spec, dec_params, "model.decoder", problems,
                          memory_dim=memory_dim, vocab_size=tokenizer.vocab_size)  # fmt: skip
    _raise(problems)
    own = getattr(decoder, "tokenizer", None)
    if own is not None:
        tokenizer = own
    assert tokenizer is not None
    if tokenizer.vocab_size > decoder.vocab_size:
        raise ConfigError(
            [f"model.decoder: the tokenizer has {tokenizer.vocab_size} ids, the decoder scores "
             f"{decoder.vocab_size}"]
        )  # fmt: skip
    return GenerativeModel(encoders, decoder, tokenizer, dims, memory_dim, interaction)
