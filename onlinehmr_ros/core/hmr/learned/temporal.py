"""Sliding-window causal attention with a KV cache (OnlineHMR Key Designs 1-2).

For the current frame ``i`` each layer does, on the frame's query tokens
``x_i`` (a readout token plus the encoder's ``P`` tokens):

1. self-attention of frame ``i`` on itself:
   ``A_self = softmax(q_i k_i^T / sqrt(d)) v_i``;
2. cross-attention with frame ``i`` as query over the keys/values of the
   previous ``N-1`` frames ``i-N+1 .. i-1``:
   ``A_cross = softmax(q_i k_prev^T / sqrt(d) + b_age) v_prev``;
3. an MLP.

The keys/values of a previous frame are per-layer projections of that
frame's *encoder* tokens, so they depend on that frame alone: computed once
when the frame arrives, they are exactly the values every later window would
compute. ``b_age`` is a learned per-head bias for a key that is ``age`` frames
old (1 .. N-1), which also does not change a cached key. Hence the two modes
give the same numbers:

* training mode (:meth:`CausalTemporalStack.forward_windows`): all ``T``
  frames of a clip in parallel; frame ``i`` gathers its window
  ``i-N+1 .. i-1`` (overlapping windows, stride 1) and a mask removes keys
  before the clip start or of frames without an observation;
* streaming mode (:meth:`CausalTemporalStack.forward_step` with a
  :class:`KVCache`): append the new frame's keys/values, evict those older
  than ``N-1`` frames. The work per frame is bounded by ``N`` whatever the
  stream length.

A frame with no previous frame in its window gets ``A_cross = 0``.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass

import torch
from torch import nn

from onlinehmr_ros.core.hmr.learned.config import TemporalConfig


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
            key_valid: torch.Tensor | None) -> torch.Tensor:
    """Scaled dot-product attention that returns 0 where no key is valid.

    Masked keys get a logit of -inf (exactly zero weight, so the result equals
    attention over the valid keys alone). A query row without any valid key
    attends to all keys unmasked and its output is then multiplied by 0, which
    avoids NaNs without elementwise passes over the whole logit tensor.

    Args:
        q: (..., H, Q, dh); k, v: (..., H, K, dh).
        bias: None or broadcastable to (..., H, Q, K) (added to the logits).
        key_valid: None or (..., K) bool (broadcast over H and Q).
    Returns:
        (..., H, Q, dh).
    """
    logits = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
    if key_valid is not None:
        any_valid = key_valid.any(dim=-1, keepdim=True)                       # (..., 1)
        keep = key_valid | ~any_valid
        mask_bias = torch.zeros(keep.shape, dtype=logits.dtype, device=logits.device)
        mask_bias = mask_bias.masked_fill(~keep, float('-inf'))[..., None, None, :]
        bias = mask_bias if bias is None else bias + mask_bias
    if bias is not None:
        logits = logits + bias
    out = logits.softmax(dim=-1) @ v
    if key_valid is not None:
        out = out * any_valid.to(out.dtype)[..., None, None]
    return out


class CausalWindowLayer(nn.Module):
    """One layer: self-attention on the current frame, cross-attention over the window, MLP."""

    def __init__(self, cfg: TemporalConfig):
        super().__init__()
        D, H = cfg.dim, cfg.num_heads
        self.num_heads = H
        self.head_dim = D // H
        self.max_age = cfg.window - 1
        self.norm_self = nn.LayerNorm(D)
        self.self_qkv = nn.Linear(D, 3 * D)
        self.self_out = nn.Linear(D, D)
        self.norm_query = nn.LayerNorm(D)
        self.cross_q = nn.Linear(D, D)
        self.norm_memory = nn.LayerNorm(D)
        self.cross_kv = nn.Linear(D, 2 * D)
        self.cross_out = nn.Linear(D, D)
        # b_age[h, age-1]: logit bias for a key that is `age` frames old.
        self.age_bias = nn.Parameter(torch.zeros(H, max(self.max_age, 1)))
        self.norm_mlp = nn.LayerNorm(D)
        hidden = int(D * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(D, hidden), nn.GELU(), nn.Linear(hidden, D))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(..., S, D) -> (..., H, S, dh)."""
        return x.reshape(*x.shape[:-1], self.num_heads, self.head_dim).transpose(-2, -3)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        """(..., H, S, dh) -> (..., S, D)."""
        x = x.transpose(-2, -3)
        return x.reshape(*x.shape[:-2], self.num_heads * self.head_dim)

    def memory_kv(self, memory_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys/values a frame contributes to later windows: (..., P, D) -> 2 x (..., H, P, dh)."""
        k, v = self.cross_kv(self.norm_memory(memory_tokens)).chunk(2, dim=-1)
        return self._heads(k), self._heads(v)

    def _self_and_mlp_pre(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.self_qkv(self.norm_self(x)).chunk(3, dim=-1)
        return x + self.self_out(self._merge(_attend(self._heads(q), self._heads(k), self._heads(v), None, None)))

    def forward_windows(self, x: torch.Tensor, k_mem: torch.Tensor, v_mem: torch.Tensor,
                        frame_valid: torch.Tensor) -> torch.Tensor:
        """Training mode.

        Args:
            x: (B, T, Q, D) query tokens of every frame.
            k_mem, v_mem: (B, T, H, P, dh) memory keys/values of every frame (from :meth:`memory_kv`).
            frame_valid: (B, T) bool; False frames give no keys (no observation, padding).
        Returns:
            (B, T, Q, D).
        """
        B, T = x.shape[:2]
        x = self._self_and_mlp_pre(x)
        A = self.max_age
        q = self._heads(self.cross_q(self.norm_query(x)))                     # (B, T, H, Q, dh)
        if A > 0:
            P = k_mem.shape[-2]
            pad = lambda t: torch.cat([t.new_zeros((B, A) + t.shape[2:]), t], dim=1)  # noqa: E731
            # windows[:, i, ..., w] = frame i - A + w (age A - w), w = 0 .. A-1
            kw = pad(k_mem).unfold(1, A, 1)[:, :T]                             # (B, T, H, P, dh, A)
            vw = pad(v_mem).unfold(1, A, 1)[:, :T]
            validw = pad(frame_valid).unfold(1, A, 1)[:, :T]                  # (B, T, A)
            H, dh = kw.shape[2], kw.shape[4]
            kw = kw.permute(0, 1, 2, 5, 3, 4).reshape(B, T, H, A * P, dh)      # key order: (age A .. 1) x P
            vw = vw.permute(0, 1, 2, 5, 3, 4).reshape(B, T, H, A * P, dh)
            key_valid = validw[..., :, None].expand(B, T, A, P).reshape(B, T, A * P)
            ages_desc = self.age_bias.flip(-1)                                # (H, A): age A .. 1
            bias = ages_desc[:, :, None].expand(H, A, P).reshape(H, 1, A * P)
            cross = _attend(q, kw, vw, bias, key_valid)
        else:
            cross = torch.zeros_like(q)
        x = x + self.cross_out(self._merge(cross))
        return x + self.mlp(self.norm_mlp(x))

    def forward_step(self, x: torch.Tensor, k_cache: torch.Tensor | None, v_cache: torch.Tensor | None,
                     ages: torch.Tensor | None) -> torch.Tensor:
        """Streaming mode for one frame.

        Args:
            x: (B, Q, D) query tokens of the current frame.
            k_cache, v_cache: (B, H, K, dh) cached keys/values of the previous frames in the
                window (K = frames x P, oldest first), or None when the window is empty.
            ages: (K,) long, age in frames (1 .. N-1) of each cached key.
        Returns:
            (B, Q, D).
        """
        x = self._self_and_mlp_pre(x)
        if k_cache is not None and k_cache.shape[-2] > 0:
            q = self._heads(self.cross_q(self.norm_query(x)))                  # (B, H, Q, dh)
            bias = self.age_bias[:, ages - 1][:, None, :]                     # (H, 1, K)
            cross = _attend(q, k_cache, v_cache, bias, None)
            x = x + self.cross_out(self._merge(cross))
        else:
            x = x + self.cross_out(torch.zeros_like(x))
        return x + self.mlp(self.norm_mlp(x))


@dataclass
class _CachedFrame:
    frame_index: int
    kv: list[tuple[torch.Tensor, torch.Tensor]]   # per layer: (B, H, P, dh) keys and values


class KVCache:
    """Per-track cache of the previous ``N-1`` frames' keys/values for every layer.

    Holds at most ``N-1`` frames (a deque): the oldest is evicted when a frame
    is older than ``N-1`` frames relative to the current one, so memory and
    work per frame are constant.
    """

    def __init__(self, window: int):
        self.max_age = window - 1
        self._frames: collections.deque[_CachedFrame] = collections.deque()

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def last_frame_index(self) -> int | None:
        return self._frames[-1].frame_index if self._frames else None

    def evict_older_than(self, frame_index: int) -> None:
        """Drop frames whose age relative to ``frame_index`` exceeds N-1."""
        while self._frames and frame_index - self._frames[0].frame_index > self.max_age:
            self._frames.popleft()

    def layer_kv(self, layer: int, frame_index: int) -> tuple[torch.Tensor | None, torch.Tensor | None,
                                                              torch.Tensor | None]:
        """Concatenated (B, H, K, dh) keys, values and (K,) ages for ``layer``; Nones when empty."""
        if not self._frames:
            return None, None, None
        ks = [f.kv[layer][0] for f in self._frames]
        vs = [f.kv[layer][1] for f in self._frames]
        P = ks[0].shape[-2]
        ages = torch.tensor([frame_index - f.frame_index for f in self._frames], dtype=torch.long)
        return torch.cat(ks, dim=-2), torch.cat(vs, dim=-2), ages.repeat_interleave(P)

    def append(self, frame_index: int, kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        if self.max_age <= 0:
            return
        self._frames.append(_CachedFrame(frame_index, kv))
        self.evict_older_than(frame_index + 1)   # keep only what the next frame can see


class CausalTemporalStack(nn.Module):
    """``depth`` causal window layers on (readout token + encoder tokens) of the current frame."""

    def __init__(self, cfg: TemporalConfig):
        super().__init__()
        self.cfg = cfg
        self.readout = nn.Parameter(torch.randn(1, cfg.dim) * 0.02)
        self.layers = nn.ModuleList([CausalWindowLayer(cfg) for _ in range(cfg.depth)])
        self.norm_out = nn.LayerNorm(cfg.dim)

    def forward_windows(self, tokens: torch.Tensor, frame_valid: torch.Tensor) -> torch.Tensor:
        """Training mode: (B, T, P, D) encoder tokens, (B, T) bool -> (B, T, D) readout features."""
        B, T = tokens.shape[:2]
        x = torch.cat([self.readout.expand(B, T, 1, -1), tokens], dim=2)
        for layer in self.layers:
            k, v = layer.memory_kv(tokens)
            x = layer.forward_windows(x, k, v, frame_valid)
        return self.norm_out(x[:, :, 0])

    def forward_step(self, tokens: torch.Tensor, cache: KVCache, frame_index: int) -> torch.Tensor:
        """Streaming mode: (B, P, D) tokens of frame ``frame_index`` -> (B, D); updates ``cache``.

        Frame indices must increase; a gap (frames without an observation) ages
        the cached frames accordingly, exactly as masking them out in training mode.
        """
        last = cache.last_frame_index
        if last is not None and frame_index <= last:
            raise ValueError(f'frame_index must increase along a track: got {frame_index} after {last}')
        cache.evict_older_than(frame_index)
        B = tokens.shape[0]
        x = torch.cat([self.readout.expand(B, 1, -1), tokens], dim=1)
        new_kv = []
        for li, layer in enumerate(self.layers):
            k_cache, v_cache, ages = cache.layer_kv(li, frame_index)
            x = layer.forward_step(x, k_cache, v_cache, ages)
            new_kv.append(layer.memory_kv(tokens))
        cache.append(frame_index, new_kv)
        return self.norm_out(x[:, 0])
