"""The parts of ``causal_lm`` around the pretrained LM: the memory projector and which of the
LM's parameters train.

Projectors map memory tokens ``[B, S, D]`` into the LM's embedding space ``[B, S, E]``:

- ``linear``: one linear map (LLaVA, Liu et al. 2023);
- ``mlp``: ``Linear(D, E) -> GELU -> Linear(E, E)`` (LLaVA-1.5, Liu et al. 2024);
- ``identity``: none (``D`` must equal ``E``): the memory already is in the embedding space,
  e.g. an image encoder's own linear projection to ``E`` and a text modality read by the
  ``lm_embedding`` encoder (the LM's own token embeddings, which must reach it unchanged).

Fine-tuning modes (the projector always trains):

- ``frozen``: no parameter of the LM trains;
- ``last_n``: the last ``last_n`` transformer blocks and the final norm train; the token
  embeddings, the earlier blocks and the output layer (often tied to the embeddings) stay frozen;
- ``full``: every parameter of the LM trains.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from torch import nn

Projector = Literal["linear", "mlp", "identity"]
FineTune = Literal["frozen", "last_n", "full"]

PROJECTORS: dict[str, Callable[[int, int], nn.Module]] = {
    "linear": lambda d, e: nn.Linear(d, e),
    "mlp": lambda d, e: nn.Sequential(nn.Linear(d, e), nn.GELU(), nn.Linear(e, e)),
    "identity": lambda d, e: nn.Identity(),
}
"""Projector builders by name: ``(memory width D, embedding width E) -> module``."""

# Where Hugging Face decoder-only models keep their blocks and final norm (Llama, Mistral, Qwen,
# SmolLM, Gemma: ``layers`` / ``norm``; GPT-2, GPT-J, Falcon: ``h`` / ``ln_f``; OPT, Phi).
_BLOCKS = ("layers", "h", "blocks")
_NORMS = ("norm", "ln_f", "final_layernorm", "final_layer_norm", "norm_f")


def blocks_and_norm(lm: Any) -> tuple[nn.ModuleList, nn.Module]:
    """The transformer blocks (in order) and the final norm of a Hugging Face causal LM.

    Raises:
        ValueError: the LM keeps them under names not listed here (use ``full`` or ``frozen``).
    """
    base = lm.get_decoder() if hasattr(lm, "get_decoder") else lm.base_model
    blocks = next((getattr(base, n) for n in _BLOCKS if hasattr(base, n)), None)
    norm = next((getattr(base, n) for n in _NORMS if hasattr(base, n)), None)
    if not isinstance(blocks, nn.ModuleList) or not isinstance(norm, nn.Module):
        raise ValueError(
            f"finetune 'last_n': cannot find the blocks ({'/'.join(_BLOCKS)}) and final norm "
            f"({'/'.join(_NORMS)}) of {type(lm).__name__}; use finetune 'full' or 'frozen'"
        )
    return blocks, norm


def set_trainable(lm: Any, mode: FineTune, last_n: int) -> None:
    """Set ``requires_grad`` of every parameter of ``lm`` for fine-tuning ``mode`` (above)."""
    lm.requires_grad_(mode == "full")
    if mode != "last_n":
        return
    blocks, norm = blocks_and_norm(lm)
    if last_n > len(blocks):
        raise ValueError(f"finetune 'last_n': last_n={last_n} > the LM's {len(blocks)} blocks")
    for block in list(blocks)[len(blocks) - last_n :]:
        block.requires_grad_(True)
    norm.requires_grad_(True)
