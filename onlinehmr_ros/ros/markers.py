"""RViz markers for world-space people, built as numpy MarkerData (encoded by marker_cdr).

Per tracked person (``id`` = track id, one colour per track, frame = world):
    ns ``human_mesh``      TRIANGLE_LIST of the decimated display mesh
    ns ``human_skeleton``  LINE_LIST of the 24-joint kinematic tree (optional)
    ns ``human_joints``    SPHERE_LIST of the joints (optional)
Tracks that end get DELETE markers; every marker also has a lifetime so that a
stale person vanishes even if the DELETE is lost.
"""
from __future__ import annotations

import numpy as np

from onlinehmr_ros.core.body.display_mesh import DisplayMesh
from onlinehmr_ros.core.common.datatypes import HumanState
from onlinehmr_ros.core.io.visualize import track_color
from onlinehmr_ros.ros.marker_cdr import DELETE, LINE_LIST, SPHERE_LIST, TRIANGLE_LIST, MarkerData

MESH_NS, SKELETON_NS, JOINTS_NS = 'human_mesh', 'human_skeleton', 'human_joints'
NAMESPACES = (MESH_NS, SKELETON_NS, JOINTS_NS)


def _split_lifetime(lifetime_s: float) -> tuple[int, int]:
    ns = int(round(lifetime_s * 1e9))
    return ns // 1_000_000_000, ns % 1_000_000_000


def human_markers(h: HumanState, display: DisplayMesh, joint_parents: np.ndarray, frame_id: str, stamp_ns: int,
                  lifetime_s: float = 0.5, skeleton: bool = True, joints: bool = False,
                  alpha: float = 1.0) -> list[MarkerData]:
    """Markers of one world-space person (vertices must be present in ``h``)."""
    sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
    life_sec, life_nsec = _split_lifetime(lifetime_s)
    color = track_color(h.track_id, alpha)
    common = dict(frame_id=frame_id, stamp_sec=sec, stamp_nanosec=nsec, id=int(h.track_id),
                  lifetime_sec=life_sec, lifetime_nanosec=life_nsec, color_rgba=color)
    out = []
    if h.vertices.shape[0]:
        out.append(MarkerData(ns=MESH_NS, type=TRIANGLE_LIST, scale=np.ones(3),
                              points=display.triangle_points(h.vertices).astype(np.float64), **common))
    if skeleton:
        child = np.flatnonzero(joint_parents >= 0)
        seg = np.stack([h.joints[joint_parents[child]], h.joints[child]], axis=1).reshape(-1, 3)
        out.append(MarkerData(ns=SKELETON_NS, type=LINE_LIST, scale=np.array([0.02, 0.0, 0.0]),
                              points=seg.astype(np.float64), **{**common, 'color_rgba': color * [0.6, 0.6, 0.6, 1]}))
    if joints:
        out.append(MarkerData(ns=JOINTS_NS, type=SPHERE_LIST, scale=np.full(3, 0.05),
                              points=h.joints.astype(np.float64), **common))
    return out


def delete_markers(track_id: int, frame_id: str, stamp_ns: int) -> list[MarkerData]:
    """DELETE markers for every namespace of an ended track."""
    sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
    return [MarkerData(ns=ns, id=int(track_id), action=DELETE, frame_id=frame_id, stamp_sec=sec,
                       stamp_nanosec=nsec) for ns in NAMESPACES]


def marker_problems(m: MarkerData) -> list[str]:
    """What RViz would reject or mis-draw in a marker (empty list: valid)."""
    problems = []
    if not m.frame_id:
        problems.append('frame_id is empty')
    if m.action == DELETE:
        return problems
    n = np.asarray(m.points).shape[0]
    if m.type == TRIANGLE_LIST and n % 3:
        problems.append(f'TRIANGLE_LIST with {n} points (not a multiple of 3)')
    if m.type == LINE_LIST and n % 2:
        problems.append(f'LINE_LIST with {n} points (not a multiple of 2)')
    if np.asarray(m.colors).shape[0] not in (0, n):
        problems.append(f'{np.asarray(m.colors).shape[0]} colours for {n} points')
    if abs(np.linalg.norm(m.orientation_xyzw) - 1.0) > 1e-6:
        problems.append('orientation is not a unit quaternion')
    if m.type == TRIANGLE_LIST and not np.allclose(m.scale, 1.0):
        problems.append('TRIANGLE_LIST scale must be 1')
    if np.any(np.asarray(m.scale) < 0) or (m.type != TRIANGLE_LIST and m.scale[0] <= 0):
        problems.append(f'scale {m.scale} would be invisible')
    if not np.all(np.isfinite(m.points)):
        problems.append('non-finite points')
    return problems
