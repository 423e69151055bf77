"""Small models with real-code features other counters get wrong (issue "any model, any input").

Each docstring gives the hand-derived figures the tests assert (tests/test_any_input.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.functional import scaled_dot_product_attention as sdpa_by_name


class TiedTokenModel(nn.Module):
    """Embedding(100, 16) -> Linear(16, 16) -> head Linear(16, 100, no bias) tied to the embedding.

    Params (tied counted once): 100*16 + 16*16 + 16 = 1,872. At 8 tokens: MACs = 8*(16*16 + 16*100) =
    14,848. Embedding bytes read: 8 rows of 16 fp32 = 512 (not the 6,400-byte table).
    """

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.proj = nn.Linear(16, 16)
        self.head = nn.Linear(16, 100, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.proj(self.embed(ids)))


class TwoInputModel(nn.Module):
    """``forward(a, b) = Linear(4, 3)(a) + Linear(5, 3)(b)``: MACs per sample 4*3 + 5*3 = 27."""

    def __init__(self) -> None:
        super().__init__()
        self.fa = nn.Linear(4, 3)
        self.fb = nn.Linear(5, 3)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.fa(a) + self.fb(b)


class KeywordMaskModel(nn.Module):
    """``forward(x, mask=None)``: ``Linear(6, 2)(x.masked_fill(~mask, 0))``; without a mask it raises.

    Per sample: MACs 12; the bool mask is read by ``bitwise_not`` and ``masked_fill`` (6 bytes each).
    """

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            raise ValueError("mask is required")
        return self.fc(x.masked_fill(~mask, 0.0))


def mlp_bn() -> nn.Module:
    """Linear(20, 32), BatchNorm1d(32), ReLU, Linear(32, 10) on 1-D samples of 20 features.

    Params: 20*32 + 32 + 2*32 + 32*10 + 10 = 1,066. Batch 4: MACs = 4*(20*32 + 32*10) = 3,840.
    """
    return nn.Sequential(nn.Linear(20, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))


class LSTMStatesInForward(nn.Module):
    """LSTM(8 -> 16, batch_first) whose initial states are made in ``forward`` with no device (as many
    tutorials write it). Params: 4*16*(8 + 16) + 2*4*16 = 1,664. Per sample and time step the gates are
    ``x W_ih^T`` (4*16*8 = 512 MACs) and ``h W_hh^T`` (4*16*16 = 1,024 MACs); 5 steps: 7,680 MACs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, 16, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(1, x.shape[0], 16)
        c0 = torch.zeros(1, x.shape[0], 16)
        out, _ = self.lstm(x, (h0, c0))
        return out


class CausalMaskInForward(nn.Module):
    """Single-head attention over (L, 8) tokens written out, with a causal mask built in ``forward``
    (``torch.triu(torch.ones(L, L), 1)``, no device). At L = 6 per sample: q/k/v projections 3*6*8*8 =
    1,152 MACs, scores 6*6*8 = 288, weighted sum 288: 1,728 MACs."""

    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(8, 8, bias=False)
        self.k = nn.Linear(8, 8, bias=False)
        self.v = nn.Linear(8, 8, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        mask = torch.triu(torch.ones(n, n), diagonal=1).bool()
        scores = self.q(x) @ self.k(x).transpose(-1, -2)
        scores = scores.masked_fill(mask, float("-inf"))
        return scores.softmax(-1) @ self.v(x)


class SdpaViaF(nn.Module):
    """``F.scaled_dot_product_attention(q, k, v)`` on (B, 2 heads, 16 tokens, 8): MACs per sample
    2*16*16*(8 + 8) = 8,192; one attention op reading q, k, v and writing the output."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v)


class SdpaByName(nn.Module):
    """As ``SdpaViaF`` but with the function imported by name."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return sdpa_by_name(q, k, v)


class SdpaViaC(nn.Module):
    """As ``SdpaViaF`` but through ``torch._C._nn``."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch._C._nn.scaled_dot_product_attention(q, k, v)


class ExpandedParameter(nn.Module):
    """``x + p.expand(256, 64)`` with ``p`` a (1, 64) parameter: the add reads 64 fp32 weight values
    (256 bytes), not the 65,536 bytes of the logical expanded tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1, 64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.p.expand(256, 64)


def lazy_mlp() -> nn.Module:
    """``LazyLinear(8)`` then ReLU on 1-D samples of 4: params after materialisation 4*8 + 8 = 40; the
    forward is one ``addmm`` and one ``relu`` (no initialisation ops)."""
    return nn.Sequential(nn.LazyLinear(8), nn.ReLU())


class SpectralLayer(nn.Module):
    """FNO-style spectral convolution on (C=4, 16, 16) fields: ``rfft2`` -> multiply the kept modes by a
    complex weight (``einsum("bixy,ioxy->boxy")``, 4 -> 4 channels over 16x9 modes) -> ``irfft2``.

    Per sample: rfft2 of 4 transforms of N = 256 real points: 4 * 2.5 * 256 * 8 = 20,480 FLOPs;
    complex MACs 4*4*16*9 = 2,304 -> 9,216 real MACs (18,432 FLOPs); irfft2 20,480 FLOPs + 1,024 for its
    1/N scaling (norm "backward") = 21,504. Params: 2,304 complex elements.
    """

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(4, 4, 16, 9, dtype=torch.complex64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = torch.fft.rfft2(x)
        yf = torch.einsum("bixy,ioxy->boxy", xf, self.weight)
        return torch.fft.irfft2(yf, s=x.shape[-2:])


def half_cnn() -> nn.Module:
    """Conv2d(3, 4, 1) already cast to fp16: 16 params; fed a float16 input by default."""
    return nn.Conv2d(3, 4, 1).half()


class MaskedRouting(nn.Module):
    """Routes tokens with ``nonzero`` on a mask computed from activations: data-dependent, refused."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = (self.gate(x) > 0).squeeze(-1)
        return x[keep.nonzero(as_tuple=True)]


class PositionsFromArange(nn.Module):
    """Uses ``.item()`` and ``nonzero`` on tensors computed from shapes only (known values): analysable.
    The gathered rows: positions 0, 2, 4 of 6 -> a (B, 3, 4) slice; Linear(4, 2) on it: 3*8 = 24 MACs per
    sample."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(x.shape[1])
        assert int(pos.max().item()) == x.shape[1] - 1
        even = (pos % 2 == 0).nonzero().squeeze(-1)
        return self.fc(x[:, even])


class ExitsInForward(nn.Module):
    """Calls ``sys.exit`` in ``forward``: a row error, never the end of the caller."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise SystemExit(3)


def two_inputs_fn(batch_size: int):
    """An ``--inputs`` function for ``TwoInputModel``: real CPU tensors, moved to meta by the analysis."""
    return (torch.randn(batch_size, 4), torch.randn(batch_size, 5)), {}


def bad_inputs_fn(batch_size: int):
    """Returns a list, not ``(args, kwargs)``."""
    return [torch.zeros(batch_size, 4)]
