"""People as REP-155 (ros4hri) bodies: ids, the 2D skeleton, the region of interest, body lifetimes.

REP-155 (https://ros.org/reps/rep-0155.html, "Conventions, Topics, Interfaces for Perception in
Human-Robot Interaction", rep repository commit 9650566f) lists tracked bodies on
``/humans/bodies/tracked`` (``hri_msgs/IdsList``) and gives each body a namespace
``/humans/bodies/<bodyID>/`` with ``roi`` (``hri_msgs/NormalizedRegionOfInterest2D``),
``skeleton2d`` (``hri_msgs/Skeleton2D``) and ``joint_states``; TF frames are ``body_<bodyID>``
and the links of the human kinematic model suffixed ``_<bodyID>``
(:mod:`onlinehmr_ros.core.body.human_description`). This module is the ROS-free part of that
mapping; ``onlinehmr_ros.ros.hri`` builds the messages.

Ids: a body id is ``<prefix><track_id>`` (default ``b3`` for track 3): the same person as
``track_id`` 3 on ``/human/camera_humans`` and ``/human/world_humans``. ROS 2 names may not
have a token that starts with a digit, so the bare number cannot be a topic namespace; REP-155
also recommends ids that start with a letter. Track ids are never reused within a run.

Image coordinates: ``hri_msgs`` normalises by the image size, (0, 0) top-left, (1, 1)
bottom-right, every value in [0, 1]; points outside the image are clipped into it with
confidence 0.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from onlinehmr_ros.core.body import human_description as hd
from onlinehmr_ros.core.body.skeleton import COCO_KEYPOINT_NAMES, SMPL_JOINT_NAMES
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, HumanState
from onlinehmr_ros.core.common.geometry import project_points

#: hri_msgs/Skeleton2D's 18 points in the order of its constants (OpenPose's COCO-18 layout)
SKELETON2D_NAMES: tuple[str, ...] = (
    'nose', 'neck', 'right_shoulder', 'right_elbow', 'right_wrist', 'left_shoulder', 'left_elbow',
    'left_wrist', 'right_hip', 'right_knee', 'right_ankle', 'left_hip', 'left_knee', 'left_ankle',
    'left_eye', 'right_eye', 'left_ear', 'right_ear',
)
#: SMPL-24 joint whose confidence a Skeleton2D point takes (face points: the head)
_CONFIDENCE_JOINT = {
    'nose': 'head', 'left_eye': 'head', 'right_eye': 'head', 'left_ear': 'head', 'right_ear': 'head',
    'neck': 'neck', **{f'{s}_{p}': f'{s}_{p}' for s in ('left', 'right')
                       for p in ('shoulder', 'elbow', 'wrist', 'hip', 'knee', 'ankle')},
}
_ID_PREFIX = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')


class HriError(ValueError):
    """Invalid REP-155 input (body id prefix, id, shapes)."""


# ----------------------------------------------------------------------------
# Ids
# ----------------------------------------------------------------------------
def check_id_prefix(prefix: str) -> str:
    """Return ``prefix`` if ``<prefix><n>`` is a valid ROS name token and REP-155 id.

    Raises:
        HriError: empty, or not a letter followed by letters, digits or underscores.
    """
    if not _ID_PREFIX.match(prefix or ''):
        raise HriError(f"body id prefix '{prefix}' is not valid: use a letter followed by letters, digits or "
                       "underscores (ROS names may not start with a digit)")
    return prefix


def body_id(track_id: int, prefix: str = 'b') -> str:
    """REP-155 body id of a track: ``<prefix><track_id>``."""
    if int(track_id) < 0:
        raise HriError(f'track ids are non-negative, got {track_id}')
    return f'{check_id_prefix(prefix)}{int(track_id)}'


def track_id_of(body: str, prefix: str = 'b') -> int:
    """Inverse of :func:`body_id`.

    Raises:
        HriError: ``body`` is not ``<prefix><digits>``.
    """
    check_id_prefix(prefix)
    if not (body.startswith(prefix) and body[len(prefix):].isdigit()):
        raise HriError(f"'{body}' is not a body id of the form {prefix}<track id>")
    return int(body[len(prefix):])


# ----------------------------------------------------------------------------
# 2D: skeleton and region of interest
# ----------------------------------------------------------------------------
def _normalise(uv_px: np.ndarray, intr: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) pixels (NaN behind the camera) -> (N, 2) clipped normalised coordinates, (N,) inside mask."""
    xy = uv_px / np.array([intr.width_px, intr.height_px], dtype=np.float64)
    finite = np.all(np.isfinite(xy), axis=1)
    inside = finite & np.all((xy >= 0.0) & (xy <= 1.0), axis=1)
    return np.clip(np.where(finite[:, None], xy, 0.0), 0.0, 1.0), inside


def skeleton2d(human: HumanState, intr: CameraIntrinsics) -> np.ndarray:
    """The 18 points of ``hri_msgs/Skeleton2D`` for a person in the camera optical frame.

    The COCO keypoints of the fitted body (``human.keypoints_coco``) projected into the image;
    the neck, which COCO lacks, is the mid-point of the shoulders (as hri_fullbody does).

    Args:
        human: a person whose positions are in the optical frame of the camera of ``intr``.
        intr: that camera's intrinsics and image size.
    Returns:
        (18, 3) float32 rows ``(x, y, c)`` in :data:`SKELETON2D_NAMES` order: x, y normalised to
        [0, 1]; c the confidence of the corresponding joint (``joint_confidence``), 0 for points
        behind the camera or outside the image (their x, y clipped into [0, 1]).
    Raises:
        HriError: fewer than 17 keypoints or not 24 joint confidences.
    """
    kp = np.asarray(human.keypoints_coco, dtype=np.float64)
    conf = np.asarray(human.joint_confidence, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[0] < 17 or kp.shape[1] != 3 or conf.shape != (len(SMPL_JOINT_NAMES),):
        raise HriError(f'track {human.track_id}: need (>=17, 3) COCO keypoints and 24 joint confidences, got '
                       f'{kp.shape} and {conf.shape}')
    k = {n: kp[i] for i, n in enumerate(COCO_KEYPOINT_NAMES[:17])}
    k['neck'] = 0.5 * (k['left_shoulder'] + k['right_shoulder'])
    points = np.stack([k[n] for n in SKELETON2D_NAMES])
    uv, _ = project_points(intr.K, points)
    xy, inside = _normalise(uv, intr)
    jc = {n: conf[i] for i, n in enumerate(SMPL_JOINT_NAMES)}
    c = np.array([jc[_CONFIDENCE_JOINT[n]] for n in SKELETON2D_NAMES]) * inside
    return np.concatenate([xy, np.clip(c, 0.0, 1.0)[:, None]], axis=1).astype(np.float32)


@dataclass(frozen=True)
class RegionOfInterest:
    """A normalised box, as ``hri_msgs/NormalizedRegionOfInterest2D``; ``source`` says what it bounds."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    c: float
    source: str                 # 'mesh' (projected vertices) or 'skeleton' (joints and keypoints)


def region_of_interest(human: HumanState, intr: CameraIntrinsics) -> RegionOfInterest | None:
    """The body's box in the image: the projected mesh, or the skeleton when the message had no mesh.

    A box around joints and keypoints is smaller than the silhouette (joints lie inside the
    limbs); ``source`` says which one was used so the caller can report it.

    Returns:
        the box clipped to the image with ``c = human.confidence``, or None when no point of the
        body lies in front of the camera and inside the image.
    """
    verts = np.asarray(human.vertices, dtype=np.float64).reshape(-1, 3)
    if verts.shape[0]:
        points, source = verts, 'mesh'
    else:
        points = np.concatenate([np.asarray(human.joints, np.float64).reshape(-1, 3),
                                 np.asarray(human.keypoints_coco, np.float64).reshape(-1, 3)])
        source = 'skeleton'
    uv, _ = project_points(intr.K, points)
    uv = uv[np.all(np.isfinite(uv), axis=1)]
    if not uv.shape[0]:
        return None
    lo = uv.min(axis=0) / (intr.width_px, intr.height_px)
    hi = uv.max(axis=0) / (intr.width_px, intr.height_px)
    if np.any(hi < 0.0) or np.any(lo > 1.0):
        return None
    lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
    return RegionOfInterest(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]),
                            float(np.clip(human.confidence, 0.0, 1.0)), source)


# ----------------------------------------------------------------------------
# Body lifetimes
# ----------------------------------------------------------------------------
@dataclass
class BodyUpdate:
    """What changed with one frame of people (ids in the order the people came)."""

    tracked: list[str]                            # ids in this frame: the /humans/bodies/tracked list
    new: list[str] = field(default_factory=list)  # first seen now: create their topics
    gone: list[str] = field(default_factory=list) # not seen for longer than the timeout: remove their topics


class BodyRegistry:
    """Which bodies exist, so that per-body topics are created once and removed when a person leaves.

    A body is *tracked* in a frame where its person is seen; its topics live on until it has not
    been seen for ``timeout_ns`` of stamp time (so that a person missed in one frame keeps them).
    """

    def __init__(self, prefix: str = 'b', timeout_ns: int = 1_000_000_000):
        self.prefix = check_id_prefix(prefix)
        self.timeout_ns = int(timeout_ns)
        self.last_seen_ns: dict[str, int] = {}

    def update(self, stamp_ns: int, track_ids) -> BodyUpdate:
        ids = [body_id(t, self.prefix) for t in track_ids]
        new = [b for b in ids if b not in self.last_seen_ns]
        for b in ids:
            self.last_seen_ns[b] = int(stamp_ns)
        gone = [b for b, t in self.last_seen_ns.items() if int(stamp_ns) - t > self.timeout_ns]
        for b in gone:
            del self.last_seen_ns[b]
        return BodyUpdate(ids, new, gone)

    @property
    def known(self) -> list[str]:
        return list(self.last_seen_ns)


# ----------------------------------------------------------------------------
# Everything the hri node publishes, per frame
# ----------------------------------------------------------------------------
@dataclass
class Body2D:
    """A body's 2D outputs for one image: the Skeleton2D points and the ROI (None: not in the image)."""

    body: str
    skeleton: np.ndarray          # (18, 3) normalised (x, y, c)
    roi: RegionOfInterest | None


@dataclass
class Body3D:
    """A body's 3D outputs for one world frame (``error`` set, and nothing else, when the model
    could not be fitted to its skeleton)."""

    body: str
    T_frame_body: np.ndarray | None = None     # (4, 4) REP-155 body frame in the frame of the people
    angles: np.ndarray | None = None           # (20,) human_description joint values
    dimensions: hd.BodyDimensions | None = None   # the body's model lengths (fixed when first seen)
    first: bool = False                        # first 3D output of this body: publish its URDF now
    outside_limits: bool = False               # some value outside the template's joint limits
    error: str = ''


class Rep155Bodies:
    """The REP-155 view of the pipeline's people: which bodies exist and what to publish for each.

    Camera-space frames (each processed image) drive the tracked list, the bodies' lifetimes and
    the 2D outputs; world-space frames give the 3D outputs of bodies that exist. A body's model
    lengths are measured on its first world-space skeleton and kept (its URDF is published once,
    latched, as hri_fullbody does).
    """

    def __init__(self, prefix: str = 'b', timeout_ns: int = 1_000_000_000):
        self.registry = BodyRegistry(prefix, timeout_ns)
        self.dimensions: dict = {}

    def camera_frame(self, humans: tuple[HumanState, ...], stamp_ns: int,
                     intr: CameraIntrinsics | None) -> tuple[BodyUpdate, list[Body2D]]:
        """Update the bodies with the people of one image; their 2D outputs (none without ``intr``)."""
        update = self.registry.update(stamp_ns, [h.track_id for h in humans])
        for body in update.gone:
            self.dimensions.pop(body, None)
        if intr is None:
            return update, []
        return update, [Body2D(b, skeleton2d(h, intr), region_of_interest(h, intr))
                        for b, h in zip(update.tracked, humans)]

    def world_frame(self, humans: tuple[HumanState, ...]) -> list[Body3D]:
        """3D outputs of the people of one world frame whose body exists (seen in a camera frame)."""
        out = []
        known = set(self.registry.known)
        for h in humans:
            body = body_id(h.track_id, self.registry.prefix)
            if body not in known:
                continue
            try:
                T = hd.body_frame(h.joints)
                angles = hd.joint_angles(h.joints, h.keypoints_coco, T)
                first = body not in self.dimensions
                if first:
                    self.dimensions[body] = hd.BodyDimensions.measured(h.joints, h.keypoints_coco)
            except hd.HumanDescriptionError as exc:
                out.append(Body3D(body, error=str(exc)))
                continue
            out.append(Body3D(body, T, angles, self.dimensions[body], first, bool(hd.outside_limits(angles).any())))
        return out
