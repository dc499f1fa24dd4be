"""Multi-person tracking with stable track ids (ROS-free).

Each frame, the people seen (:class:`~onlinehmr_ros.core.hmr.perception.observation.PersonObservation`
plus a camera-frame root estimate) are assigned to the existing tracks by the
Hungarian method (``scipy.optimize.linear_sum_assignment``) on a cost that mixes

* box overlap: ``1 - IoU`` between the track's predicted box (constant velocity)
  and the detection's box;
* 3D root distance: ``|r_track - r_det| / root_scale_m`` between the track's
  predicted root (constant velocity, camera frame) and the detection's root;
* pose similarity: mean distance between the hip-centred metric 3D landmarks
  (visible in both), divided by ``pose_scale_m``,

each clipped to [0, 1] and weighted (weights sum to 1). The assignment matrix is
augmented with a *dustbin*: every track may go unmatched and every detection
may start a new track at cost ``max_cost``, so a poor match is never forced.

Births and deaths have hysteresis: a new track is *tentative* until matched in
``min_hits`` consecutive frames (a tentative track that misses one frame is
dropped), and a confirmed track survives ``max_misses`` frames without a match.
Track ids come from a counter and are never reused. Tracks born in the first
frame the tracker sees are confirmed at once (there is no history to doubt them).

The tracker only uses the frames it has been given (causal) and keeps a fixed
amount of state per track.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation, box_iou


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of :class:`Tracker`.

    Attributes:
        weight_iou, weight_root, weight_pose: relative weights of the three costs
            (normalised to sum to 1).
        root_scale_m: 3D root distance (m) at which the root cost saturates at 1.
        pose_scale_m: mean 3D landmark distance (m, hip-centred) at which the pose cost saturates.
        max_cost: dustbin cost in [0, 1]: a track-detection pair costing more stays unmatched.
        min_hits: consecutive matched frames before a new track is confirmed (birth hysteresis).
        max_misses: frames a confirmed track survives without a match (death hysteresis).
        velocity_smoothing: weight in [0, 1) of the previous velocity in the constant-velocity
            prediction (0: last difference only).
        min_visibility: landmark visibility counted as seen for the pose cost.
    """

    weight_iou: float = 0.4
    weight_root: float = 0.4
    weight_pose: float = 0.2
    root_scale_m: float = 1.0
    pose_scale_m: float = 0.3
    max_cost: float = 0.75
    min_hits: int = 2
    max_misses: int = 5
    velocity_smoothing: float = 0.5
    min_visibility: float = 0.5

    def __post_init__(self):
        w = (self.weight_iou, self.weight_root, self.weight_pose)
        if min(w) < 0 or sum(w) <= 0:
            raise InputError(f'tracker weights must be >= 0 with a positive sum, got {w}')
        if self.root_scale_m <= 0 or self.pose_scale_m <= 0:
            raise InputError('root_scale_m and pose_scale_m must be > 0')
        if not 0.0 < self.max_cost <= 1.0:
            raise InputError(f'max_cost must be in (0, 1], got {self.max_cost}')
        if self.min_hits < 1 or self.max_misses < 0:
            raise InputError(f'need min_hits >= 1 and max_misses >= 0, got {self.min_hits}, {self.max_misses}')
        if not 0.0 <= self.velocity_smoothing < 1.0:
            raise InputError(f'velocity_smoothing must be in [0, 1), got {self.velocity_smoothing}')


@dataclass(frozen=True)
class TrackedPerson:
    """A confirmed track matched in the current frame.

    Attributes:
        track_id: stable id (never reused).
        observation: the detection assigned to the track this frame.
        root_cam_m: (3,) root estimate of the detection, camera frame, metres.
        age_frames: frames since the track was born (0 on its first frame).
        detection_index: index of ``observation`` in the list given to :meth:`Tracker.update`.
    """

    track_id: int
    observation: PersonObservation
    root_cam_m: np.ndarray
    age_frames: int
    detection_index: int


@dataclass(frozen=True)
class TrackerUpdate:
    """Result of one :meth:`Tracker.update`.

    Attributes:
        people: confirmed tracks matched this frame, ordered by track id.
        ended_track_ids: ids of tracks deleted this frame (free their per-track state).
        costs: (T, D) assignment cost matrix of this frame (diagnostics).
    """

    people: tuple[TrackedPerson, ...]
    ended_track_ids: tuple[int, ...]
    costs: np.ndarray


class _Track:
    """Internal state of one track (fixed size)."""

    __slots__ = ('track_id', 'box', 'box_velocity', 'root', 'root_velocity', 'landmarks_3d', 'visibility',
                 'hits', 'misses', 'age', 'confirmed')

    def __init__(self, track_id: int, obs: PersonObservation, root: np.ndarray, confirmed: bool):
        self.track_id = track_id
        self.box = obs.bbox_px.astype(np.float64)
        self.box_velocity = np.zeros(4)
        self.root = np.asarray(root, dtype=np.float64)
        self.root_velocity = np.zeros(3)
        self.landmarks_3d = obs.landmarks_3d_m.astype(np.float64)
        self.visibility = obs.visibility.astype(np.float64)
        self.hits = 1
        self.misses = 0
        self.age = 0
        self.confirmed = confirmed

    def predicted_box(self) -> np.ndarray:
        return self.box + (1 + self.misses) * self.box_velocity

    def predicted_root(self) -> np.ndarray:
        return self.root + (1 + self.misses) * self.root_velocity

    def update(self, obs: PersonObservation, root: np.ndarray, smoothing: float) -> None:
        gap = 1 + self.misses
        box = obs.bbox_px.astype(np.float64)
        root = np.asarray(root, dtype=np.float64)
        if np.all(np.isfinite(box)):
            self.box_velocity = smoothing * self.box_velocity + (1 - smoothing) * (box - self.box) / gap
            self.box = box
        if np.all(np.isfinite(root)):
            self.root_velocity = smoothing * self.root_velocity + (1 - smoothing) * (root - self.root) / gap
            self.root = root
        self.landmarks_3d = obs.landmarks_3d_m.astype(np.float64)
        self.visibility = obs.visibility.astype(np.float64)
        self.hits += 1
        self.misses = 0


def pose_distance_m(landmarks_a: np.ndarray, visibility_a: np.ndarray, landmarks_b: np.ndarray,
                    visibility_b: np.ndarray, min_visibility: float) -> float:
    """Mean distance (m) between hip-centred 3D landmarks (33, 3) seen in both; inf if fewer than 3."""
    seen = (visibility_a >= min_visibility) & (visibility_b >= min_visibility)
    seen &= np.all(np.isfinite(landmarks_a), axis=1) & np.all(np.isfinite(landmarks_b), axis=1)
    if seen.sum() < 3:
        return float('inf')
    return float(np.linalg.norm(landmarks_a[seen] - landmarks_b[seen], axis=1).mean())


class Tracker:
    """Assigns detections to tracks frame by frame (see the module docstring)."""

    def __init__(self, config: TrackerConfig = TrackerConfig()):
        self._config = config
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._frames_seen = 0

    @property
    def num_tracks(self) -> int:
        """Tracks alive (tentative and confirmed)."""
        return len(self._tracks)

    def reset(self) -> None:
        """Forget every track; ids keep counting up (never reused)."""
        self._tracks = []
        self._frames_seen = 0

    def cost_matrix(self, observations: list[PersonObservation], roots_cam_m: np.ndarray) -> np.ndarray:
        """(T, D) costs in [0, 1] between the current tracks and the detections."""
        c = self._config
        T, D = len(self._tracks), len(observations)
        if T == 0 or D == 0:
            return np.zeros((T, D))
        w = np.array([c.weight_iou, c.weight_root, c.weight_pose], dtype=np.float64)
        w = w / w.sum()
        boxes_t = np.stack([t.predicted_box() for t in self._tracks])
        boxes_d = np.stack([o.bbox_px for o in observations]).astype(np.float64)
        cost_iou = 1.0 - box_iou(boxes_t, boxes_d)
        roots_t = np.stack([t.predicted_root() for t in self._tracks])
        dist = np.linalg.norm(roots_t[:, None, :] - roots_cam_m[None, :, :], axis=-1)
        cost_root = np.clip(np.nan_to_num(dist / c.root_scale_m, nan=1.0), 0.0, 1.0)
        cost_pose = np.ones((T, D))
        for i, t in enumerate(self._tracks):
            for j, o in enumerate(observations):
                d = pose_distance_m(t.landmarks_3d, t.visibility, o.landmarks_3d_m, o.visibility, c.min_visibility)
                cost_pose[i, j] = min(1.0, d / c.pose_scale_m)
        return w[0] * cost_iou + w[1] * cost_root + w[2] * cost_pose

    def update(self, observations: list[PersonObservation], roots_cam_m: np.ndarray | None = None) -> TrackerUpdate:
        """Assign this frame's detections to tracks.

        Args:
            observations: people seen in this frame.
            roots_cam_m: (D, 3) camera-frame root estimate of each detection (metres); NaN rows
                (or None for all) leave the root cost at its maximum for that detection.
        Returns:
            :class:`TrackerUpdate`.
        """
        c = self._config
        D = len(observations)
        roots = np.full((D, 3), np.nan) if roots_cam_m is None else np.asarray(roots_cam_m, dtype=np.float64)
        if roots.shape != (D, 3):
            raise InputError(f'roots_cam_m must be ({D}, 3) for {D} observations, got {roots.shape}')
        T = len(self._tracks)
        costs = self.cost_matrix(observations, roots)
        # Augmented assignment: [[C, dustbin_T], [dustbin_D, 0]] of size (T + D) x (D + T).
        big = 1e6
        aug = np.zeros((T + D, D + T))
        aug[:T, :D] = costs
        aug[:T, D:] = np.where(np.eye(T, dtype=bool), c.max_cost, big)
        aug[T:, :D] = np.where(np.eye(D, dtype=bool), c.max_cost, big)
        rows, cols = linear_sum_assignment(aug)
        matched_track = {}
        for r, col in zip(rows, cols):
            if r < T and col < D and costs[r, col] <= c.max_cost:
                matched_track[r] = col
        matched_dets = set(matched_track.values())

        first_frame = self._frames_seen == 0
        self._frames_seen += 1
        survivors: list[_Track] = []
        ended: list[int] = []
        out: list[TrackedPerson] = []
        for i, track in enumerate(self._tracks):
            track.age += 1
            if i in matched_track:
                j = matched_track[i]
                track.update(observations[j], roots[j], c.velocity_smoothing)
                if not track.confirmed and track.hits >= c.min_hits:
                    track.confirmed = True
                survivors.append(track)
                if track.confirmed:
                    out.append(TrackedPerson(track.track_id, observations[j], roots[j].copy(), track.age, j))
                continue
            track.misses += 1
            if track.confirmed and track.misses <= c.max_misses:
                survivors.append(track)
            else:
                ended.append(track.track_id)
        for j in range(D):
            if j in matched_dets:
                continue
            track = _Track(self._next_id, observations[j], roots[j], confirmed=first_frame or c.min_hits <= 1)
            self._next_id += 1
            survivors.append(track)
            if track.confirmed:
                out.append(TrackedPerson(track.track_id, observations[j], roots[j].copy(), 0, j))
        self._tracks = survivors
        out.sort(key=lambda p: p.track_id)
        return TrackerUpdate(people=tuple(out), ended_track_ids=tuple(ended), costs=costs)
