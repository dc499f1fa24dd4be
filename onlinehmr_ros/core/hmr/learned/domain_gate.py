"""Per-track domain check of the learned HMR: is the network's body where the person's 2D landmarks are?

The learned causal HMR (:mod:`~onlinehmr_ros.core.hmr.learned.runtime`) was trained on generator
people (whole bodies 2-7 m away, a procedural motion vocabulary). Out of that domain (a real
close-up person cut by the frame, Megamind.avi) its body lands far from the person: its keypoints
projected into the image were ~97 px from mediapipe's own 2D landmarks where the fitter's were
~13 px. The network cannot say so itself, but the image can: after each estimate,

    residual_t = median over the confident landmarks i of |project(L_net_i) - uv_i| / size_px

where ``L_net`` are the network's body-model MediaPipe landmarks (camera frame, before the output
filter, whose lag is not the network's fault), ``uv`` mediapipe's 2D landmarks with visibility >=
``min_visibility`` inside the image, and ``size_px`` the extent of those landmarks (max of their
width and height, >= 8 px: the fitter's normalisation of its 2D term). A frame with fewer than
``min_landmarks`` confident landmarks counts as out of domain (residual ``inf``): a person that
little seen is not what the network was trained on.

:class:`DomainGate` keeps, per track, the running median of the last ``window`` residuals and a
mode with hysteresis: ``'learned'`` until the median rises above ``out_threshold``, then
``'fitting'`` until it falls below ``in_threshold``. A track's first frame decides its start
mode from that frame's residual alone, by the stricter ``in_threshold`` (nothing was published
yet, so nothing jumps). After each
switch the caller cross-fades the published body from the old estimator's to the new one's over
``crossfade_frames`` frames (:func:`crossfade_weight`), so a switch is not a jump in the output;
no switch happens before a cross-fade has run to its end.
Causal, fixed memory per track, ROS-free.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import project_points

#: the two estimators a gated track can be on
GATE_MODES = ('learned', 'fitting')
_MIN_DEPTH_M = 0.05


@dataclass(frozen=True)
class DomainGateConfig:
    """Settings of :class:`DomainGate` (estimator ``'learned'`` only).

    Attributes:
        enabled: check every learned estimate against the person's 2D landmarks and estimate a track that
            is out of the network's domain by fitting (False: the network's body is published whatever it is).
        min_visibility: mediapipe landmarks compared: visibility >= this and inside the image.
        min_landmarks: a frame with fewer such landmarks counts as out of domain (residual inf).
        window: frames of the running median of the normalised residual (causal, per track).
        out_threshold: running median above which a track goes to fitting (fraction of the person's 2D size).
            Chosen on the tune set and real videos (README "Learned causal HMR"): generator people median 0.03
            (0.2 at the 99th percentile: half hidden by a pillar or leaving the image), vtest.avi's small
            pedestrians 0.20, Megamind's close-up 0.28. v3 tune set, person-frames sent to fitting / PA-MPJPE
            (ungated 35.6 mm): 0.08/0.05 9 % / 39.1 mm, 0.1/0.06 6 % / 37.5 mm; either keeps Megamind's and
            vtest's one-person 2D check on fitting throughout.
        in_threshold: running median below which a track on fitting returns to the network (<= out_threshold:
            hysteresis, no flicker between the two).
        crossfade_frames: frames over which the published body moves from one estimator's to the other's after
            a switch (rotations on SO(3), shape and pelvis position linearly); 1 = switch at once.
    """

    enabled: bool = True
    min_visibility: float = 0.5
    min_landmarks: int = 6
    window: int = 15
    out_threshold: float = 0.1
    in_threshold: float = 0.06
    crossfade_frames: int = 10

    def __post_init__(self):
        if not 0.0 <= self.min_visibility <= 1.0:
            raise InputError(f'domain_gate.min_visibility must be in [0, 1], got {self.min_visibility}')
        if self.min_landmarks < 1 or self.window < 1 or self.crossfade_frames < 1:
            raise InputError('domain_gate.min_landmarks, window and crossfade_frames must be >= 1, got '
                             f'{self.min_landmarks}, {self.window}, {self.crossfade_frames}')
        if not 0.0 < self.in_threshold <= self.out_threshold:
            raise InputError('domain_gate needs 0 < in_threshold <= out_threshold, got '
                             f'{self.in_threshold}, {self.out_threshold}')


def normalised_residual(landmarks_cam: np.ndarray, landmarks_px: np.ndarray, visibility: np.ndarray,
                        K: np.ndarray, width_px: int, height_px: int, min_visibility: float = 0.5,
                        min_landmarks: int = 6) -> float:
    """Median 2D distance between projected model landmarks and observed ones, over the observed ones' extent.

    Args:
        landmarks_cam: (33, 3) the estimate's MediaPipe landmarks, camera optical frame (m).
        landmarks_px: (33, 2) the backend's 2D landmarks; visibility: (33,) their visibilities.
        K, width_px, height_px: the frame's intrinsics and size.
    Returns:
        the median distance divided by max(width, height, 8 px) of the confident landmarks; ``inf`` when
        fewer than ``min_landmarks`` are confident and inside the image.
    """
    uv = np.asarray(landmarks_px, np.float64)
    vis = np.asarray(visibility, np.float64)
    ok = (vis >= min_visibility) & np.all(np.isfinite(uv), axis=1) & (uv[:, 0] >= 0) & (uv[:, 0] < width_px) \
        & (uv[:, 1] >= 0) & (uv[:, 1] < height_px)
    if ok.sum() < min_landmarks:
        return float('inf')
    proj, _ = project_points(K, np.asarray(landmarks_cam, np.float64), _MIN_DEPTH_M)
    seen = uv[ok]
    size = max(float(np.ptp(seen[:, 0])), float(np.ptp(seen[:, 1])), 8.0)
    return float(np.median(np.linalg.norm(proj[ok] - seen, axis=1)) / size)


def crossfade_weight(frames_since_switch: int, crossfade_frames: int) -> float:
    """Weight of the new estimator's body ``frames_since_switch`` frames after a switch (0 = the switch frame):
    rises linearly to 1 at ``crossfade_frames``."""
    return float(min(1.0, (frames_since_switch + 1) / crossfade_frames))


@dataclass
class _Track:
    residuals: deque
    mode: str
    since_switch: int = 10 ** 9          # frames since the last switch (large: no cross-fade running)


@dataclass(frozen=True)
class GateDecision:
    """One track at one frame.

    Attributes:
        mode: the estimator the track is on (``'learned'`` or ``'fitting'``).
        residual: this frame's normalised residual; median: the running median the decision used.
        switched: the mode changed with this frame.
        new_track: this was the track's first frame (its start mode decided by this frame's residual).
        fade: weight of ``mode``'s body in the published one (1: no cross-fade running); the rest is the
            other estimator's.
    """

    mode: str
    residual: float
    median: float
    switched: bool
    fade: float
    new_track: bool = False

    @property
    def needs_fitting(self) -> bool:
        """The fitter's body is (part of) the output this frame."""
        return self.mode == 'fitting' or self.fade < 1.0


@dataclass
class DomainGate:
    """Per-track mode (network or fitting) from the running median of the normalised 2D residual (module doc)."""

    config: DomainGateConfig = field(default_factory=DomainGateConfig)

    def __post_init__(self):
        self._tracks: dict[int, _Track] = {}

    def reset(self) -> None:
        self._tracks.clear()

    def forget(self, track_ids) -> None:
        for t in track_ids:
            self._tracks.pop(int(t), None)

    def mode(self, track_id: int) -> str | None:
        s = self._tracks.get(int(track_id))
        return None if s is None else s.mode

    def update(self, track_id: int, residual: float) -> GateDecision:
        """Add this frame's residual of the track and decide its mode (see the module docstring)."""
        c = self.config
        s = self._tracks.get(int(track_id))
        new = s is None
        if new:
            mode = 'learned' if residual < c.in_threshold else 'fitting'
            s = self._tracks[int(track_id)] = _Track(deque(maxlen=c.window), mode)
        s.residuals.append(residual)
        med = float(np.median(np.asarray(s.residuals)))   # inf counts as large (a sort, not a mean)
        switched = False
        if s.since_switch + 1 < c.crossfade_frames:
            pass                                          # a cross-fade runs to its end before the next switch
        elif s.mode == 'learned' and med > c.out_threshold:
            s.mode, switched = 'fitting', True
        elif s.mode == 'fitting' and med < c.in_threshold:
            s.mode, switched = 'learned', True
        s.since_switch = 0 if switched else s.since_switch + 1
        fade = crossfade_weight(s.since_switch, c.crossfade_frames)
        return GateDecision(mode=s.mode, residual=float(residual), median=med, switched=switched, fade=fade,
                            new_track=new)


__all__ = ['DomainGate', 'DomainGateConfig', 'GATE_MODES', 'GateDecision', 'crossfade_weight', 'normalised_residual']
