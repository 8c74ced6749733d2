"""A trained polymodal generating run as a model under test: ``run:RUN_DIR`` (or the bare run
directory, recognised by its ``config.yaml``).

The run's best model is loaded with its data preprocessing (:func:`load_generative_run`);
requests become samples of its modalities as :mod:`polymodal.adapters.run_inputs` describes.

**Generation** decodes in batches of ``batch_size`` (default: the run's evaluation batch
size) with the run's ``generation:`` settings (:func:`decoding_options`), overridden by the
request's: ``max_new_tokens`` always; ``temperature > 0`` switches to sampling with that
temperature, ``top_p`` and ``seed`` (one seeded generator per batch, as in evaluation), while
``temperature`` 0 keeps the run's deterministic strategy (greedy or beam search; a run that
samples decodes greedily); the request's ``stop`` strings are added to the run's. With the
run's own settings, the texts equal ``polymodal evaluate``'s on the same inputs.

**Scores** are log-likelihoods under teacher forcing: a candidate is tokenised by the run's
target tokenizer (no truncation) followed by ``eos``, and its score is the sum over those
tokens of ``log_softmax(logits)`` at the target id: the log-probability that the model writes
exactly the candidate and stops. Unknown words count as the tokenizer's ``unk``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polymodal.adapters.base import (
    ADAPTERS,
    AdapterError,
    Generation,
    GenerationSettings,
    Request,
    folder_fingerprint,
)
from polymodal.adapters.run_inputs import RunInputs
from polymodal.data.collate import collate_samples
from polymodal.data.schema import Batch, ModelOutput
from polymodal.decoders.options import DecodingOptions
from polymodal.errors import PolymodalError
from polymodal.evaluate.generation.run import decoding_options
from polymodal.models.generative import MEMORY_MASK_KEY, target_tokens
from polymodal.rundir.generative import load_generative_run
from polymodal.rundir.load import load_run_config


def request_decoding(base: DecodingOptions, settings: GenerationSettings) -> DecodingOptions:
    """The run's decoding options ``base`` overridden by a request's ``settings`` (rules in
    the module docs)."""
    update: dict[str, Any] = {
        "max_new_tokens": settings.max_new_tokens,
        "stop_strings": tuple(dict.fromkeys((*base.stop_strings, *settings.stop))),
    }
    if settings.temperature > 0:
        update |= {"strategy": "sample", "temperature": settings.temperature,
                   "top_p": settings.top_p, "seed": settings.seed}  # fmt: skip
    elif base.strategy == "sample":
        update["strategy"] = "greedy"
    return base.model_copy(update=update)


def _check_generating(run_dir: str) -> None:
    try:
        config = load_run_config(run_dir)
    except PolymodalError as exc:
        raise AdapterError(f"not a polymodal run ({exc})", where=run_dir) from None
    if config.model is None or config.model.decoder is None:
        raise AdapterError(
            "the run does not write text (no decoder): only generating runs are served",
            where=run_dir,
            fix="train a run with a decoder (task type generation)",
        )


class RunAdapter:
    """A polymodal generating run (see the module docstring).

    Args:
        target: the run directory.
        device: ``cpu``, ``cuda``, ... (default: cpu; a tiny run is fastest there).
        batch_size: requests decoded together (default: the run's evaluation batch size).
    """

    capabilities = frozenset({"generate", "score"})

    def __init__(self, target: str, device: str = "cpu", batch_size: int | None = None) -> None:
        self.target = target
        _check_generating(target)
        try:
            config, bundle, model = load_generative_run(target)
        except PolymodalError as exc:
            raise AdapterError(f"cannot load the generating run ({exc})", where=target) from None
        assert config.model is not None
        self.config, self.device = config, torch.device(device)
        self.model = model.to(self.device).eval()
        self.specs = {m: bundle.info.modalities[m] for m in config.model.encoders}
        self.inputs = RunInputs(self.specs, bundle.state)
        self.decoding = decoding_options(config.generation)
        self.batch_size = batch_size or config.eval.batch_size or config.train.batch_size

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "run",
            "target": self.target,
            "run": self.config.name or Path(self.target).name,
            "modalities": list(self.specs),
            "decoding": self.decoding.model_dump(mode="json", exclude={"bos_id", "pad_id",
                                                                       "stop_ids"}),
            "fingerprint": folder_fingerprint(Path(self.target) / "checkpoint"),
        }  # fmt: skip

    def batch(self, requests: Sequence[Request]) -> Batch:
        """The collated samples of ``requests``, on the adapter's device."""
        samples = [self.inputs.sample(r) for r in requests]
        return collate_samples(samples, self.specs).to(self.device)

    def generate(
        self, requests: Sequence[Request], settings: GenerationSettings
    ) -> list[Generation]:
        """Texts of ``requests``, decoded in batches of ``batch_size``, in order."""
        options = request_decoding(self.decoding, settings)
        out: list[Generation] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start : start + self.batch_size]
            generated = self.model.generate(self.batch(chunk), options)
            texts = generated.texts or [""] * len(chunk)
            out += [
                Generation(text, meta={"finish": generated.finish[i]})
                for i, text in enumerate(texts)
            ]
        return out

    def score(self, request: Request, candidates: Sequence[str]) -> np.ndarray:
        """float64 ``[C]``: each candidate's summed target-token log-probability (with ``eos``)."""
        if not candidates:
            return np.zeros(0)
        tok = self.model.tokenizer
        longest = max(len(tok.encode(c)) for c in candidates) + 1
        targets = target_tokens(list(candidates), tok, longest).to(self.device)  # [C, T]
        with torch.no_grad():
            once = self.model(self.batch([request]))  # the request encoded once: memory [1, S, D]
            c = len(candidates)
            memory = ModelOutput(
                once.output.expand(c, -1, -1),
                extras={MEMORY_MASK_KEY: once.extras[MEMORY_MASK_KEY].expand(c, -1)},
            )
            logits = self.model.logits(memory, targets).float()  # [C, T, V]
        logp = torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None])[..., 0]
        keep = targets != tok.pad_id  # [C, T]
        return (logp * keep).sum(dim=1).double().cpu().numpy()


@ADAPTERS.register("run")
def run_adapter(target: str, **options: Any) -> RunAdapter:
    """A polymodal generating run directory: its best model, its preprocessing, its decoding."""
    return RunAdapter(target, **options)
