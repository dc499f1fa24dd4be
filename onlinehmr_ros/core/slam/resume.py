"""Resuming the world frame after a restart of the SLAM (a crash, a respawn), ROS-free.

A new SLAM knows nothing of the old one: its world would start again at the camera (origin,
heading), and everything a robot placed in the old world (people, goals) would be off by the
camera's motion so far. :class:`SlamResumeState` is what the old SLAM leaves behind (the node
saves it about once a second); a new :class:`~onlinehmr_ros.core.slam.branch.SlamBranch` given one
(``resume``) places its world so that its first pose is the saved pose: same origin, same
heading, z up in both (``geometry.yaw_aligning_cameras``), and seeds its first map's metric scale
with the saved scene depth. What it cannot know is how far the camera moved while no SLAM ran:
that motion is the error of the resumed frame, so a state older than ``max_age_s`` is not used.

The file is an ``.npz`` written atomically (a temporary file, then a rename), so a crash while
saving leaves the previous state.
"""
from __future__ import annotations

import os
import pathlib
import zipfile
from dataclasses import dataclass

import numpy as np

from onlinehmr_ros.core.common.errors import InputError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class SlamResumeState:
    """The last published camera pose of a SLAM, with what a successor needs to continue its world.

    Attributes:
        world_frame: name of the world frame the pose is in.
        T_world_cam_m: (4, 4) camera-to-world transform of the last image (metres).
        scene_depth_m: metric median scene depth of the last map pose (None: never had a map); seeds the
            successor's first map scale.
        scale_converged: whether that scale was measured (the successor's is provisional either way).
        stamp_ns: stamp of that image.
        saved_wall_s: wall-clock time (s since the epoch) when it was saved.
    """
    world_frame: str
    T_world_cam_m: np.ndarray
    scene_depth_m: float | None
    scale_converged: bool
    stamp_ns: int
    saved_wall_s: float


def save_resume_state(path: str | os.PathLike, state: SlamResumeState) -> None:
    """Write ``state`` to ``path`` atomically (creates the folder).

    Raises:
        InputError: the folder cannot be created or the file not written (path named).
    """
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + '.tmp')
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, 'wb') as f:
            np.savez(f, version=FORMAT_VERSION, world_frame=state.world_frame,
                     T_world_cam_m=np.asarray(state.T_world_cam_m, np.float64),
                     scene_depth_m=np.nan if state.scene_depth_m is None else float(state.scene_depth_m),
                     scale_converged=bool(state.scale_converged), stamp_ns=int(state.stamp_ns),
                     saved_wall_s=float(state.saved_wall_s))
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f'cannot write the SLAM resume state to {path}: {exc.strerror or exc}; give a writable '
                         'resume.file') from None


def load_resume_state(path: str | os.PathLike, world_frame: str, now_wall_s: float,
                      max_age_s: float) -> tuple[SlamResumeState | None, str]:
    """The saved state if it may be resumed, else None; with the reason in words either way.

    Not resumed (None): no file, a file of another world frame, older than ``max_age_s`` (the camera
    may have moved anywhere meanwhile), saved in the future, or unreadable / not a resume state.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        return None, f'no saved state at {path}: a new world frame'
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z['version']) != FORMAT_VERSION:
                return None, f'{path}: resume state version {int(z["version"])}, expected {FORMAT_VERSION}'
            T = np.asarray(z['T_world_cam_m'], np.float64)
            depth = float(z['scene_depth_m'])
            state = SlamResumeState(str(z['world_frame']), T, None if not np.isfinite(depth) else depth,
                                    bool(z['scale_converged']), int(z['stamp_ns']), float(z['saved_wall_s']))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        return None, f'{path} is not a readable SLAM resume state ({exc}): a new world frame'
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        return None, f'{path}: the saved pose is not a finite 4x4 transform: a new world frame'
    if state.world_frame != world_frame:
        return None, (f"{path} is for world frame '{state.world_frame}', this SLAM's is '{world_frame}': "
                      'a new world frame')
    age = now_wall_s - state.saved_wall_s
    if age < 0 or age > max_age_s:
        return None, (f'{path} was saved {age:.0f} s ago (resume.max_age_s {max_age_s:g}): the camera may have '
                      'moved anywhere since; a new world frame')
    return state, f'resuming the world frame of the previous SLAM (its last pose, saved {age:.1f} s ago)'
