"""A fast synthetic scene for the SLAM tests and benchmark.

A textured room (floor z = 0, three walls; world frame z-up, REP-103) seen by
a moving pinhole camera, with a person-sized textured box walking through the
view. Each image is ray-cast exactly (per-pixel ray/plane intersection with a
z-buffer, textures sampled with ``cv2.remap``), so it comes with the ground
truth camera pose, the person's mask, a depth map, and the person's
camera-frame joints (metric) as a ``HumansFrame``.

Render cost: about 25 ms per image at 320x240, 100 ms at 640x480. The
project's full generator (:mod:`onlinehmr_ros.eval.synthetic`, body-model
people, richer room) is used by the benchmark as well; this scene exists for
its speed, its large occluder (the masking ablation) and its scripted cases
(static camera, cuts: a second scene with another ``seed``).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame, HumansFrame, HumanState
from onlinehmr_ros.core.common.geometry import (invert_transform, make_transform, rotmat_from_axis_angle,
                                                transform_points)

FOOT_JOINT_HEIGHT_M = 0.05          # height of the SMPL foot joints (10, 11) above the floor


def make_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) uint8 texture: multi-scale value noise with sharp blocks (corners for ORB)."""
    img = np.zeros((h, w), np.float32)
    for cell, amp, interp in ((48, 0.35, cv2.INTER_CUBIC), (12, 0.35, cv2.INTER_NEAREST),
                              (5, 0.3, cv2.INTER_LINEAR)):
        small = rng.random((max(2, h // cell), max(2, w // cell))).astype(np.float32)
        img += amp * cv2.resize(small, (w, h), interpolation=interp)
    img = cv2.GaussianBlur(img, (0, 0), 0.8)
    img = (img - img.min()) / (img.max() - img.min() + 1e-9)
    tint = rng.uniform(0.6, 1.0, 3).astype(np.float32)
    return np.clip(img[..., None] * tint * 255.0, 0, 255).astype(np.uint8)


@dataclass
class _Plane:
    origin: np.ndarray      # (3,) world
    u: np.ndarray           # (3,) unit axis
    v: np.ndarray           # (3,) unit axis
    size: tuple             # (Lu, Lv) metres
    texture: np.ndarray     # (th, tw, 3) uint8
    person: bool = False


def _box_planes(center_xy, yaw, size_m, texture_rng, texel_per_m=60):
    """Five textured faces (4 sides + top) of a box standing on the floor."""
    sx, sy, sz = size_m
    Rz = rotmat_from_axis_angle(np.array([0.0, 0.0, yaw]))
    ex, ey, ez = Rz[:, 0], Rz[:, 1], np.array([0.0, 0.0, 1.0])
    c = np.array([center_xy[0], center_xy[1], 0.0])
    faces = []
    for sign in (-1, 1):
        o = c + sign * ey * sy / 2 - ex * sx / 2
        faces.append((o, ex, ez, (sx, sz)))
        o = c + sign * ex * sx / 2 - ey * sy / 2
        faces.append((o, ey, ez, (sy, sz)))
    faces.append((c + ez * sz - ex * sx / 2 - ey * sy / 2, ex, ey, (sx, sy)))
    out = []
    for i, (o, u, v, (lu, lv)) in enumerate(faces):
        tex = texture_rng[i]
        out.append(_Plane(o, u, v, (lu, lv), tex, person=True))
    return out


class SlamScene:
    """Ray-cast room + moving camera + walking box "person".

    Args:
        n_frames: sequence length.
        width_px, height_px, hfov_deg: camera.
        fps: frame rate (stamps).
        person: include the walking person.
        motion: 'orbit' (translation + yaw, default), 'static' (camera fixed),
            'forward' (mostly forward translation).
        seed: texture seed.
    """

    def __init__(self, n_frames: int = 120, width_px: int = 640, height_px: int = 480, hfov_deg: float = 65.0,
                 fps: float = 30.0, person: bool = True, motion: str = 'orbit', seed: int = 0,
                 person_texture_seed: int = 100):
        self.n_frames = n_frames
        self.fps = fps
        self.intrinsics = CameraIntrinsics.from_fov(width_px, height_px, hfov_deg)
        self.motion = motion
        self.person = person
        rng = np.random.default_rng(seed)
        tpm = 60  # texels per metre
        X, Y, Z = np.eye(3)
        self.planes = [
            _Plane(np.array([-4.0, -2.0, 0.0]), X, Y, (8.0, 12.0), make_texture(rng, 12 * tpm, 8 * tpm)),   # floor
            _Plane(np.array([-4.0, 10.0, 0.0]), X, Z, (8.0, 3.5), make_texture(rng, int(3.5 * tpm), 8 * tpm)),  # back
            _Plane(np.array([-4.0, -2.0, 0.0]), Y, Z, (12.0, 3.5), make_texture(rng, int(3.5 * tpm), 12 * tpm)),  # left
            _Plane(np.array([4.0, -2.0, 0.0]), Y, Z, (12.0, 3.5), make_texture(rng, int(3.5 * tpm), 12 * tpm)),  # right
        ]
        prng = np.random.default_rng(person_texture_seed)
        self._person_textures = [make_texture(prng, 110, 40), make_texture(prng, 110, 30),
                                 make_texture(prng, 110, 40), make_texture(prng, 110, 30),
                                 make_texture(prng, 20, 30)]
        self.person_size_m = (0.45, 0.3, 1.75)
        w, h = width_px, height_px
        K = self.intrinsics.K
        self._rx = ((np.arange(w, dtype=np.float32) + 0.0) - K[0, 2]) / K[0, 0]
        self._ry = ((np.arange(h, dtype=np.float32) + 0.0) - K[1, 2]) / K[1, 1]

    # ---------------------------------------------------------------- ground truth
    def T_world_cam(self, i: int) -> np.ndarray:
        """(4, 4) ground-truth camera-to-world transform of frame i (metres)."""
        s = i / self.fps
        if self.motion == 'static':
            c = np.array([0.0, 1.0, 1.5])
            yaw = 0.0
        elif self.motion == 'forward':
            c = np.array([0.3 * np.sin(0.8 * s), 0.5 + 0.6 * s, 1.5 + 0.05 * np.sin(2.0 * s)])
            yaw = 0.1 * np.sin(0.7 * s)
        else:
            c = np.array([1.2 * np.sin(0.6 * s), 0.5 + 0.4 * s, 1.5 + 0.1 * np.sin(1.1 * s)])
            yaw = 0.25 * np.sin(0.5 * s)
        pitch = np.deg2rad(-15.0)
        # optical frame looking along +y with z-up world: x_c = x_w, y_c = -z_w, z_c = y_w
        R0 = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
        R = rotmat_from_axis_angle(np.array([0, 0, yaw])) @ R0 @ rotmat_from_axis_angle(np.array([pitch, 0, 0]))
        return make_transform(R, c)

    def person_pose(self, i: int) -> tuple[np.ndarray, float]:
        """(centre (2,) on the floor, yaw) of the person at frame i."""
        s = i / self.fps
        cam = self.T_world_cam(i)[:3, 3]
        x = 1.4 * np.sin(0.9 * s + 0.5)
        return np.array([x, cam[1] + 3.0]), float(0.3 * np.cos(0.9 * s))

    # ---------------------------------------------------------------- rendering
    def _render_plane(self, p: _Plane, R_cw, c_w, zbuf, out, label, lab_id):
        o_c = R_cw @ (p.origin - c_w)
        u_c = R_cw @ p.u
        v_c = R_cw @ p.v
        n_c = np.cross(u_c, v_c)
        if float(n_c @ o_c) == 0.0:          # seen edge-on
            return
        num = float(n_c @ o_c)
        rx, ry = self._rx[None, :], self._ry[:, None]
        lin = lambda d: (np.float32(d[0]) * rx + np.float32(d[2])) + np.float32(d[1]) * ry  # noqa: E731
        with np.errstate(divide='ignore', invalid='ignore'):
            z = np.float32(num) / lin(n_c)
        # point X = z * r ; a = X.u_c - o.u_c
        a = z * lin(u_c) - np.float32(o_c @ u_c)
        b = z * lin(v_c) - np.float32(o_c @ v_c)
        lu, lv = p.size
        valid = (z > 0.05) & (z < zbuf) & (a >= 0) & (a <= lu) & (b >= 0) & (b <= lv)
        if not valid.any():
            return
        th, tw = p.texture.shape[:2]
        mapx = np.where(valid, a * np.float32(tw / lu) - np.float32(0.5), np.float32(0.0))
        mapy = np.where(valid, (np.float32(lv) - b) * np.float32(th / lv) - np.float32(0.5), np.float32(0.0))
        col = cv2.remap(p.texture, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        np.copyto(out, col, where=valid[..., None])
        np.copyto(zbuf, z, where=valid)
        np.copyto(label, np.uint8(lab_id), where=valid)

    def render(self, i: int):
        """Image i: (rgb (H,W,3) uint8, person mask (H,W) float32 0/1, depth (H,W) float32 metres)."""
        K = self.intrinsics
        T = self.T_world_cam(i)
        R_cw = T[:3, :3].T
        c_w = T[:3, 3]
        H, W = K.height_px, K.width_px
        out = np.zeros((H, W, 3), np.uint8)
        zbuf = np.full((H, W), np.inf, np.float32)
        label = np.zeros((H, W), np.uint8)
        for p in self.planes:
            self._render_plane(p, R_cw, c_w, zbuf, out, label, 1)
        if self.person:
            ctr, yaw = self.person_pose(i)
            for p in _box_planes(ctr, yaw, self.person_size_m, self._person_textures):
                self._render_plane(p, R_cw, c_w, zbuf, out, label, 2)
        return out, (label == 2).astype(np.float32), zbuf

    def frame(self, i: int) -> Frame:
        rgb, _, _ = self.render(i)
        return Frame(rgb, int(i * 1e9 / self.fps), self.intrinsics, i)

    def humans(self, i: int) -> HumansFrame:
        """Camera-frame (optical, metres) person as a HumansFrame; feet joints 10/11 at FOOT_JOINT_HEIGHT_M."""
        stamp = int(i * 1e9 / self.fps)
        if not self.person:
            return HumansFrame(stamp, 'camera', ())
        ctr, yaw = self.person_pose(i)
        Rz = rotmat_from_axis_angle(np.array([0.0, 0.0, yaw]))
        joints_w = np.zeros((24, 3))
        joints_w[:] = [ctr[0], ctr[1], 0.9]
        for j, side in ((7, -1), (8, 1), (10, -1), (11, 1)):
            hgt = 0.09 if j in (7, 8) else FOOT_JOINT_HEIGHT_M
            joints_w[j] = np.array([ctr[0], ctr[1], hgt]) + Rz @ np.array([side * 0.12, 0.0, 0.0])
        T_cam_world = invert_transform(self.T_world_cam(i))
        joints_c = transform_points(T_cam_world, joints_w).astype(np.float32)
        h = HumanState(track_id=1, model='open', betas=np.zeros(10, np.float32),
                       global_orient=np.zeros(3, np.float32), body_pose=np.zeros(69, np.float32),
                       transl=joints_c[0].copy(), joints=joints_c, joint_confidence=np.ones(24, np.float32),
                       vertices=np.zeros((0, 3), np.float32), keypoints_coco=np.zeros((17, 3), np.float32))
        return HumansFrame(stamp, 'camera', (h,))
