"""One world frame from the first published pose to the last, ROS-free.

Frames:

* **tracking frame** ``O``: the optical frame of the first image, origin at its
  camera centre, metres (provisional until the scale is known). Every camera
  orientation and position is kept continuous in ``O``:

  - before a map exists (and while it is lost) the orientation comes from the
    rotation-only tracker (:mod:`.rotation`), the position is held;
  - each SLAM map (segment) is placed in ``O`` by a similarity
    ``x_O = c + sigma R x_map``, *anchored* when the map starts so that the
    camera's pose at that moment is the pose it already had (no jump): the
    first map at the pose reached by rotation tracking, a new map after a loss
    at the last pose (the rotation followed meanwhile), with the metric scale
    carried over (:class:`WorldFrame.anchor_map`);
  - a new scale estimate re-anchors the map about the current camera, so the
    published position never jumps when ``sigma`` changes; the path before it
    keeps the scale it was published with. Until a map's scale is measured
    the pose says ``scale_converged=False``: positions are provisional.

* **world frame** ``W`` (published, REP-103): ``O`` rotated about its origin so
  that z is up (:class:`~onlinehmr_ros.core.slam.ground.GravityAligner`: the
  first gravity estimate is taken as it is; a later, better one is phased in
  at a bounded rate, never as a jump). x is the first camera's viewing
  direction on the ground, y = z x x; the origin is the first camera centre.
"""
from __future__ import annotations

import numpy as np

from onlinehmr_ros.core.common.errors import InputError


class WorldFrame:
    """Camera pose in the tracking frame ``O`` with map anchoring (module docstring).

    Attributes:
        R_O_cam: (3, 3) current camera-to-O rotation.
        p_O: (3,) current camera centre in O (metres, provisional before the scale is known).
        R_O_map, c_O_map, sigma: the current map's similarity ``x_O = c_O_map + sigma R_O_map x_map``
            (sigma: metres per SLAM unit); None before the first map.
    """

    def __init__(self):
        self.R_O_cam = np.eye(3)
        self.p_O = np.zeros(3)
        self.R_O_map: np.ndarray | None = None
        self.c_O_map: np.ndarray | None = None
        self.sigma: float | None = None
        self._x_map_cam: np.ndarray | None = None      # camera centre in the map at the last map pose

    @property
    def has_map(self) -> bool:
        return self.R_O_map is not None

    def T_O_cam(self) -> np.ndarray:
        """(4, 4) current camera-to-O transform (metric translation)."""
        T = np.eye(4)
        T[:3, :3] = self.R_O_cam
        T[:3, 3] = self.p_O
        return T

    def set_rotation(self, R_O_cam: np.ndarray) -> None:
        """Rotation-only update: the orientation changes, the position is held."""
        self.R_O_cam = _rotation(R_O_cam)

    def anchor_map(self, T_map_cam: np.ndarray, sigma: float) -> None:
        """Place a new map so that its current camera pose is the current pose in O.

        Args:
            T_map_cam: (4, 4) the camera's pose in the new map (SLAM units).
            sigma: metres per SLAM unit of the new map (carried over or a prior).
        """
        if not sigma > 0:
            raise InputError(f'map scale must be > 0 metres per SLAM unit, got {sigma}')
        T = np.asarray(T_map_cam, dtype=np.float64)
        self.R_O_map = self.R_O_cam @ T[:3, :3].T
        self.sigma = float(sigma)
        self._x_map_cam = T[:3, 3].copy()
        self.c_O_map = self.p_O - self.sigma * self.R_O_map @ self._x_map_cam

    def set_map_pose(self, T_map_cam: np.ndarray) -> None:
        """A tracked pose in the current map -> the pose in O."""
        if not self.has_map:
            raise InputError('set_map_pose before anchor_map: anchor the map first')
        T = np.asarray(T_map_cam, dtype=np.float64)
        self._x_map_cam = T[:3, 3].copy()
        self.R_O_cam = self.R_O_map @ T[:3, :3]
        self.p_O = self.c_O_map + self.sigma * self.R_O_map @ self._x_map_cam

    def set_scale(self, sigma: float) -> None:
        """New metres per SLAM unit for the current map, re-anchored about the last map pose (no jump)."""
        if not sigma > 0:
            raise InputError(f'map scale must be > 0 metres per SLAM unit, got {sigma}')
        if not self.has_map:
            return
        x_pivot = self._x_map_cam
        pivot = self.c_O_map + self.sigma * self.R_O_map @ x_pivot
        self.sigma = float(sigma)
        self.c_O_map = pivot - self.sigma * self.R_O_map @ x_pivot
        self.p_O = self.c_O_map + self.sigma * self.R_O_map @ self._x_map_cam

    def map_to_O(self, points_map: np.ndarray) -> np.ndarray:
        """(N, 3) points of the current map (SLAM units) -> O (metres)."""
        P = np.asarray(points_map, dtype=np.float64).reshape(-1, 3)
        if not self.has_map or not len(P):
            return np.zeros((0, 3))
        return self.c_O_map + self.sigma * P @ self.R_O_map.T

    def direction_map_to_O(self, v_map: np.ndarray) -> np.ndarray:
        if not self.has_map:
            raise InputError('no map anchored yet')
        return self.R_O_map @ np.asarray(v_map, dtype=np.float64)

    def direction_O_to_map(self, v_O: np.ndarray) -> np.ndarray:
        if not self.has_map:
            raise InputError('no map anchored yet')
        return self.R_O_map.T @ np.asarray(v_O, dtype=np.float64)


def _rotation(R: np.ndarray) -> np.ndarray:
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (3, 3):
        raise InputError(f'rotation must be (3, 3), got {R.shape}')
    return R.copy()
