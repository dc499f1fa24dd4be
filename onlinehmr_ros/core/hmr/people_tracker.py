"""Multi-person tracking with identities that hold through crossings, occlusions and exits (ROS-free).

Each frame the people seen (:class:`~onlinehmr_ros.core.hmr.perception.observation.PersonObservation`,
a camera-frame root estimate, and an :class:`~onlinehmr_ros.core.hmr.perception.appearance.Appearance`)
are assigned to tracks in two stages, each a Hungarian assignment
(``scipy.optimize.linear_sum_assignment``) with a *dustbin* (a pair costing more
than the stage's limit stays unmatched, so a poor match is never forced):

1. **Recent tracks** (seen within ``max_misses`` frames, tentative ones included). The cost mixes
   box overlap with the constant-velocity prediction (``1 - IoU``), the 3D root distance
   (``/ root_scale_m``), the hip-centred 3D pose distance (``/ pose_scale_m``) and the
   appearance distance (``/ appearance_scale``), each clipped to [0, 1] and weighted. An
   observation that continues the track's perception chain (same ``follow_id``: the landmark
   model followed this person's region from the previous frame) costs ``follow_cost``
   instead, unless its appearance contradicts the track (distance above ``appearance_gate``,
   e.g. a region that slid onto someone else). A track that missed frames and is taken up by an
   observation that does *not* continue its chain is being re-identified, so that pair must also
   pass stage 2's appearance limits (``reid_max_distance``, ``reid_max_distance_partial`` for a
   partly occluded view): a person re-emerging from behind a pillar right where another person
   just went behind it otherwise took the other's recent track by box and root alone (tune
   sequence t08: an id switch for one frame, then the appearance gave the right id back).
2. **Re-identification** of the people left over (and of tentative tracks, which are not
   published yet) against every confirmed track not matched in stage 1: the re-identification
   memory. The cost is the appearance distance alone; a pair is possible only when the
   appearance distance is below ``reid_max_distance`` and the person could have walked there:
   the root moved at most ``reach_base_m + max_speed_mps * dt`` in the camera frame. A tentative
   track that is re-identified hands its observation to the old track (its own id is dropped
   before it was ever published).

Appearance memory: each track keeps up to ``gallery_size`` clean views (torso unoccluded),
one every ``gallery_every_n`` matched frames; the distance to a track is the smallest over its
gallery (front and back views differ).

Moving camera: the root positions live in the camera frame (the hmr stage has no camera
pose), so a camera that moves or turns moves everyone. Stage 1 works frame to frame, where
that motion is small; stage 2 relies on appearance, and its motion gate grows with the time
since the track was last seen (``max_speed_mps`` covers a walking person plus the camera's
turn over that time), so it only rules out teleports across the room.

Lifetimes: a new track is *tentative* until matched in ``min_hits`` consecutive frames (a
tentative track that misses a frame is dropped; tracks born in the first frame are confirmed
at once). A confirmed track is published only in frames where it is matched; unmatched, it
stays in the re-identification memory until ``track_timeout_s`` (image-stamp time) has passed
since it was last seen, then it **ends** (``TrackerUpdate.ended_track_ids``: downstream state is
freed and fusion sends its DELETE markers). The memory holds at most ``memory_size`` unseen
tracks (the longest unseen ends first). Track ids come from a counter and are never reused.

The tracker only uses the frames it has been given (causal) and keeps a bounded amount of
state per track and a bounded number of tracks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.perception.appearance import Appearance, appearance_distance
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation, box_iou

_BIG = 1e6


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of :class:`Tracker` (module docstring).

    Attributes:
        weight_iou, weight_root, weight_pose, weight_appearance: relative weights of the stage-1
            costs (normalised over the cues available for a pair).
        root_scale_m: 3D root distance (m) at which the root cost saturates at 1.
        pose_scale_m: mean 3D landmark distance (m, hip-centred) at which the pose cost saturates.
        appearance_scale: appearance distance at which the appearance cost saturates.
        follow_cost: stage-1 cost of an observation that continues the track's perception chain.
        appearance_gate: a clean view (torso unoccluded) further than this from a track's gallery is
            not that person, in either stage (a region that slid onto someone else breaks its chain).
        max_cost: stage-1 dustbin cost in [0, 1].
        reid_max_distance: largest appearance distance of a re-identification from a clean view.
        reid_max_distance_partial: the same from a partly occluded view (less reliable, so stricter).
        reid_wait_frames: a new track whose person might still be someone in the memory (the
            views so far do not tell) stays tentative, unpublished, for up to this many frames
            while waiting for a clean view; then it is published under its new id.
        reach_base_m, max_speed_mps: motion gate of a re-identification after ``dt`` seconds:
            the root may have moved ``reach_base_m + max_speed_mps * dt`` (camera frame).
        depth_weight: weight of the depth (camera z) difference in root distances: a root's depth
            comes from the landmarks' metric size and is several times less certain than its
            lateral position.
        min_hits: consecutive matched frames before a new track is confirmed (birth hysteresis; 3 as SORT's
            default: with 2, a person re-emerging from behind a pillar, whose landmarks the perception lost and
            found again in consecutive frames, was published under a new id for a frame or two before the
            re-identification gave the old id back: two switches).
        max_misses: frames a track stays in stage 1 (box and motion prediction) after its last match.
        track_timeout_s: image-stamp seconds after which an unseen track ends.
        memory_size: most unseen (lost) tracks kept for re-identification.
        gallery_size: appearance views kept per track.
        gallery_every_n: matched frames between two views added to a gallery.
        velocity_smoothing: weight in [0, 1) of the previous velocity in the constant-velocity
            prediction (0: last difference only).
        min_visibility: landmark visibility counted as seen for the pose cost.
    """

    weight_iou: float = 0.35
    weight_root: float = 0.25
    weight_pose: float = 0.1
    weight_appearance: float = 0.3
    root_scale_m: float = 1.0
    pose_scale_m: float = 0.3
    appearance_scale: float = 0.5
    follow_cost: float = 0.05
    appearance_gate: float = 0.5
    max_cost: float = 0.7
    reid_max_distance: float = 0.45
    reid_max_distance_partial: float = 0.15
    reid_wait_frames: int = 15
    reach_base_m: float = 1.0
    max_speed_mps: float = 2.5
    depth_weight: float = 0.3
    min_hits: int = 3
    max_misses: int = 5
    track_timeout_s: float = 10.0
    memory_size: int = 16
    gallery_size: int = 8
    gallery_every_n: int = 5
    velocity_smoothing: float = 0.5
    min_visibility: float = 0.5

    def __post_init__(self):
        w = (self.weight_iou, self.weight_root, self.weight_pose, self.weight_appearance)
        if min(w) < 0 or sum(w) <= 0:
            raise InputError(f'tracker weights must be >= 0 with a positive sum, got {w}')
        if min(self.root_scale_m, self.pose_scale_m, self.appearance_scale) <= 0:
            raise InputError('root_scale_m, pose_scale_m and appearance_scale must be > 0')
        for name in ('max_cost', 'follow_cost', 'appearance_gate', 'reid_max_distance', 'reid_max_distance_partial'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f'{name} must be in [0, 1], got {getattr(self, name)}')
        if self.min_hits < 1 or self.max_misses < 0 or self.reid_wait_frames < 0:
            raise InputError(f'need min_hits >= 1, max_misses >= 0, reid_wait_frames >= 0; got {self.min_hits}, '
                             f'{self.max_misses}, {self.reid_wait_frames}')
        if self.track_timeout_s <= 0 or self.memory_size < 0 or self.gallery_size < 1 or self.gallery_every_n < 1:
            raise InputError('need track_timeout_s > 0, memory_size >= 0, gallery_size >= 1, gallery_every_n >= 1')
        if self.reach_base_m < 0 or self.max_speed_mps < 0 or not 0.0 <= self.depth_weight <= 1.0:
            raise InputError('need reach_base_m >= 0, max_speed_mps >= 0 and depth_weight in [0, 1]')
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
        reidentified: matched by re-identification (stage 2) this frame.
    """

    track_id: int
    observation: PersonObservation
    root_cam_m: np.ndarray
    age_frames: int
    detection_index: int
    reidentified: bool = False


@dataclass(frozen=True)
class TrackerUpdate:
    """Result of one :meth:`Tracker.update`.

    Attributes:
        people: confirmed tracks matched this frame, ordered by track id.
        ended_track_ids: confirmed tracks that ended this frame (timeout or memory bound): free
            their per-track state, delete their markers.
        lost_track_ids: confirmed tracks kept in the re-identification memory, unseen this frame.
        costs: (T, D) stage-1 cost matrix of this frame (diagnostics).
    """

    people: tuple[TrackedPerson, ...]
    ended_track_ids: tuple[int, ...]
    lost_track_ids: tuple[int, ...]
    costs: np.ndarray


class _Track:
    """Internal state of one track (bounded size)."""

    __slots__ = ('track_id', 'box', 'box_velocity', 'root', 'root_velocity', 'landmarks_3d', 'visibility',
                 'hits', 'misses', 'age', 'confirmed', 'last_seen_ns', 'follow_id', 'gallery', 'last_appearance',
                 'since_gallery', 'tentative_frames')

    def __init__(self, track_id: int, obs: PersonObservation, root: np.ndarray, appearance: Appearance | None,
                 stamp_ns: int, confirmed: bool):
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
        self.last_seen_ns = stamp_ns
        self.follow_id = obs.follow_id
        self.gallery: list[Appearance] = []
        self.last_appearance = appearance
        self.since_gallery = 0
        self._remember(appearance, gallery_size=1, every_n=1)
        self.tentative_frames = 0

    def _remember(self, appearance: Appearance | None, gallery_size: int, every_n: int,
                  gate: float = 1.0) -> None:
        if appearance is None:
            return
        self.last_appearance = appearance
        self.since_gallery += 1
        if appearance.clean and (not self.gallery or self.since_gallery >= every_n):
            d = self.appearance_distance(appearance) if self.gallery else 0.0
            if not d > gate:             # a view unlike the gallery is not added (no contamination)
                self.gallery.append(appearance)
                del self.gallery[:-gallery_size]
                self.since_gallery = 0

    def predicted_box(self) -> np.ndarray:
        return self.box + (1 + self.misses) * self.box_velocity

    def predicted_root(self) -> np.ndarray:
        return self.root + (1 + self.misses) * self.root_velocity

    def appearance_distance(self, appearance: Appearance | None) -> float:
        """Smallest distance from ``appearance`` to the gallery of clean views; NaN if either is unknown."""
        if appearance is None or not self.gallery:
            return float('nan')
        d = [appearance_distance(v, appearance) for v in self.gallery]
        d = [x for x in d if np.isfinite(x)]
        return min(d) if d else float('nan')

    def update(self, obs: PersonObservation, root: np.ndarray, appearance: Appearance | None, stamp_ns: int,
               config: 'TrackerConfig', continuing: bool) -> None:
        gap = 1 + self.misses
        s = config.velocity_smoothing if continuing or self.misses <= config.max_misses else 1.0
        box = obs.bbox_px.astype(np.float64)
        root = np.asarray(root, dtype=np.float64)
        if np.all(np.isfinite(box)):
            if self.misses <= config.max_misses:
                self.box_velocity = s * self.box_velocity + (1 - s) * (box - self.box) / gap
            else:
                self.box_velocity = np.zeros(4)
            self.box = box
        if np.all(np.isfinite(root)):
            if self.misses <= config.max_misses and np.all(np.isfinite(self.root)):
                self.root_velocity = s * self.root_velocity + (1 - s) * (root - self.root) / gap
            else:
                self.root_velocity = np.zeros(3)
            self.root = root
        self.landmarks_3d = obs.landmarks_3d_m.astype(np.float64)
        self.visibility = obs.visibility.astype(np.float64)
        self.follow_id = obs.follow_id
        self.hits += 1
        self.misses = 0
        self.last_seen_ns = stamp_ns
        self._remember(appearance, config.gallery_size, config.gallery_every_n, config.appearance_gate)


def pose_distance_m(landmarks_a: np.ndarray, visibility_a: np.ndarray, landmarks_b: np.ndarray,
                    visibility_b: np.ndarray, min_visibility: float) -> float:
    """Mean distance (m) between hip-centred 3D landmarks (33, 3) seen in both; inf if fewer than 3."""
    seen = (visibility_a >= min_visibility) & (visibility_b >= min_visibility)
    seen &= np.all(np.isfinite(landmarks_a), axis=1) & np.all(np.isfinite(landmarks_b), axis=1)
    if seen.sum() < 3:
        return float('inf')
    return float(np.linalg.norm(landmarks_a[seen] - landmarks_b[seen], axis=1).mean())


def root_distance_m(roots_a: np.ndarray, roots_b: np.ndarray, depth_weight: float) -> np.ndarray:
    """Distances between camera-frame roots (..., 3) with the depth difference scaled by ``depth_weight``."""
    d = np.asarray(roots_a, np.float64) - np.asarray(roots_b, np.float64)
    return np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2 + (depth_weight * d[..., 2]) ** 2)


def _assign(costs: np.ndarray, limit: float) -> dict[int, int]:
    """Hungarian assignment of a (T, D) cost matrix with a dustbin at ``limit``: {row: column}.

    A pair costing more than ``limit`` cannot be matched at all: it is barred in the solve, not
    only dropped afterwards (a row and a column left unmatched cost ``2 * limit``, so a barred pair
    costing less than that would otherwise win the solve and take a good pair's row or column
    with it, then be dropped: both people unmatched).
    """
    T, D = costs.shape
    if T == 0 or D == 0:
        return {}
    aug = np.full((T + D, D + T), _BIG)
    aug[:T, :D] = np.where(costs <= limit, np.minimum(costs, _BIG), _BIG)
    aug[:T, D:] = np.where(np.eye(T, dtype=bool), limit, _BIG)
    aug[T:, :D] = np.where(np.eye(D, dtype=bool), limit, _BIG)
    aug[T:, D:] = 0.0
    rows, cols = linear_sum_assignment(aug)
    return {int(r): int(c) for r, c in zip(rows, cols) if r < T and c < D and costs[r, c] <= limit}


class Tracker:
    """Assigns detections to tracks frame by frame (see the module docstring)."""

    def __init__(self, config: TrackerConfig = TrackerConfig()):
        self._config = config
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._frames_seen = 0

    @property
    def config(self) -> TrackerConfig:
        return self._config

    @property
    def num_tracks(self) -> int:
        """Tracks alive (tentative, matched and in the re-identification memory)."""
        return len(self._tracks)

    def reset(self) -> None:
        """Forget every track; ids keep counting up (never reused)."""
        self._tracks = []
        self._frames_seen = 0

    def _recent_costs(self, tracks: list[_Track], observations: list[PersonObservation], roots: np.ndarray,
                      app_dist: np.ndarray, clean: np.ndarray) -> np.ndarray:
        """(T, D) stage-1 costs in [0, 1]."""
        c = self._config
        T, D = len(tracks), len(observations)
        if T == 0 or D == 0:
            return np.zeros((T, D))
        boxes_t = np.stack([t.predicted_box() for t in tracks])
        boxes_d = np.stack([o.bbox_px for o in observations]).astype(np.float64)
        cost_iou = 1.0 - box_iou(boxes_t, boxes_d)
        roots_t = np.stack([t.predicted_root() for t in tracks])
        dist = root_distance_m(roots_t[:, None, :], roots[None, :, :], c.depth_weight)
        cost_root = np.clip(np.nan_to_num(dist / c.root_scale_m, nan=1.0), 0.0, 1.0)
        cost_pose = np.ones((T, D))
        for i, t in enumerate(tracks):
            for j, o in enumerate(observations):
                d = pose_distance_m(t.landmarks_3d, t.visibility, o.landmarks_3d_m, o.visibility, c.min_visibility)
                cost_pose[i, j] = min(1.0, d / c.pose_scale_m)
        cost_app = np.clip(app_dist / c.appearance_scale, 0.0, 1.0)
        has_app = np.isfinite(cost_app)
        w_app = np.where(has_app, c.weight_appearance, 0.0)
        total_w = c.weight_iou + c.weight_root + c.weight_pose + w_app
        cost = (c.weight_iou * cost_iou + c.weight_root * cost_root + c.weight_pose * cost_pose
                + w_app * np.nan_to_num(cost_app)) / total_w
        follow_t = np.array([t.follow_id if t.misses == 0 else -1 for t in tracks])
        follow_d = np.array([o.follow_id for o in observations])
        continuing = (follow_t[:, None] >= 0) & (follow_t[:, None] == follow_d[None, :])
        cost = np.where(continuing, c.follow_cost, cost)
        d_app = np.nan_to_num(app_dist, nan=0.0)
        unlike = clean[None, :] & (d_app > c.appearance_gate)
        # a track that missed frames, taken up by an observation that does not continue its perception chain,
        # is a re-identification: it must pass the re-identification's appearance test (t08-like: a person
        # re-emerging from behind a pillar where another just went behind it took the other's id for a frame)
        resumed = np.array([t.misses > 0 for t in tracks])[:, None] & ~continuing
        limit = np.where(clean, c.reid_max_distance, c.reid_max_distance_partial)[None, :]
        unlike |= resumed & (d_app > limit)
        return np.where(unlike, _BIG, cost)

    def update(self, observations: list[PersonObservation], roots_cam_m: np.ndarray | None = None,
               appearances: list[Appearance | None] | None = None, stamp_ns: int | None = None) -> TrackerUpdate:
        """Assign this frame's detections to tracks.

        Args:
            observations: people seen in this frame.
            roots_cam_m: (D, 3) camera-frame root estimate of each detection (metres); NaN rows
                (or None for all) leave the root cost at its maximum and the motion gate open.
            appearances: one :class:`~onlinehmr_ros.core.hmr.perception.appearance.Appearance` (or
                None) per detection; None for all: no appearance cue (and no re-identification).
            stamp_ns: the image stamp (nanoseconds) for the track timeout; None counts frames at
                30 Hz (tests, streams without stamps).
        Returns:
            :class:`TrackerUpdate`.
        """
        c = self._config
        D = len(observations)
        roots = np.full((D, 3), np.nan) if roots_cam_m is None else np.asarray(roots_cam_m, dtype=np.float64)
        if roots.shape != (D, 3):
            raise InputError(f'roots_cam_m must be ({D}, 3) for {D} observations, got {roots.shape}')
        apps = [None] * D if appearances is None else list(appearances)
        if len(apps) != D:
            raise InputError(f'appearances must have one entry per observation ({D}), got {len(apps)}')
        stamp = int(stamp_ns) if stamp_ns is not None else int(self._frames_seen * 1e9 / 30.0)
        first_frame = self._frames_seen == 0
        self._frames_seen += 1

        app_dist = np.array([[t.appearance_distance(a) for a in apps] for t in self._tracks]).reshape(
            len(self._tracks), D)
        clean = np.array([a is not None and a.clean for a in apps], dtype=bool)

        # Stage 1: recent tracks.
        recent = [i for i, t in enumerate(self._tracks) if t.misses <= c.max_misses]
        costs = self._recent_costs([self._tracks[i] for i in recent], observations, roots, app_dist[recent], clean)
        stage1 = {recent[r]: j for r, j in _assign(costs, c.max_cost).items()}
        continuing = {i: bool(self._tracks[i].follow_id >= 0 and self._tracks[i].misses == 0
                              and observations[j].follow_id == self._tracks[i].follow_id)
                      for i, j in stage1.items()}

        # Stage 2: re-identification of the observations left over or holding a tentative track.
        open_dets = [j for j in range(D) if j not in stage1.values()]
        open_dets += [j for i, j in stage1.items() if not self._tracks[i].confirmed]
        memory = [i for i, t in enumerate(self._tracks) if t.confirmed and i not in stage1]
        reid: dict[int, int] = {}
        undecided: set[int] = set()       # observations that might still be someone in the memory
        if open_dets and memory:
            cost2 = np.full((len(memory), len(open_dets)), _BIG)
            for a, i in enumerate(memory):
                t = self._tracks[i]
                reach = c.reach_base_m + c.max_speed_mps * max(0.0, (stamp - t.last_seen_ns) * 1e-9)
                for b, j in enumerate(open_dets):
                    moved = root_distance_m(roots[j], t.root, c.depth_weight)
                    if np.isfinite(moved) and moved > reach:
                        continue                              # nobody walks that fast
                    d_app = app_dist[i, j]
                    limit = c.reid_max_distance if clean[j] else c.reid_max_distance_partial
                    if np.isfinite(d_app) and d_app <= limit:
                        cost2[a, b] = d_app
                    elif not clean[j] or not t.gallery:
                        undecided.add(j)                      # no clean view of one of them yet
            reid = {memory[a]: open_dets[b] for a, b in _assign(cost2, c.reid_max_distance).items()}
        # a tentative track whose observation was re-identified gives it up (it was never published)
        taken = set(reid.values())
        dropped_tentative = {i for i, j in stage1.items() if j in taken and not self._tracks[i].confirmed}
        matches = {i: j for i, j in stage1.items() if i not in dropped_tentative}
        matches.update(reid)

        survivors: list[_Track] = []
        ended: list[int] = []
        lost: list[int] = []
        out: list[TrackedPerson] = []
        for i, track in enumerate(self._tracks):
            if i in dropped_tentative:
                continue
            track.age += 1
            if i in matches:
                j = matches[i]
                track.update(observations[j], roots[j], apps[j], stamp, c, continuing.get(i, False))
                if not track.confirmed:
                    track.tentative_frames += 1
                    waiting = j in undecided and track.tentative_frames < c.reid_wait_frames
                    if track.hits >= c.min_hits and not waiting:
                        track.confirmed = True
                survivors.append(track)
                if track.confirmed:
                    out.append(TrackedPerson(track.track_id, observations[j], roots[j].copy(), track.age, j,
                                             i in reid))
                continue
            track.misses += 1
            if not track.confirmed:
                continue                      # a tentative track that misses a frame is dropped
            if (stamp - track.last_seen_ns) * 1e-9 > c.track_timeout_s:
                ended.append(track.track_id)
                continue
            survivors.append(track)
            lost.append(track.track_id)
        # bounded memory: the longest-unseen lost tracks end first
        unseen = sorted((t for t in survivors if t.confirmed and t.misses > 0), key=lambda t: t.last_seen_ns)
        for t in unseen[:max(0, len(unseen) - c.memory_size)]:
            survivors.remove(t)
            ended.append(t.track_id)
            lost.remove(t.track_id)
        matched_dets = set(matches.values())
        for j in range(D):
            if j in matched_dets:
                continue
            track = _Track(self._next_id, observations[j], roots[j], apps[j], stamp,
                           confirmed=first_frame or c.min_hits <= 1)
            self._next_id += 1
            survivors.append(track)
            if track.confirmed:
                out.append(TrackedPerson(track.track_id, observations[j], roots[j].copy(), 0, j))
        self._tracks = survivors
        out.sort(key=lambda p: p.track_id)
        return TrackerUpdate(people=tuple(out), ended_track_ids=tuple(sorted(ended)), lost_track_ids=tuple(sorted(lost)),
                             costs=costs)
