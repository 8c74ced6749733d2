"""Pretraining objectives over a pair of towers, registered for configs (``pretrain.objective``).

A *pair objective* owns two towers (one per modality, each a model whose forward gives
embeddings ``[B, D]``, e.g. the towers of the ``clip`` / ``moco`` presets built by
:func:`polymodal.models.builder.build_towers`) and turns a batch into a scalar loss:

- ``contrastive`` (:class:`ContrastivePairObjective`): symmetric InfoNCE with a learned
  temperature (CLIP, Radford et al. 2021), :mod:`polymodal.objectives.contrastive`, optionally
  plus image-text matching on in-batch hard negatives (ALBEF's ITM, ``itm_weight``);
- ``moco`` (:class:`MoCoPairObjective`): cross-modal momentum contrast with one queue of
  negatives per modality (MoCo, He et al. 2020; ALBEF's cross-modal queues, Li et al. 2021),
  :mod:`polymodal.objectives.moco`.

``loss(batch, positives)`` takes an optional bool ``positives [B, B]``: ``positives[i, j]``
True when tower b's item ``j`` is a positive of tower a's item ``i`` (e.g. two captions of one
image in the batch), so that duplicates are not pushed apart as negatives. InfoNCE uses it
directly; MoCo's loss has one positive per query (its key) and negatives from the queue only,
so it ignores the mask.
``embed(batch)`` gives each modality's L2-normalised embedding ``[B, D]`` with the online
towers, for retrieval evaluation.

The ``towers`` argument is injected; the other parameters are the objective's own, validated
against these signatures like any component.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.data.schema import Batch
from polymodal.errors import ConfigError, DataError
from polymodal.heads.matching import MatchingHead
from polymodal.objectives.contrastive import ContrastiveLoss, tower_embedding
from polymodal.objectives.matching import MatchingLoss
from polymodal.objectives.moco import CrossModalMoCo
from polymodal.registry import OBJECTIVES


def _check_towers(name: str, towers: Mapping[str, nn.Module]) -> list[str]:
    if len(towers) != 2:
        raise ConfigError([f"objective {name!r}: needs exactly two towers, got {list(towers)}"])
    return list(towers)


def _present(batch: Batch, modality: str) -> Tensor:
    if modality not in batch.inputs:
        raise DataError(
            f"the batch has no {modality!r} modality",
            where=f"pretraining objective (modalities {sorted(batch.inputs)})",
            fix="pretrain on a dataset that has both towers' modalities",
        )
    return batch.inputs[modality].present


def tower_width(tower: nn.Module) -> int:
    """Embedding width of a tower: its head's ``embed_dim`` (a ``retrieval`` head)."""
    head = getattr(tower, "head", None)
    width = getattr(head, "embed_dim", None)
    if not isinstance(width, int):
        raise ConfigError(
            ["towers: each tower needs a `retrieval` head (its embed_dim is the embedding width)"]
        )
    return width


class PairObjective(nn.Module):
    """Base class: two towers (``self.towers``, a ModuleDict in the given order)."""

    towers: nn.ModuleDict

    @property
    def modalities(self) -> list[str]:
        """The two modalities, in tower order (a, b)."""
        return list(self.towers.keys())

    def embed(self, batch: Batch) -> dict[str, Tensor]:
        """Modality -> L2-normalised embeddings ``[B, D]`` of the online towers."""
        return {
            m: F.normalize(tower_embedding(tower, batch), dim=-1)
            for m, tower in self.towers.items()
        }

    def loss(self, batch: Batch, positives: Tensor | None = None) -> Tensor:
        raise NotImplementedError


def interaction_pair(emb_a: Tensor, emb_b: Tensor) -> Tensor:
    """Pair features for matching: ``[a, b, a * b]`` of L2-normalised embeddings ``[N, D]`` ->
    ``[N, 3D]``; the product terms make a match readable by a small head (a concatenation alone
    leaves every interaction to the head's hidden layer)."""
    a, b = F.normalize(emb_a, dim=-1), F.normalize(emb_b, dim=-1)
    return torch.cat([a, b, a * b], dim=-1)


@OBJECTIVES.register("contrastive")
class ContrastivePairObjective(PairObjective):
    """Symmetric InfoNCE between the two towers' embeddings with a learned temperature (CLIP,
    Radford et al. 2021; see :mod:`polymodal.objectives.contrastive`). Pairs with a side absent
    are left out; ``positives`` marks in-batch duplicates as positives.

    With ``itm_weight > 0`` an image-text matching term is added, as ALBEF's ITC + ITM (Li et
    al. 2021): for each valid pair, one negative per side is mined in the batch with probability
    ``softmax`` of the (detached) contrastive similarities, never a positive
    (:mod:`polymodal.objectives.matching`), and a ``matching`` head classifies the ``3N`` pairs'
    :func:`interaction_pair` features as match / no match. ``match_logits(batch)`` then scores
    the batch's own pairs.

    Args:
        towers: modality -> tower (injected), exactly two.
        init_temperature: initial temperature (CLIP: 0.07).
        max_logit_scale: clamp of the logit scale ``1 / temperature`` (CLIP: 100).
        learn_temperature: learn the temperature, or keep it fixed.
        itm_weight: weight of the matching loss (0: none, plain CLIP).
        itm_hidden_dim: hidden width of the matching head (None: linear).
        itm_hardest: take the most similar negative instead of sampling one.
    """

    def __init__(
        self,
        towers: Mapping[str, nn.Module],
        init_temperature: float = 0.07,
        max_logit_scale: float = 100.0,
        learn_temperature: bool = True,
        itm_weight: float = 0.0,
        itm_hidden_dim: int | None = 256,
        itm_hardest: bool = False,
    ) -> None:
        super().__init__()
        names = _check_towers("contrastive", towers)
        if itm_weight < 0:
            raise ConfigError(
                [f"objective 'contrastive': itm_weight must be >= 0, got {itm_weight}"]
            )
        self.towers = nn.ModuleDict(dict(towers))
        self.criterion = ContrastiveLoss(init_temperature, max_logit_scale, learn_temperature)
        self.itm_weight = itm_weight
        self.itm: MatchingLoss | None = None
        if itm_weight > 0:
            width = tower_width(towers[names[0]])
            head = MatchingHead(3 * width, None, hidden_dim=itm_hidden_dim)
            self.itm = MatchingLoss(head, fuse=interaction_pair, hardest=itm_hardest)

    def loss(self, batch: Batch, positives: Tensor | None = None) -> Tensor:
        a, b = self.modalities
        emb = {m: tower_embedding(self.towers[m], batch) for m in (a, b)}
        present = {m: _present(batch, m) for m in (a, b)}
        loss = self.criterion(emb[a], emb[b], present[a], present[b], positives=positives)
        if self.itm is None:
            return loss
        sim = F.normalize(emb[a], dim=-1) @ F.normalize(emb[b], dim=-1).T  # [B, B]
        itm = self.itm(emb[a], emb[b], sim, present[a], present[b], positives=positives)
        return loss + self.itm_weight * itm

    def match_logits(self, batch: Batch) -> Tensor:
        """Match logits ``[B, 2]`` (no match, match) of the batch's own pairs (needs ITM)."""
        if self.itm is None:
            raise ConfigError(["objective 'contrastive': match_logits needs itm_weight > 0"])
        a, b = self.modalities
        emb = {m: tower_embedding(self.towers[m], batch) for m in (a, b)}
        return self.itm.head(interaction_pair(emb[a], emb[b]))


@OBJECTIVES.register("moco")
class MoCoPairObjective(PairObjective):
    """Cross-modal MoCo (He et al. 2020; queues per modality as in ALBEF, Li et al. 2021): each
    tower's queries against the momentum copy of the other tower's keys and a FIFO queue of its
    past keys (see :mod:`polymodal.objectives.moco`). The queues and momentum towers are part of
    the state (checkpointed). ``positives`` is not used: each query has exactly one positive
    key, and older keys of the same item in the queue count as negatives, as in MoCo.

    Args:
        towers: modality -> tower (injected), exactly two, each with a ``retrieval`` head (the
            queues' width is its ``embed_dim``).
        momentum: EMA coefficient of the momentum towers (MoCo: 0.999; ALBEF: 0.995).
        queue_size: keys kept per modality (MoCo: 65536; keep it below the number of
            training pairs, or old keys of the same items crowd the queue).
        temperature: temperature of the logits (MoCo: 0.07).
    """

    def __init__(
        self,
        towers: Mapping[str, nn.Module],
        momentum: float = 0.995,
        queue_size: int = 4096,
        temperature: float = 0.07,
    ) -> None:
        super().__init__()
        names = _check_towers("moco", towers)
        widths = {tower_width(towers[m]) for m in names}
        if len(widths) != 1:
            raise ConfigError(
                [f"objective 'moco': the towers' embed_dim differ ({sorted(widths)})"]
            )
        self.moco = CrossModalMoCo(
            towers, widths.pop(), queue_size=queue_size, momentum=momentum, temperature=temperature
        )

    @property
    def towers(self) -> nn.ModuleDict:  # type: ignore[override]
        """The online towers (held once, by the MoCo module, so the state has no duplicates)."""
        return self.moco.towers

    def loss(self, batch: Batch, positives: Tensor | None = None) -> Tensor:
        return self.moco(batch).loss


def build_objective(
    name: str, towers: Mapping[str, nn.Module], params: Mapping[str, object]
) -> PairObjective:
    """The registered objective ``name`` over ``towers`` with its ``params``."""
    return OBJECTIVES.create(name, towers=towers, **dict(params))
