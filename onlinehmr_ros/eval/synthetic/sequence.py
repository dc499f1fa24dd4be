"""A synthetic sequence with exact ground truth, and its on-disk format.

On disk a sequence is a directory::

    video.mp4        the rendered frames (mp4v; lossy, as a camera's video would be)
    sequence.npz     intrinsics, camera poses, per-person ground truth, masks (compressed)
    meta.json        name, seed, frame rate, generator configuration (readable)

Frames are kept in memory after generation; a loaded sequence decodes the
video when frames are asked for.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame
from onlinehmr_ros.core.common.geometry import invert_transform, transform_points

VIDEO_NAME = 'video.mp4'
ARRAYS_NAME = 'sequence.npz'
META_NAME = 'meta.json'
FORMAT_VERSION = 1


class SequenceError(ValueError):
    """A sequence directory is missing files or holds inconsistent arrays."""


@dataclass(frozen=True)
class PersonTrack:
    """Ground truth of one person over the whole sequence (world frame, z up, metres).

    The body-model parameters reproduce the world mesh exactly:
    ``body_model(betas, global_orient_world[i], body_pose[i], transl_world[i])``
    gives the world vertices and joints of frame i.

    Attributes:
        betas: (B,) shape coefficients.
        global_orient_world: (F, 3) root rotation body -> world, axis-angle.
        body_pose: (F, 69) SMPL body pose, axis-angle.
        transl_world: (F, 3) model translation, metres.
        joints_world: (F, 24, 3) SMPL-24 joints.
        keypoints_coco_world: (F, 17, 3) COCO-17 keypoints.
        joints_visible: (F, 24) bool: in the image and not hidden by another person.
        keypoints_coco_visible: (F, 17) bool, same rule.
        mask_area_px: (F,) number of pixels where this person is visible.
        action: (F,) int8 action label (``human_motion.ACTION_CODES``).
    """
    betas: np.ndarray
    global_orient_world: np.ndarray
    body_pose: np.ndarray
    transl_world: np.ndarray
    joints_world: np.ndarray
    keypoints_coco_world: np.ndarray
    joints_visible: np.ndarray
    keypoints_coco_visible: np.ndarray
    mask_area_px: np.ndarray
    action: np.ndarray

    @property
    def root_world(self) -> np.ndarray:
        """(F, 3) pelvis (joint 0) positions."""
        return self.joints_world[:, 0]


@dataclass(frozen=True)
class SyntheticSequence:
    """Frames and exact ground truth of one synthetic sequence.

    Attributes:
        name: sequence name (directory name on disk).
        seed: generator seed.
        fps: frame rate, Hz.
        intrinsics: pinhole intrinsics of every frame.
        T_world_cam: (F, 4, 4) camera-to-world poses (optical frame).
        people: ground truth per person.
        masks: (F, H, W) uint8 labels: 0 background, k + 1 where person k is visible.
        camera_kind: 'handheld', 'robot' or 'static'.
        body_model: body-model type the parameters belong to ('open', 'smpl', 'smplx').
        frames_rgb: (F, H, W, 3) uint8 frames when in memory, else None (decoded from ``video_path``).
        video_path: the video file of a loaded sequence.
        config: the generator configuration, for the record.
    """
    name: str
    seed: int
    fps: float
    intrinsics: CameraIntrinsics
    T_world_cam: np.ndarray
    people: tuple[PersonTrack, ...]
    masks: np.ndarray
    camera_kind: str
    body_model: str
    frames_rgb: np.ndarray | None = None
    video_path: str | None = None
    config: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.T_world_cam.shape[0])

    def stamp_ns(self, index: int) -> int:
        """Timestamp of frame ``index`` (the sequence starts at 0 ns)."""
        return int(round(index * 1e9 / self.fps))

    def iter_frames(self) -> Iterator[Frame]:
        """The frames as pipeline inputs, in order (decoded from the video for a loaded sequence)."""
        if self.frames_rgb is not None:
            for i in range(self.num_frames):
                yield Frame(self.frames_rgb[i], self.stamp_ns(i), self.intrinsics, i)
            return
        if self.video_path is None:
            raise SequenceError(f'sequence {self.name} has neither frames in memory nor a video file')
        cap = cv2.VideoCapture(self.video_path)
        if not cap.isOpened():
            raise SequenceError(f'cannot open video {self.video_path}')
        try:
            for i in range(self.num_frames):
                ok, bgr = cap.read()
                if not ok:
                    raise SequenceError(f'{self.video_path} ended after {i} of {self.num_frames} frames')
                yield Frame(np.ascontiguousarray(bgr[..., ::-1]), self.stamp_ns(i), self.intrinsics, i)
        finally:
            cap.release()

    def camera_centres_world(self) -> np.ndarray:
        """(F, 3) camera centres."""
        return self.T_world_cam[:, :3, 3].copy()

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(F, N, 3) world points -> the same points in each frame's camera optical frame."""
        return transform_points(invert_transform(self.T_world_cam), points_world)

    # ------------------------------------------------------------------ disk
    def save(self, directory: str | Path) -> Path:
        """Write the sequence to ``directory`` (created); returns the directory."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        if self.frames_rgb is None:
            raise SequenceError('only a sequence with frames in memory can be saved')
        h, w = self.intrinsics.height_px, self.intrinsics.width_px
        writer = cv2.VideoWriter(str(out / VIDEO_NAME), cv2.VideoWriter_fourcc(*'mp4v'), float(self.fps), (w, h))
        if not writer.isOpened():
            raise SequenceError(f'OpenCV cannot write mp4v video to {out / VIDEO_NAME}')
        for img in self.frames_rgb:
            writer.write(np.ascontiguousarray(img[..., ::-1]))
        writer.release()
        arrays = {'K': self.intrinsics.K, 'image_size_wh': np.array([w, h]), 'T_world_cam': self.T_world_cam,
                  'masks': self.masks}
        for key in PersonTrack.__dataclass_fields__:
            arrays[f'people_{key}'] = np.stack([getattr(p, key) for p in self.people]) if self.people else \
                np.zeros((0,))
        np.savez_compressed(out / ARRAYS_NAME, **arrays)
        meta = {'format_version': FORMAT_VERSION, 'name': self.name, 'seed': self.seed, 'fps': self.fps,
                'num_frames': self.num_frames, 'num_people': len(self.people), 'camera_kind': self.camera_kind,
                'body_model': self.body_model, 'config': self.config}
        (out / META_NAME).write_text(json.dumps(meta, indent=2))
        return out

    @classmethod
    def load(cls, directory: str | Path) -> 'SyntheticSequence':
        """Read a sequence written by :meth:`save` (frames stay in the video until iterated)."""
        d = Path(directory)
        for name in (VIDEO_NAME, ARRAYS_NAME, META_NAME):
            if not (d / name).is_file():
                raise SequenceError(f'{d} is not a synthetic sequence: {name} is missing '
                                    '(generate one with `python -m onlinehmr_ros.eval.synthetic --out DIR`)')
        meta = json.loads((d / META_NAME).read_text())
        if meta.get('format_version') != FORMAT_VERSION:
            raise SequenceError(f'{d}: format version {meta.get("format_version")} is not {FORMAT_VERSION}; '
                                'regenerate the sequence')
        with np.load(d / ARRAYS_NAME) as z:
            arrays = {k: z[k] for k in z.files}
        w, h = (int(v) for v in arrays['image_size_wh'])
        people = []
        for p in range(int(meta['num_people'])):
            people.append(PersonTrack(**{key: arrays[f'people_{key}'][p]
                                         for key in PersonTrack.__dataclass_fields__}))
        return cls(name=meta['name'], seed=int(meta['seed']), fps=float(meta['fps']),
                   intrinsics=CameraIntrinsics(arrays['K'], w, h), T_world_cam=arrays['T_world_cam'],
                   people=tuple(people), masks=arrays['masks'], camera_kind=meta['camera_kind'],
                   body_model=meta['body_model'], frames_rgb=None, video_path=str(d / VIDEO_NAME),
                   config=meta.get('config', {}))
