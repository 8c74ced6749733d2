"""Training objectives beyond a head's own loss.

- :mod:`polymodal.objectives.contrastive`: symmetric InfoNCE with a learned temperature (CLIP).
- :mod:`polymodal.objectives.moco`: cross-modal momentum contrast with feature queues (MoCo).
- :mod:`polymodal.objectives.matching`: image-text matching with in-batch hard negatives (ALBEF).

Supervised training uses the head's loss (``MultimodalModel.loss``) and needs nothing here.
"""
