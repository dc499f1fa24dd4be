"""EMA trajectory correction of OnlineHMR (Key Design 4b), ROS-free.

The camera trajectory from incremental SLAM is smoothed causally (which
regularises the world-space human motion indirectly). For each new camera
centre ``t_i`` and rotation ``q_i``:

    buffer      the last ``B`` raw positions t_{i-B+1} .. t_i (newest last)
    weights     w_m = (1 - alpha)^(B-1-m), m = 0 (oldest) .. B-1 (newest),
                normalised so that sum_m w_m = 1
    mean        t_bar = sum_m w_m t_m
    offset      dt = t_i - t_bar
    clamp       tau = lambda_clamp * v_bar, v_bar = mean |t_k - t_{k-1}| over
                the buffer; if |dt| > tau, dt <- dt * tau / |dt|
    output      t'_i = t_bar + alpha * dt
    rotation    q'_i = normalize((1 - alpha) q'_{i-1} + alpha q_i), q_i first
                flipped onto the hemisphere of q'_{i-1} (LERP approximating SLERP)

Reading of the paper's indices: it writes ``t_bar_i = sum_m w_m t_{i-m}`` with
``w_m = (1-alpha)^(B-1-m)`` and calls the weights "exponentially decaying";
taken literally the oldest sample would get the largest weight, so ``m`` is
read as the buffer slot counted from the oldest entry (the newest sample has
weight ``(1-alpha)^0 = 1`` before normalisation, older ones decay). While the
buffer is filling (``L < B`` samples) the same rule is used with ``L`` in place
of ``B``. ``reset()`` starts over (the SLAM branch calls it when the world
frame is not continuous, e.g. after a re-initialisation).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import quat_hemisphere_align


@dataclass(frozen=True)
class EmaConfig:
    """Parameters of the EMA trajectory correction.

    Attributes:
        alpha: EMA factor in (0, 1]; 1 disables smoothing (t' = t, q' = q).
        buffer_size: history length ``B`` (frames, >= 1).
        lambda_clamp: velocity-adaptive clamp factor (tau = lambda_clamp * v_bar,
            dimensionless, > 0; ``inf`` disables the clamp).
        enabled: False passes poses through unchanged (for the ablation).
    """

    alpha: float = 0.5
    buffer_size: int = 5
    lambda_clamp: float = 3.0
    enabled: bool = True

    def __post_init__(self):
        if not (0.0 < self.alpha <= 1.0):
            raise InputError(f'EmaConfig.alpha must be in (0, 1], got {self.alpha}')
        if int(self.buffer_size) < 1:
            raise InputError(f'EmaConfig.buffer_size must be >= 1, got {self.buffer_size}')
        if not self.lambda_clamp > 0:
            raise InputError(f'EmaConfig.lambda_clamp must be > 0, got {self.lambda_clamp}')


def ema_weights(length: int, alpha: float) -> np.ndarray:
    """(length,) normalised weights ``(1-alpha)^(length-1-m)``, m = 0 (oldest) .. length-1 (newest)."""
    m = np.arange(length, dtype=np.float64)
    w = (1.0 - alpha) ** (length - 1 - m)
    return w / w.sum()


class EmaTrajectorySmoother:
    """Causal EMA correction of a camera trajectory (state inside, one pose per call)."""

    def __init__(self, config: EmaConfig = EmaConfig()):
        self.config = config
        self._buffer: deque[np.ndarray] = deque(maxlen=int(config.buffer_size))
        self._q_prev: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the history (next pose passes through unchanged)."""
        self._buffer.clear()
        self._q_prev = None

    def update(self, t: np.ndarray, quat_wxyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Smooth one pose.

        Args:
            t: (3,) camera centre (any consistent unit).
            quat_wxyz: (4,) camera rotation, unit quaternion (w, x, y, z).
        Returns:
            (t', q') as (3,) and (4,) float64; q' is unit norm.
        """
        t = np.asarray(t, dtype=np.float64).reshape(3)
        q = np.asarray(quat_wxyz, dtype=np.float64).reshape(4)
        q = q / np.linalg.norm(q)
        if not self.config.enabled:
            return t.copy(), q
        cfg = self.config
        self._buffer.append(t.copy())
        buf = np.stack(self._buffer)                        # (L, 3), newest last
        w = ema_weights(len(buf), cfg.alpha)
        t_bar = w @ buf
        dt = t - t_bar
        if len(buf) >= 2 and np.isfinite(cfg.lambda_clamp):
            v_bar = float(np.mean(np.linalg.norm(np.diff(buf, axis=0), axis=1)))
            tau = cfg.lambda_clamp * v_bar
            norm = float(np.linalg.norm(dt))
            if norm > tau:
                dt = dt * (tau / norm) if norm > 0 else dt
        t_out = t_bar + cfg.alpha * dt
        if self._q_prev is None:
            q_out = q
        else:
            q_al = quat_hemisphere_align(q, self._q_prev)
            q_out = (1.0 - cfg.alpha) * self._q_prev + cfg.alpha * q_al
            q_out = q_out / np.linalg.norm(q_out)
        self._q_prev = q_out
        return t_out, q_out
