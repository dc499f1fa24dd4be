"""A static, richly textured box room, ray-cast on the CPU.

World frame (REP-103): metres, z up, the floor is ``z = 0``. The room is the
axis-aligned box ``[-width/2, width/2] x [-depth/2, depth/2] x [0, height]``
seen from inside, so every camera ray leaves the box through exactly one face
and no face hides another: a pixel's surface is the face with the smallest
positive exit distance. All six faces (floor, ceiling, four walls) carry a
procedural texture (multi-scale noise, rectangles, discs, lines and text in
random colours) so that feature-based SLAM finds many distinctive corners.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics


class SceneError(ValueError):
    """Invalid room configuration or camera outside the room."""


@dataclass(frozen=True)
class RoomConfig:
    """Size and texture resolution of the room.

    Attributes:
        width_m: extent along world x, metres.
        depth_m: extent along world y, metres.
        height_m: floor-to-ceiling height, metres.
        texel_m: texture resolution, metres per texel (6 mm keeps the atlas
            near 20 MB and detail at the pixel scale of a 640x480 view).
    """
    width_m: float = 8.0
    depth_m: float = 9.0
    height_m: float = 3.0
    texel_m: float = 0.006


# Faces: (name, fixed axis, fixed value selector, texture axes (u, v)).
_FACE_AXES = (
    ('floor', 2, 'min', (0, 1)),
    ('ceiling', 2, 'max', (0, 1)),
    ('wall_y_min', 1, 'min', (0, 2)),
    ('wall_y_max', 1, 'max', (0, 2)),
    ('wall_x_min', 0, 'min', (1, 2)),
    ('wall_x_max', 0, 'max', (1, 2)),
)


def _noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """(h, w) smooth noise in [-1, 1] with about ``cells`` features across the width."""
    gh, gw = max(2, int(round(cells * h / max(w, 1)))), max(2, cells)
    grid = rng.uniform(-1.0, 1.0, size=(gh, gw)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def _texture(rng: np.random.Generator, h: int, w: int, kind: str) -> np.ndarray:
    """(h, w, 3) uint8 procedural texture; ``kind`` in {'floor', 'wall', 'ceiling'}."""
    base = rng.uniform(90, 200, size=3)
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    for cells, amp in ((4, 35.0), (16, 20.0), (64, 12.0), (256, 8.0)):
        n = _noise(rng, h, w, cells)
        img += amp * n[..., None] * rng.uniform(0.6, 1.0, size=3)
    if kind == 'floor':  # planks / tiles
        if rng.uniform() < 0.5:
            step = int(rng.integers(60, 120))
            for y in range(0, h, step):
                cv2.line(img, (0, y), (w, y), (40, 30, 25), 2)
                off = int(rng.integers(0, 3 * step))
                for x in range(off % (3 * step), w, 3 * step):
                    cv2.line(img, (x, y), (x, y + step), (40, 30, 25), 2)
        else:
            step = int(rng.integers(70, 140))
            for y in range(0, h, step):
                cv2.line(img, (0, y), (w, y), (230, 230, 230), 3)
            for x in range(0, w, step):
                cv2.line(img, (x, 0), (x, h), (230, 230, 230), 3)
    n_shapes = int(h * w / (2500.0 if kind != 'ceiling' else 12000.0))
    for _ in range(n_shapes):
        colour = tuple(float(c) for c in 0.7 * rng.uniform(0, 255, size=3) + 0.3 * base)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        size = int(rng.choice([6, 12, 25, 50, 90], p=[0.3, 0.3, 0.2, 0.15, 0.05]))
        shape = rng.integers(0, 5)
        if shape == 0:
            cv2.rectangle(img, (cx, cy), (cx + size, cy + int(size * rng.uniform(0.3, 2))), colour, -1)
        elif shape == 1:
            cv2.circle(img, (cx, cy), max(2, size // 2), colour, -1, lineType=cv2.LINE_AA)
        elif shape == 2:
            cv2.line(img, (cx, cy), (cx + int(rng.integers(-2, 3) * size), cy + int(rng.integers(-2, 3) * size)),
                     colour, int(rng.integers(1, 5)), lineType=cv2.LINE_AA)
        elif shape == 3:
            text = ''.join(rng.choice(list('ABCDEFGHKMNPRSTUVWXYZ0123456789'), size=int(rng.integers(2, 6))))
            cv2.putText(img, text, (cx, cy), cv2.FONT_HERSHEY_SIMPLEX, size / 30.0, colour,
                        max(1, size // 12), lineType=cv2.LINE_AA)
        else:
            pts = np.array([[cx, cy], [cx + size, cy + size // 3], [cx + size // 2, cy + size]], np.int32)
            cv2.fillConvexPoly(img, pts, colour, lineType=cv2.LINE_AA)
    if kind == 'wall':  # a few posters: big high-contrast patches
        for _ in range(int(rng.integers(2, 6))):
            pw, ph = int(rng.integers(w // 12, w // 5)), int(rng.integers(h // 6, h // 2))
            x0, y0 = int(rng.integers(0, max(1, w - pw))), int(rng.integers(h // 4, max(h // 4 + 1, h - ph)))
            poster = rng.uniform(0, 255, size=(int(rng.integers(3, 8)), int(rng.integers(3, 8)), 3)).astype(np.float32)
            img[y0:y0 + ph, x0:x0 + pw] = cv2.resize(poster, (pw, ph), interpolation=cv2.INTER_NEAREST)
            cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), (20, 20, 20), 4)
    img = cv2.GaussianBlur(img, (0, 0), 0.8)
    return np.clip(img, 0, 255).astype(np.uint8)


class Room:
    """The textured room; :meth:`render` ray-casts one view of it.

    Args:
        config: room size and texel size.
        rng: random generator (textures vary with it).
    """

    def __init__(self, config: RoomConfig, rng: np.random.Generator) -> None:
        if min(config.width_m, config.depth_m, config.height_m) <= 0.5 or config.texel_m <= 0:
            raise SceneError(f'room dimensions must exceed 0.5 m and texel_m be positive, got {config}')
        self.config = config
        self.box_min = np.array([-config.width_m / 2, -config.depth_m / 2, 0.0])
        self.box_max = np.array([config.width_m / 2, config.depth_m / 2, config.height_m])
        size = self.box_max - self.box_min
        textures, offsets = [], []
        row = 0
        for name, _, _, (ua, va) in _FACE_AXES:
            w = int(np.ceil(size[ua] / config.texel_m))
            h = int(np.ceil(size[va] / config.texel_m))
            kind = 'floor' if name == 'floor' else 'ceiling' if name == 'ceiling' else 'wall'
            tex = _texture(rng, h, w, kind)
            # baked ambient occlusion: darker towards the edges of each face
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            edge = np.minimum(np.minimum(xx, w - 1 - xx) / w, np.minimum(yy, h - 1 - yy) / h)
            tex = (tex * (0.75 + 0.25 * np.clip(edge * 6.0, 0, 1))[..., None]).astype(np.uint8)
            if kind == 'wall':  # texture rows grow with z: flip so that text reads upright
                tex = np.ascontiguousarray(tex[::-1])
            textures.append(tex)
            offsets.append(row)
            row += h
        atlas_w = max(t.shape[1] for t in textures)
        self.atlas = np.zeros((row, atlas_w, 3), np.uint8)
        for tex, off in zip(textures, offsets):
            self.atlas[off:off + tex.shape[0], :tex.shape[1]] = tex
        self._offsets = np.array(offsets, dtype=np.float32)

    def contains(self, point_world: np.ndarray, margin_m: float = 0.0) -> bool:
        """True if a point lies inside the room, at least ``margin_m`` from every face."""
        p = np.asarray(point_world, dtype=np.float64)
        return bool(np.all(p >= self.box_min + margin_m) and np.all(p <= self.box_max - margin_m))

    def render(self, intrinsics: CameraIntrinsics, T_world_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ray-cast the room from a camera inside it.

        Args:
            intrinsics: pinhole intrinsics of the view.
            T_world_cam: (4, 4) camera-to-world pose (optical frame).
        Returns:
            rgb: (H, W, 3) uint8 image.
            depth_m: (H, W) float32 z-depth of the surface in the camera frame.
        Raises:
            SceneError: the camera centre is not inside the room.
        """
        eye = np.asarray(T_world_cam[:3, 3], dtype=np.float64)
        if not self.contains(eye, 1e-3):
            raise SceneError(f'camera centre {eye} is outside the room {self.box_min}..{self.box_max}')
        H, W = intrinsics.height_px, intrinsics.width_px
        u, v = np.meshgrid(np.arange(W, dtype=np.float64) + 0.0, np.arange(H, dtype=np.float64))
        K = intrinsics.K
        rays_cam = np.stack([(u - K[0, 2] - K[0, 1] * (v - K[1, 2]) / K[1, 1]) / K[0, 0],
                             (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)   # z = 1
        R = np.asarray(T_world_cam[:3, :3], dtype=np.float64)
        d = rays_cam @ R.T                                                           # (H, W, 3) world
        with np.errstate(divide='ignore', invalid='ignore'):
            t_exit = np.where(d > 0, (self.box_max - eye) / d, (self.box_min - eye) / d)
        t_exit = np.where(np.isfinite(t_exit) & (t_exit > 0), t_exit, np.inf)
        axis = np.argmin(t_exit, axis=-1)
        t = np.take_along_axis(t_exit, axis[..., None], axis=-1)[..., 0]
        hit = eye + t[..., None] * d
        positive = np.take_along_axis(d, axis[..., None], axis=-1)[..., 0] > 0
        face = np.empty(axis.shape, np.int64)
        for k, (_, fa, sel, _) in enumerate(_FACE_AXES):
            face[(axis == fa) & (positive == (sel == 'max'))] = k
        ua = np.array([f[3][0] for f in _FACE_AXES])[face]
        va = np.array([f[3][1] for f in _FACE_AXES])[face]
        rel = (hit - self.box_min) / self.config.texel_m
        map_x = np.take_along_axis(rel, ua[..., None], axis=-1)[..., 0].astype(np.float32)
        map_y = (np.take_along_axis(rel, va[..., None], axis=-1)[..., 0] + self._offsets[face]).astype(np.float32)
        rgb = cv2.remap(self.atlas, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return rgb, t.astype(np.float32)  # rays have unit z, so the ray parameter is the z-depth
