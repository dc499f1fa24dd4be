"""Typed contracts between the stages of the pipeline (ROS-free).

Every stage takes and returns these frozen dataclasses; the ROS nodes convert
messages to and from them (``onlinehmr_ros.ros.convert``) and nothing else.
Shapes are given in the field comments; units are metres, radians, pixels
(``_px``) and nanoseconds (``_ns``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import T_world_cam_metric, intrinsics_from_fov


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of an image stream."""

    K: np.ndarray            # (3, 3) float64, pixels
    width_px: int
    height_px: int

    def __post_init__(self):
        K = np.asarray(self.K, dtype=np.float64)
        if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise InputError(f'K must be a finite 3x3 matrix with positive focal lengths, got {self.K!r}')
        if self.width_px <= 0 or self.height_px <= 0:
            raise InputError(f'image size must be positive, got {self.width_px}x{self.height_px}')
        object.__setattr__(self, 'K', K)

    @classmethod
    def from_fov(cls, width_px: int, height_px: int, hfov_deg: float) -> 'CameraIntrinsics':
        """Intrinsics for a horizontal field of view (principal point at the centre)."""
        return cls(intrinsics_from_fov(width_px, height_px, hfov_deg), int(width_px), int(height_px))

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])


@dataclass(frozen=True)
class Frame:
    """One image of the stream, as every stage receives it."""

    image_rgb: np.ndarray            # (H, W, 3) uint8, RGB order
    stamp_ns: int                    # stamp of the image (sensor time), nanoseconds
    intrinsics: CameraIntrinsics
    index: int = 0                   # running frame number (0-based)

    def __post_init__(self):
        img = self.image_rgb
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise InputError('Frame.image_rgb must be an (H, W, 3) uint8 RGB array, got '
                             f'{getattr(img, "shape", None)} {getattr(img, "dtype", type(img))}')
        if (img.shape[1], img.shape[0]) != (self.intrinsics.width_px, self.intrinsics.height_px):
            raise InputError(f'image is {img.shape[1]}x{img.shape[0]} but intrinsics are for '
                             f'{self.intrinsics.width_px}x{self.intrinsics.height_px}')

    @property
    def height_px(self) -> int:
        return int(self.image_rgb.shape[0])

    @property
    def width_px(self) -> int:
        return int(self.image_rgb.shape[1])


@dataclass(frozen=True)
class HumanState:
    """One tracked person at one instant, in the frame named by ``HumansFrame.frame_id``.

    Mirrors ``msg/HumanMesh.msg``; arrays are float32.
    """

    track_id: int
    model: str                       # "open", "smpl", "smplx"
    betas: np.ndarray                # (num_betas,)
    global_orient: np.ndarray        # (3,) axis-angle, body -> frame
    body_pose: np.ndarray            # (69,) 23 joints x axis-angle, parent-relative
    transl: np.ndarray               # (3,) model translation, metres
    joints: np.ndarray               # (24, 3) SMPL-24 joints, metres
    joint_confidence: np.ndarray     # (24,) in [0, 1]
    vertices: np.ndarray             # (V, 3) metres; (0, 3) when not computed
    keypoints_coco: np.ndarray       # (17, 3) COCO-17 keypoints, metres
    confidence: float = 1.0          # overall confidence in [0, 1]
    # the joints, keypoints and vertices are the body model's posed with the parameters above, scaled by this
    # about the pelvis (the world fusion's size correction, CameraPose.person_size; 1: as fitted)
    size_factor: float = 1.0

    @property
    def root_position(self) -> np.ndarray:
        """(3,) pelvis position (joint 0), metres."""
        return self.joints[0]


@dataclass(frozen=True)
class HumansFrame:
    """All people computed from one image."""

    stamp_ns: int                    # stamp of the source image
    frame_id: str                    # frame of every position ("camera" optical frame or "world")
    humans: tuple[HumanState, ...] = field(default_factory=tuple)
    # tracks that ended with this image (unseen for the tracker's timeout): free their state, delete their markers
    ended_track_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class CameraPose:
    """Camera pose of one image from the SLAM branch, in OnlineHMR's terms.

    The world position of a camera-frame point ``p_c`` is
    ``R(quat_wxyz) @ p_c + scale * t_world_cam`` (the paper's
    ``M_w = R(q) M_c + s t``): the rotation is the camera-to-world rotation and
    ``t_world_cam`` is the camera centre in SLAM units, made metric by ``scale``.
    The other fields say how far the pose can be trusted (``msg/CameraPoseState.msg``).
    """

    stamp_ns: int
    quat_wxyz: np.ndarray            # (4,) camera-to-world rotation, unit quaternion (w, x, y, z)
    t_world_cam: np.ndarray          # (3,) camera centre in the world frame / scale (SLAM units)
    scale: float = 1.0               # metres per SLAM unit (s)
    tracking: bool = True            # 6-DoF pose measured for this image (False: rotation only or held)
    status: str = ''                 # human-readable tracking state for diagnostics
    state: str = 'tracking'          # 'tracking' | 'rotation_only' (orientation measured, position held) | 'held'
    scale_converged: bool = True     # the position is metric (False: provisional scale)
    gravity_aligned: bool = True     # world z measured to be up (False: level-camera guess only)
    source: str = 'slam'             # who measured it: 'slam', or 'tf' (a robot's transform)
    # {track id: size factor k}: the world fusion scales that person's camera-frame mesh by k about the
    # camera centre (their size measured against the metric scale: core/slam/scale.py); absent: k = 1
    person_size: dict = field(default_factory=dict)

    @property
    def T_world_cam_m(self) -> np.ndarray:
        """(4, 4) float64 camera-to-world with the metric translation: ``R(q)`` and ``s t``."""
        return T_world_cam_metric(self.quat_wxyz, self.t_world_cam, self.scale)
