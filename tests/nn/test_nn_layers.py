"""polymodal.nn.layers: masked attention against torch's reference attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from polymodal.nn import MultiHeadAttention, TransformerEncoder, sinusoidal_positions


def test_attention_matches_scaled_dot_product_attention_and_zeros_keyless_rows() -> None:
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, heads=2, kdim=6).eval()
    query, context = torch.randn(3, 4, 8), torch.randn(3, 5, 6)
    mask = torch.tensor([[False] * 5, [False, False, True, True, True], [True] * 5])
    out = attn(query, context, mask)

    def heads(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(*x.shape[:2], 2, 4).transpose(1, 2)  # [B, h, T, dh]

    q, k, v = heads(attn.q(query)), heads(attn.k(context)), heads(attn.v(context))
    ref = F.scaled_dot_product_attention(q[:2], k[:2], v[:2], attn_mask=~mask[:2, None, None, :])
    ref = attn.out(ref.transpose(1, 2).reshape(2, 4, 8))
    assert torch.allclose(out[:2], ref, atol=1e-6)
    assert torch.equal(out[2], torch.zeros(4, 8))  # every key masked: zero output, not NaN


def test_encoder_output_ignores_padded_keys() -> None:
    torch.manual_seed(0)
    encoder = TransformerEncoder(8, heads=2, layers=2).eval()
    x = torch.randn(1, 3, 8)
    mask = torch.tensor([[False, False, True]])
    changed = x.clone()
    changed[0, 2] = 100.0  # a padded key: must not change the valid positions
    assert torch.allclose(encoder(x, mask)[0, :2], encoder(changed, mask)[0, :2], atol=1e-6)


def test_sinusoidal_positions_follow_the_formula() -> None:
    pe = sinusoidal_positions(4, 6, like=torch.zeros(1, dtype=torch.float64))
    t, i = 3, 1
    assert pe.dtype == torch.float64
    assert abs(pe[t, 2 * i].item() - torch.sin(torch.tensor(t / 1e4 ** (2 * i / 6))).item()) < 1e-6
    assert (
        abs(pe[t, 2 * i + 1].item() - torch.cos(torch.tensor(t / 1e4 ** (2 * i / 6))).item()) < 1e-6
    )
