"""Pictures of the pipeline's results: mesh overlays on frames, and the scene from above / obliquely.

Used by the offline CLI (``onlinehmr run``), the demo and the hmr node's debug
image. Colours per track come from :func:`track_color` (the RViz markers use
the same colours).
"""
from __future__ import annotations

import colorsys

import numpy as np

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, HumansFrame
from onlinehmr_ros.core.io.raster import Lighting, Mesh, render_meshes


def track_color(track_id: int, alpha: float = 1.0) -> np.ndarray:
    """A stable, well-separated RGBA colour in [0, 1] per track (golden-ratio hue steps)."""
    hue = (0.13 + 0.618033988749895 * int(track_id)) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65, 0.95)
    return np.array([r, g, b, alpha], np.float32)


#: light from above-front in the camera optical frame (y down, z forward), towards the light
_CAMERA_LIGHT = Lighting(direction_world=(0.2, -0.6, -0.8), ambient=0.35, diffuse=0.75)


def overlay_humans(image_rgb: np.ndarray, humans: HumansFrame, intrinsics: CameraIntrinsics, faces: np.ndarray,
                   opacity: float = 0.7, label_ids: bool = True) -> np.ndarray:
    """Draw every person's mesh (camera optical frame) over the image, one colour per track.

    Args:
        image_rgb: (H, W, 3) uint8.
        humans: people in the camera optical frame with vertices.
        faces: (F, 3) faces of the body model.
        opacity: mesh opacity in [0, 1].
        label_ids: write each person's track id above the head, in the track's colour.
    Returns:
        (H, W, 3) uint8 image.
    """
    meshes = [Mesh(h.vertices.astype(np.float64), faces, np.tile(track_color(h.track_id)[:3], (len(h.vertices), 1)),
                   label=1 + (i % 255))
              for i, h in enumerate(humans.humans) if h.vertices.shape[0]]
    out = image_rgb.copy()
    if meshes:
        h, w = image_rgb.shape[:2]
        rgb, labels, _ = render_meshes(image_rgb, np.full((h, w), np.inf, np.float32), intrinsics, np.eye(4), meshes,
                                       _CAMERA_LIGHT)
        on = labels > 0
        out[on] = (opacity * rgb[on] + (1.0 - opacity) * image_rgb[on]).astype(np.uint8)
    if label_ids:
        _label_ids(out, humans, intrinsics)
    return out


def _label_ids(image_rgb: np.ndarray, humans: HumansFrame, intrinsics: CameraIntrinsics) -> None:
    """Write ``id N`` above each person's head (SMPL joint 15), in place."""
    import cv2

    from onlinehmr_ros.core.common.geometry import project_points
    scale = max(0.4, image_rgb.shape[0] / 900.0)
    for person in humans.humans:
        (u, v), = project_points(intrinsics.K, person.joints[15:16].astype(np.float64))[0]
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        org = (int(round(u)) - int(18 * scale), int(round(v)) - int(22 * scale))
        colour = tuple(int(255 * c) for c in track_color(person.track_id)[:3])
        text = f'id {person.track_id}'
        cv2.putText(image_rgb, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image_rgb, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def save_scene_views(path_top: str, path_oblique: str, camera_positions: np.ndarray,
                     people_paths: dict[int, np.ndarray], last_meshes: dict[int, np.ndarray], faces: np.ndarray,
                     map_points: np.ndarray | None = None, title: str = '') -> None:
    """The world scene from above and from an oblique view (PNG files).

    Args:
        camera_positions: (N, 3) camera centres in the world frame (metres, z up).
        people_paths: track id -> (M, 3) pelvis positions.
        last_meshes: track id -> (V, 3) last world mesh of the track.
        faces: (F, 3) body-model faces (for the meshes).
        map_points: (K, 3) SLAM map points in metres, optional.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    cams = np.asarray(camera_positions, np.float64).reshape(-1, 3)
    everything = [cams] + [np.asarray(p).reshape(-1, 3) for p in people_paths.values()]
    everything += [np.asarray(v).reshape(-1, 3) for v in last_meshes.values()]
    pts = np.concatenate([a for a in everything if len(a)] or [np.zeros((1, 3))])
    centre = np.median(pts, axis=0)
    radius = max(1.0, float(np.max(np.abs(pts - centre))) * 1.1)
    if map_points is not None and len(map_points):
        mp_ = np.asarray(map_points).reshape(-1, 3)
        mp_ = mp_[np.all(np.abs(mp_ - centre) < 2 * radius, axis=1)]
    else:
        mp_ = np.zeros((0, 3))

    for path, (elev, azim) in ((path_top, (90, -90)), (path_oblique, (25, -60))):
        fig = plt.figure(figsize=(7, 6), dpi=110)
        ax = fig.add_subplot(111, projection='3d')
        if len(mp_):
            ax.scatter(mp_[:, 0], mp_[:, 1], mp_[:, 2], s=1, c='0.6', alpha=0.5, label='map points')
        if len(cams):
            ax.plot(cams[:, 0], cams[:, 1], cams[:, 2], 'k-', lw=1.5, label='camera path')
            ax.scatter(*cams[-1], c='k', marker='^', s=40)
        for tid, p in people_paths.items():
            p = np.asarray(p).reshape(-1, 3)
            ax.plot(p[:, 0], p[:, 1], p[:, 2], '-', color=track_color(tid)[:3], lw=2, label=f'person {tid}')
        for tid, v in last_meshes.items():
            tris = np.asarray(v)[faces[::4]]          # every 4th face is plenty at this size
            ax.add_collection3d(Poly3DCollection(tris, facecolor=track_color(tid)[:3], edgecolor='none',
                                                 alpha=0.8))
        ax.set_xlim(centre[0] - radius, centre[0] + radius)
        ax.set_ylim(centre[1] - radius, centre[1] + radius)
        ax.set_zlim(centre[2] - radius, centre[2] + radius)
        ax.set_xlabel('x (m)')
        ax.set_ylabel('y (m)')
        ax.set_zlabel('z (m)')
        ax.view_init(elev=elev, azim=azim)
        ax.set_title(title or ('world frame, from above' if elev == 90 else 'world frame, oblique'))
        ax.legend(loc='upper left', fontsize=7)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
