"""Detect, then follow: several people per frame at about one landmark call each (ROS-free).

:class:`FollowingPoseBackend` keeps, for every person it has found, the region
of interest computed from that person's landmarks in the previous frame, and
runs BlazePose's landmark model there (:class:`~.blazepose.BlazePoseRoiLandmarker`),
the loop mediapipe's single-person solution runs for one person, here for up
to ``max_people``. The person detector (:class:`~.blazepose.BlazePoseDetector`)
runs only to find people who are not followed yet:

* on the whole frame every ``detect_every_n_frames`` frames while fewer than
  ``max_people`` are followed, on every frame while nobody is followed, and on
  the frames right after a followed person was lost (they may come back from
  behind someone);
* on **tiles** for small people (SAT-HMR's point, ``seeds/sat-hmr.md``: spend
  resolution only where it is needed). The detector sees the frame at 224 px,
  so a person shorter than about a third of the image height is rarely found
  in the full frame; a tile of ``tile_size_px`` gives it several times more
  pixels. ``small_people``:

  - ``'on'``: ``tiles_per_frame`` tiles every frame (round robin over the tiling);
  - ``'off'``: never;
  - ``'auto'`` (default): tiles run at that rate while there is *evidence of small
    people* (a followed person shorter than ``small_height_frac`` of the image,
    a person found by a tile, or, while nobody is followed, a frame whose full-frame
    pass and tiles found nobody), for ``evidence_hold_frames`` frames after the last
    evidence; otherwise one tile rides along with each full-frame detection
    pass, so a whole sweep of the image still happens now and then at a cost
    of one detector call per pass. The first frame of a stream sweeps every
    tile once.

A new detection is a person already followed when its hip centre lies within
``same_person_frac`` of a followed person's body size from that person's hip
centre, or when its landmarks *lie on* a followed person's: like COCO's object
keypoint similarity, the share of the landmarks seen in both that are closer
than ``duplicate_dist_frac`` of the smaller box height reaches
``duplicate_overlap``. This is what a second follow on one person looks like: the
landmark model run on a region around someone's face or chest reads a smaller
body there and puts its face (and shoulder) landmarks on that person's own,
while the hips, the box and the hip centre are far from the person's; another
person, even one standing behind, half hidden (Megamind's man behind the woman),
has landmarks of their own, elsewhere. Two follows that converge on one person
(the region of someone walking behind another slides onto the nearer one, or a
second follow on the same person) are merged the same way: the one whose hip
centre jumped more since the previous frame is dropped. Each observation carries its
``follow_id`` (the same id frame after frame while the region chain is unbroken),
which the tracker uses as evidence of continuity.

Cost per frame: one landmark call per followed person, plus the detector calls
this policy schedules (``last_stats``). With one large person in view it is the
legacy solution's cost plus one detector call every ``detect_every_n_frames``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from onlinehmr_ros.core.common.datatypes import Frame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.perception.blazepose import (BlazePoseDetector, BlazePoseRoiLandmarker, PoseDetection,
                                                         RotatedRoi)
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation, PoseBackend

SMALL_PEOPLE_MODES = ('auto', 'on', 'off')
_HIPS = (23, 24)


@dataclass(frozen=True)
class FollowConfig:
    """Settings of :class:`FollowingPoseBackend` (module docstring).

    How many people and whether tiles run are the backend's arguments (``max_people``,
    ``small_people``), the hmr stage's top-level settings.

    Attributes:
        detect_every_n_frames: full-frame detection cadence while fewer than ``max_people`` are
            followed (a newcomer is found within this many frames).
        redetect_after_loss_frames: after a followed person is lost, run the full-frame detector on
            this many following frames (people re-emerging from behind someone).
        tile_size_px: side of the square detection tiles, pixels.
        tile_overlap: overlap of neighbouring tiles, fraction of the side.
        tiles_per_frame: tiles per frame while tiles are on.
        small_height_frac: a followed person whose box is shorter than this fraction of the image
            height is evidence of small people (``'auto'``).
        evidence_hold_frames: ``'auto'`` keeps the tiles on this many frames after the last evidence.
        min_detection_score: the detector's score threshold in [0, 1].
        min_presence: the landmark model's pose-presence threshold in [0, 1].
        min_new_score: a new person's landmarks need at least this mean visibility (rejects
            detections on clutter).
        max_tilt_deg: detections whose body axis is further than this from upright are dropped
            (the detector reports the same person a second time upside down at low thresholds).
        same_person_frac: two hip centres closer than this fraction of the body size (region side
            / 1.25 / 2, about the hip-to-head distance) are the same person.
        roi_velocity: extrapolate each region by its last centre velocity (0: where it was; 1: full).
        duplicate_dist_frac: two people's landmarks *coincide* when closer than this fraction of the
            smaller of their box heights.
        duplicate_overlap: two follows (or a new person and a follow) whose coinciding landmarks are at
            least this share of the landmarks seen in both (and at least ``min_shared_landmarks``
            of them) are one person: the newer, or the one that jumped, is dropped.
        min_shared_landmarks: fewest landmarks seen in both for the overlap to count.
        part_inside_frac, part_head_frac: a person whose box lies at least ``part_inside_frac``
            inside a followed person's box *and* whose head (nose landmark) lies on one of that
            person's visible landmarks (closer than ``part_head_frac`` of that person's box height)
            is a part of that person (a face, a hand the landmark model read as a body): not
            followed. Someone standing behind a followed person, nested in their box, has a head of
            their own, away from the front person's landmarks, and is followed.
        segmentation: also compute each person's mask (a few ms per person).
    """

    detect_every_n_frames: int = 3
    redetect_after_loss_frames: int = 15
    tile_size_px: int = 256
    tile_overlap: float = 0.25
    tiles_per_frame: int = 1
    small_height_frac: float = 0.3
    evidence_hold_frames: int = 90
    min_detection_score: float = 0.3
    min_presence: float = 0.5
    min_new_score: float = 0.5
    max_tilt_deg: float = 60.0
    same_person_frac: float = 0.35
    roi_velocity: float = 0.5
    duplicate_dist_frac: float = 0.1
    duplicate_overlap: float = 0.5
    min_shared_landmarks: int = 5
    part_inside_frac: float = 0.8
    part_head_frac: float = 0.1
    segmentation: bool = False

    def __post_init__(self):
        if self.detect_every_n_frames < 1 or self.redetect_after_loss_frames < 0 or self.tiles_per_frame < 0:
            raise InputError('need detect_every_n_frames >= 1, redetect_after_loss_frames >= 0, tiles_per_frame >= 0')
        if self.tile_size_px < 64 or not 0.0 <= self.tile_overlap < 0.9:
            raise InputError(f'need tile_size_px >= 64 and 0 <= tile_overlap < 0.9, got {self.tile_size_px}, '
                             f'{self.tile_overlap}')
        for name in ('min_detection_score', 'min_presence', 'min_new_score', 'small_height_frac', 'roi_velocity',
                     'part_inside_frac', 'part_head_frac', 'duplicate_overlap'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f'{name} must be in [0, 1], got {getattr(self, name)}')
        if not 0.0 < self.max_tilt_deg <= 180.0 or self.same_person_frac <= 0.0:
            raise InputError('need 0 < max_tilt_deg <= 180 and same_person_frac > 0')
        if self.duplicate_dist_frac <= 0.0 or self.min_shared_landmarks < 1:
            raise InputError(f'need duplicate_dist_frac > 0 and min_shared_landmarks >= 1, got '
                             f'{self.duplicate_dist_frac}, {self.min_shared_landmarks}')


#: most people one backend follows (the cost grows by one landmark call per person)
MAX_PEOPLE_CAP = 32


def check_people_settings(max_people: int, small_people: str) -> None:
    """Raise :class:`InputError` unless ``1 <= max_people <= MAX_PEOPLE_CAP`` and ``small_people`` is a mode."""
    if not 1 <= int(max_people) <= MAX_PEOPLE_CAP:
        raise InputError(f'max_people must be in 1-{MAX_PEOPLE_CAP}, got {max_people}')
    if small_people not in SMALL_PEOPLE_MODES:
        raise InputError(f'small_people must be one of {SMALL_PEOPLE_MODES}, got {small_people!r}')


def tile_origins(length_px: int, tile_px: int, overlap: float) -> list[int]:
    """Start offsets of overlapping tiles of ``tile_px`` covering ``[0, length_px)`` (the last one flush)."""
    if tile_px >= length_px:
        return [0]
    step = max(1, int(round(tile_px * (1.0 - overlap))))
    starts = list(range(0, length_px - tile_px + 1, step))
    if starts[-1] != length_px - tile_px:
        starts.append(length_px - tile_px)
    return starts


def box_inside_fraction(box_px: np.ndarray, container_px: np.ndarray) -> float:
    """Fraction of the area of box ``(x0, y0, x1, y1)`` that lies inside ``container_px`` (0 for an empty box)."""
    x0, y0 = max(box_px[0], container_px[0]), max(box_px[1], container_px[1])
    x1, y1 = min(box_px[2], container_px[2]), min(box_px[3], container_px[3])
    area = max(0.0, float(box_px[2] - box_px[0])) * max(0.0, float(box_px[3] - box_px[1]))
    inter = max(0.0, float(x1 - x0)) * max(0.0, float(y1 - y0))
    return inter / area if area > 0 else 0.0


def landmark_overlap(a: PersonObservation, b: PersonObservation, dist_frac: float, min_shared: int = 5,
                     min_visibility: float = 0.5) -> float:
    """Share of the landmarks seen in both ``a`` and ``b`` (visibility >= ``min_visibility``) that lie
    closer than ``dist_frac`` of the smaller box height: 1 when one person's landmarks lie on the
    other's, 0 for two people side by side (and 0 when fewer than ``min_shared`` are seen in both)."""
    seen = (a.visibility >= min_visibility) & (b.visibility >= min_visibility)
    seen &= np.all(np.isfinite(a.landmarks_px), axis=1) & np.all(np.isfinite(b.landmarks_px), axis=1)
    if int(seen.sum()) < max(1, min_shared):
        return 0.0
    scale = min(a.box_height_px, b.box_height_px)
    if not scale > 0:
        return 0.0
    gaps = np.linalg.norm(a.landmarks_px[seen] - b.landmarks_px[seen], axis=1)
    return float(np.mean(gaps < dist_frac * scale))


def head_on_landmarks(obs: PersonObservation, other: PersonObservation, dist_frac: float,
                      min_visibility: float = 0.5) -> bool:
    """``obs``'s nose lies closer than ``dist_frac`` of ``other``'s box height to one of ``other``'s
    visible landmarks (its face, a hand: what a reading of a body part looks like)."""
    seen = (other.visibility >= min_visibility) & np.all(np.isfinite(other.landmarks_px), axis=1)
    if not seen.any() or not np.all(np.isfinite(obs.landmarks_px[0])):
        return False
    gaps = np.linalg.norm(other.landmarks_px[seen] - obs.landmarks_px[0], axis=1)
    return bool(gaps.min() < dist_frac * other.box_height_px)


def hip_centre_px(observation: PersonObservation) -> np.ndarray:
    """(2,) the middle of the two hip landmarks, pixels."""
    return 0.5 * (observation.landmarks_px[_HIPS[0]] + observation.landmarks_px[_HIPS[1]])


class _Follow:
    __slots__ = ('follow_id', 'roi', 'velocity', 'observation', 'age')

    def __init__(self, follow_id: int, roi: RotatedRoi, observation: PersonObservation):
        self.follow_id = follow_id
        self.roi = roi
        self.velocity = np.zeros(2, dtype=np.float32)
        self.observation = observation
        self.age = 0

    @property
    def body_size_px(self) -> float:
        return self.roi.side_px / 2.5


class FollowingPoseBackend(PoseBackend):
    """Detect, then follow each person with the landmark model (module docstring).

    Args:
        config: :class:`FollowConfig`.
        max_people: most people followed at once (1-:data:`MAX_PEOPLE_CAP`).
        small_people: ``'auto'``, ``'on'`` or ``'off'`` (module docstring).
        detector: a :class:`~.blazepose.BlazePoseDetector` (made from ``config`` when None).
        landmarker: a :class:`~.blazepose.BlazePoseRoiLandmarker` (made from ``config`` when None).
    """

    def __init__(self, config: FollowConfig = FollowConfig(), max_people: int = 6, small_people: str = 'auto',
                 detector: BlazePoseDetector | None = None, landmarker: BlazePoseRoiLandmarker | None = None):
        check_people_settings(max_people, small_people)
        self.config = config
        self.max_people = int(max_people)
        self.small_people = small_people
        self._detector = detector or BlazePoseDetector(config.min_detection_score)
        self._landmarker = landmarker or BlazePoseRoiLandmarker(config.min_presence, config.segmentation)
        self._follows: list[_Follow] = []
        self._next_id = 0
        self.last_stats: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        self._follows = []
        self._frame = 0
        self._last_detect = -10 ** 9
        self._redetect_until = -1
        self._evidence_until = -1      # small people seen (followed or found by a tile) until then
        self._empty_until = -1         # nobody found anywhere until then: counts while nobody is followed
        self._tile_cursor = 0

    def close(self) -> None:
        self._detector.close()
        self._landmarker.close()

    # -- policy ---------------------------------------------------------------------------------
    def _tiles(self, width_px: int, height_px: int) -> list[tuple[int, int, int, int]]:
        c = self.config
        out = []
        for y0 in tile_origins(height_px, c.tile_size_px, c.tile_overlap):
            for x0 in tile_origins(width_px, c.tile_size_px, c.tile_overlap):
                out.append((x0, y0, min(width_px, x0 + c.tile_size_px), min(height_px, y0 + c.tile_size_px)))
        return out

    def _next_tiles(self, tiles: list, count: int) -> list:
        picked = [tiles[(self._tile_cursor + k) % len(tiles)] for k in range(min(count, len(tiles)))]
        self._tile_cursor = (self._tile_cursor + len(picked)) % len(tiles)
        return picked

    # -- one frame ------------------------------------------------------------------------------
    def detect(self, frame: Frame) -> list[PersonObservation]:
        c = self.config
        img = frame.image_rgb
        W, H = frame.width_px, frame.height_px
        previous_centres = {f.follow_id: hip_centre_px(f.observation) for f in self._follows}

        # 1. follow everyone already found
        kept: list[_Follow] = []
        lost = 0
        for f in self._follows:
            roi = f.roi
            if c.roi_velocity > 0:
                roi = replace(roi, centre_px=roi.centre_px + c.roi_velocity * f.velocity)
            res = self._landmarker.landmarks(img, roi)
            if res is None or not self._plausible(res.observation, W, H):
                lost += 1
                continue
            new_centre = res.roi_next.centre_px
            f.velocity = (new_centre - f.roi.centre_px).astype(np.float32)
            f.roi, f.observation = res.roi_next, res.observation
            f.age += 1
            kept.append(f)
        kept, merged = self._merge(kept, previous_centres)
        self._follows = kept
        if lost or merged:
            self._redetect_until = self._frame + c.redetect_after_loss_frames

        # 2. decide which detector passes run this frame
        n_full = n_tiles = 0
        found_nobody = False
        candidates: list[PoseDetection] = []
        from_tiles: list[bool] = []
        first = self._frame == 0
        room = len(self._follows) < self.max_people
        full_due = room and (not self._follows or self._frame - self._last_detect >= c.detect_every_n_frames
                             or self._frame <= self._redetect_until)
        if full_due:
            found = self._detector.detect(img)
            n_full = 1
            self._last_detect = self._frame
            candidates += found
            from_tiles += [False] * len(found)
            found_nobody = not found and not self._follows      # evidence unless a tile finds a large person below
        if any(f.observation.box_height_px < c.small_height_frac * H for f in self._follows):
            self._evidence_until = self._frame + c.evidence_hold_frames
        tiles: list = []
        if room and self.small_people != 'off':
            all_tiles = self._tiles(W, H)
            if first:
                tiles = all_tiles
            elif self.small_people == 'on' or self._frame <= self._evidence_until or \
                    (not self._follows and self._frame <= self._empty_until):
                tiles = self._next_tiles(all_tiles, c.tiles_per_frame)
            elif full_due:
                tiles = self._next_tiles(all_tiles, 1)
        for x0, y0, x1, y1 in tiles:
            found = [d.offset(x0, y0) for d in self._detector.detect(img[y0:y1, x0:x1])]
            n_tiles += 1
            candidates += found
            from_tiles += [True] * len(found)

        # 3. new people: detections that are nobody followed yet
        n_new = 0
        order = np.argsort([-d.score for d in candidates], kind='stable')
        for k in order:
            if len(self._follows) >= self.max_people:
                break
            d = candidates[k]
            roi = d.roi()
            if abs(math.degrees(roi.rotation_rad)) > c.max_tilt_deg or self._is_followed(d.centre_px):
                continue
            res = self._landmarker.landmarks(img, roi)
            if res is None or res.observation.score < c.min_new_score or not self._plausible(res.observation, W, H):
                continue
            if self._is_followed(hip_centre_px(res.observation)) or self._part_of_followed(res.observation) \
                    or self._lies_on_followed(res.observation):
                continue
            self._follows.append(_Follow(self._next_id, res.roi_next, res.observation))
            self._next_id += 1
            n_new += 1
            if from_tiles[k]:
                self._evidence_until = self._frame + c.evidence_hold_frames

        if found_nobody and n_new == 0:
            self._empty_until = self._frame + c.evidence_hold_frames
        self._frame += 1
        self.last_stats = {'followed': len(self._follows), 'new': n_new, 'lost': lost, 'merged': merged,
                           'detector_full': n_full, 'detector_tiles': n_tiles,
                           'landmark_calls': len(previous_centres) + n_new}
        return [replace(f.observation, follow_id=f.follow_id) for f in self._follows]

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _plausible(obs: PersonObservation, width_px: int, height_px: int, min_inside: int = 5) -> bool:
        """Landmarks finite and at least ``min_inside`` visible ones inside the image (not a region that
        drifted off it; the hips may well be below the frame of a close-up)."""
        if not np.all(np.isfinite(obs.landmarks_px)):
            return False
        u, v = obs.landmarks_px[:, 0], obs.landmarks_px[:, 1]
        inside = (u >= 0) & (u < width_px) & (v >= 0) & (v < height_px) & (obs.visibility >= 0.5)
        return int(inside.sum()) >= min_inside

    def _is_followed(self, centre_px: np.ndarray) -> bool:
        c = self.config
        return any(np.linalg.norm(hip_centre_px(f.observation) - centre_px) < c.same_person_frac * f.body_size_px
                   for f in self._follows)

    def _duplicates(self, a: PersonObservation, b: PersonObservation) -> bool:
        c = self.config
        return landmark_overlap(a, b, c.duplicate_dist_frac, c.min_shared_landmarks) >= c.duplicate_overlap

    def _lies_on_followed(self, obs: PersonObservation) -> bool:
        """``obs``'s landmarks lie on a followed person's (a second reading of someone followed)."""
        return any(self._duplicates(obs, f.observation) for f in self._follows)

    def _part_of_followed(self, obs: PersonObservation, follows: list[_Follow] | None = None) -> bool:
        """``obs``'s box lies mostly inside a followed person's box and its head on that person's
        landmarks (FollowConfig)."""
        c = self.config
        for f in self._follows if follows is None else follows:
            if f.observation is obs:
                continue
            if box_inside_fraction(obs.bbox_px, f.observation.bbox_px) >= c.part_inside_frac and \
                    head_on_landmarks(obs, f.observation, c.part_head_frac):
                return True
        return False

    def _merge(self, follows: list[_Follow], previous_centres: dict) -> tuple[list[_Follow], int]:
        """Drop follows that slid onto a person another follow already holds (their landmarks coincide)."""
        c = self.config
        dropped: set[int] = set()
        for i in range(len(follows)):
            for j in range(i + 1, len(follows)):
                a, b = follows[i], follows[j]
                if a.follow_id in dropped or b.follow_id in dropped:
                    continue
                size = min(a.body_size_px, b.body_size_px)
                gap = float(np.mean(np.linalg.norm(a.observation.landmarks_px - b.observation.landmarks_px, axis=1)))
                if gap >= c.same_person_frac * size and not self._duplicates(a.observation, b.observation):
                    continue
                ca, cb = hip_centre_px(a.observation), hip_centre_px(b.observation)
                jump_a = np.linalg.norm(ca - previous_centres.get(a.follow_id, ca))
                jump_b = np.linalg.norm(cb - previous_centres.get(b.follow_id, cb))
                dropped.add(a.follow_id if jump_a > jump_b else b.follow_id)
        for f in follows:           # a follow that shrank onto a part of another person (a face, a hand)
            if f.follow_id not in dropped and self._part_of_followed(
                    f.observation, [g for g in follows if g.follow_id not in dropped]):
                dropped.add(f.follow_id)
        return [f for f in follows if f.follow_id not in dropped], len(dropped)
