"""Length penalties of beam search, named by convention: ``score = sum log p / lp(n)``.

``n`` is the number of generated tokens (a stop token counts). Every ``lp`` is non-decreasing in
``n`` for ``alpha >= 0``, which beam search's stopping rule relies on.
"""

from __future__ import annotations

from collections.abc import Callable

LENGTH_PENALTIES: dict[str, Callable[[int, float], float]] = {
    "none": lambda n, alpha: 1.0,
    "gnmt": lambda n, alpha: ((5.0 + n) / 6.0) ** alpha,  # Wu et al. 2016, eq. 14
    "normalised": lambda n, alpha: float(n) ** alpha,  # Hugging Face's length_penalty
}


def penalised(score: float, length: int, convention: str, alpha: float) -> float:
    """``score / lp(length)`` under ``convention`` (a key of :data:`LENGTH_PENALTIES`)."""
    return score / LENGTH_PENALTIES[convention](length, alpha)
