"""Training data for the learned HMR: posed sequences, training clips, converted real datasets.

Two sources behind one sequence record (:class:`PosedSequence`):

* **Synthetic** (:func:`synthetic_sequence`): the procedural motion of
  :mod:`onlinehmr_ros.training.motion` posed with the project's body model
  (:func:`pose_sequence`).
* **Real datasets** (:class:`RealSequenceDataset`): BEDLAM / 3DPW / H3.6M
  sequences converted to one ``.npz`` per sequence (layout in its docstring),
  posed with the same body model.

Training clips (:class:`SequencePool`) pair a clip of a sequence with fresh
simulated observations (:mod:`onlinehmr_ros.training.observations`).
"""
from __future__ import annotations

import dataclasses
import pathlib
from dataclasses import dataclass

import numpy as np
import torch

from onlinehmr_ros.core.common.geometry import project_points, rotmat_from_axis_angle
from onlinehmr_ros.core.hmr.learned.features import landmark_features
from onlinehmr_ros.training.motion import MotionConfig, synthesize_motion
from onlinehmr_ros.training.observations import LandmarkNoiseModel, SimulatedObservations, simulate_observations


class DataError(ValueError):
    """A dataset directory or file does not have the documented layout (message says what is wrong)."""



@dataclass(frozen=True)
class PosedSequence:
    """Ground truth of one sequence, camera optical frame, metres (numpy float32)."""

    betas: np.ndarray            # (nb,)
    rotmat: np.ndarray           # (T, 24, 3, 3) joint 0 = global orient (body -> camera), 1..23 parent-relative
    joints_cam: np.ndarray       # (T, 24, 3)
    landmarks_cam: np.ndarray    # (T, 33, 3) the body model's MediaPipe landmarks
    vertices_cam: np.ndarray     # (T, V', 3) a fixed subset of the vertices (for L_V)
    transl: np.ndarray           # (T, 3) body-model translation
    K: np.ndarray                # (3, 3)
    image_size_px: tuple[int, int]  # (width, height)
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.joints_cam.shape[0])



def vertex_subset(num_vertices: int, count: int = 256, seed: int = 0) -> np.ndarray:
    """A fixed random subset of vertex indices used by L_V (a full mesh per frame is costly on a CPU)."""
    return np.sort(np.random.default_rng(seed).choice(num_vertices, size=min(count, num_vertices), replace=False))


def pose_sequence(body_model, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                  K: np.ndarray, image_size_px: tuple[int, int], fps: float, pelvis_cam: np.ndarray | None = None,
                  transl: np.ndarray | None = None, vertex_ids: np.ndarray | None = None) -> PosedSequence:
    """Pose a sequence with ``body_model`` (the project's :class:`~onlinehmr_ros.core.body.model.BodyModel`).

    Give either ``pelvis_cam`` (T, 3) (the translation is solved so that joint 0 lands there) or ``transl``.
    """
    T = body_pose.shape[0]
    nb = body_model.num_betas
    dt = body_model.dtype
    b = torch.as_tensor(np.asarray(betas)[:nb], dtype=dt).expand(T, nb)
    go = torch.as_tensor(global_orient, dtype=dt)
    bp = torch.as_tensor(body_pose, dtype=dt)
    with torch.no_grad():
        out = body_model(b, go, bp, torch.zeros(T, 3, dtype=dt))
    if pelvis_cam is not None:
        shift = torch.as_tensor(pelvis_cam, dtype=dt) - out.joints[:, 0]
    elif transl is not None:
        shift = torch.as_tensor(transl, dtype=dt)
    else:
        raise DataError('pose_sequence needs pelvis_cam or transl')
    ids = vertex_subset(body_model.num_vertices) if vertex_ids is None else vertex_ids
    rot = np.concatenate([rotmat_from_axis_angle(np.asarray(global_orient)[:, None]),
                          rotmat_from_axis_angle(np.asarray(body_pose).reshape(T, 23, 3))], axis=1)
    f32 = lambda x: np.asarray(x, dtype=np.float32)  # noqa: E731
    return PosedSequence(
        betas=f32(np.asarray(betas)[:nb]), rotmat=f32(rot),
        joints_cam=f32((out.joints + shift[:, None]).numpy()),
        landmarks_cam=f32((out.landmarks_mediapipe + shift[:, None]).numpy()),
        vertices_cam=f32((out.vertices[:, ids] + shift[:, None]).numpy()),
        transl=f32(shift.numpy()), K=np.asarray(K, dtype=np.float64), image_size_px=tuple(image_size_px),
        fps=float(fps))


def synthetic_sequence(body_model, rng: np.random.Generator, num_frames: int,
                       cfg: MotionConfig = MotionConfig()) -> PosedSequence:
    m = synthesize_motion(rng, num_frames, cfg)
    return pose_sequence(body_model, m['betas'], m['global_orient'], m['body_pose'], m['K'],
                         (cfg.image_width_px, cfg.image_height_px), cfg.fps, pelvis_cam=m['pelvis_cam'])



def make_training_arrays(seq: PosedSequence, obs: SimulatedObservations) -> dict[str, np.ndarray]:
    """Network inputs and loss targets of one (clip of a) sequence, numpy, leading dim T."""
    T = seq.num_frames
    feats, box = landmark_features(obs.landmarks_px, obs.visibility, obs.landmarks_3d_m,
                                   np.where(obs.frame_valid[:, None], obs.bbox_px, [0, 0, 1, 1]), seq.K)
    uv_j, _ = project_points(seq.K, seq.joints_cam.astype(np.float64))
    bsize = np.maximum(obs.bbox_px[:, 2] - obs.bbox_px[:, 0], obs.bbox_px[:, 3] - obs.bbox_px[:, 1])
    return {
        'landmarks': feats, 'box': box, 'frame_valid': obs.frame_valid,
        'joints_cam': seq.joints_cam, 'vertices_cam': seq.vertices_cam, 'rotmat': seq.rotmat,
        'betas': np.broadcast_to(seq.betas, (T, seq.betas.shape[0])).astype(np.float32),
        'joints_2d_px': np.nan_to_num(uv_j).astype(np.float32),
        'box_size_px': np.maximum(np.where(obs.frame_valid, bsize, 1.0), 1.0).astype(np.float32),
        'K': np.broadcast_to(seq.K, (T, 3, 3)).astype(np.float32),
        'joint_conf': obs.joint_conf,
    }


class SequencePool:
    """Posed sequences held in memory; clips of ``clip_len`` frames with fresh simulated noise.

    Each clip is cut at a random start; with probability ``start_prob`` it starts at frame 0 (so the
    network sees stream starts, where the KV cache is still filling).
    """

    def __init__(self, sequences: list[PosedSequence], noise: LandmarkNoiseModel = LandmarkNoiseModel(),
                 start_prob: float = 0.2):
        if not sequences:
            raise DataError('SequencePool needs at least one sequence')
        self.sequences = sequences
        self.noise = noise
        self.start_prob = start_prob

    def sample_batch(self, rng: np.random.Generator, batch_size: int, clip_len: int) -> dict[str, torch.Tensor]:
        items = []
        for _ in range(batch_size):
            seq = self.sequences[int(rng.integers(len(self.sequences)))]
            if seq.num_frames < clip_len:
                raise DataError(f'sequence of {seq.num_frames} frames is shorter than clip_len={clip_len}')
            s = 0 if rng.random() < self.start_prob else int(rng.integers(0, seq.num_frames - clip_len + 1))
            clip = clip_sequence(seq, s, s + clip_len)
            items.append(make_training_arrays(clip, simulate_observations(clip, rng, self.noise)))
        return {k: torch.as_tensor(np.stack([it[k] for it in items])) for k in items[0]}


def clip_sequence(seq: PosedSequence, start: int, stop: int) -> PosedSequence:
    """Frames ``start:stop`` of ``seq``."""
    sl = slice(start, stop)
    return dataclasses.replace(seq, rotmat=seq.rotmat[sl], joints_cam=seq.joints_cam[sl],
                               landmarks_cam=seq.landmarks_cam[sl], vertices_cam=seq.vertices_cam[sl],
                               transl=seq.transl[sl])


# ----------------------------------------------------------------------------
# Real datasets
# ----------------------------------------------------------------------------
class RealSequenceDataset:
    """Sequences of BEDLAM, 3DPW or Human3.6M converted to one ``.npz`` per sequence.

    Directory layout (what ``root`` must contain)::

        root/
          bedlam/   <scene>_<seq>.npz     (any sub-folder names; every *.npz under root is read)
          3dpw/     downtown_walking_00_p0.npz
          h36m/     S9_Walking.54138969.npz

    Each ``.npz`` holds one person seen by one camera, in that camera's optical frame:

    ============== ============ ====================================================
    key            shape        meaning
    ============== ============ ====================================================
    betas          (10,)        SMPL shape (first 10 coefficients)
    global_orient  (T, 3)       root rotation, axis-angle, body -> camera
    body_pose      (T, 69)      SMPL body pose, axis-angle
    transl         (T, 3)       SMPL translation in the camera frame, metres
    K              (3, 3)       intrinsics, pixels
    image_size     (2,)         width, height in pixels
    fps            ()           frame rate
    ============== ============ ====================================================

    How to produce it from each dataset's own files:

    * **3DPW** (``sequenceFiles/*/*.pkl``): ``poses[p][:, :3]`` is the root in the *world*;
      rotate it and ``trans[p]`` into the camera with ``cam_poses[t]`` (R_cam_world), take
      ``poses[p][:, 3:]``, ``betas[p][:10]``, ``cam_intrinsics``; 30 fps, 1080x1920 or 1920x1080.
    * **BEDLAM** (``all_npz_12_*/*.npz`` from the BEDLAM training labels): ``pose_cam[:, :3]``,
      ``pose_cam[:, 3:72]``, ``trans_cam + cam_ext[:, :3, 3]``, ``shape[:10]``, ``cam_int``;
      group rows by ``imgname`` sequence; 30 fps, 1280x720.
    * **Human3.6M** (SMPL fits, e.g. from the NeuralAnnot / SPIN releases, plus the camera
      parameters ``R, T, f, c`` of each of the 4 cameras): rotate the world root and
      translation into the camera (``R @ (x - T)``); 50 fps, 1000x1000 (1002 for some).

    The network trains on the body model chosen by ``body_model`` (SMPL with the user's
    files for these datasets, since their parameters are SMPL's); landmark observations are
    simulated as for the synthetic data unless real detections are supplied in the file
    under ``landmarks_px`` (T, 33, 2), ``visibility`` (T, 33), ``landmarks_3d_m`` (T, 33, 3)
    and ``bbox_px`` (T, 4) (e.g. mediapipe run on the dataset's frames).
    """

    REQUIRED = {'betas': (10,), 'global_orient': (None, 3), 'body_pose': (None, 69), 'transl': (None, 3),
                'K': (3, 3), 'image_size': (2,), 'fps': ()}

    def __init__(self, root: str | pathlib.Path, body_model):
        self.root = pathlib.Path(root)
        if not self.root.is_dir():
            raise DataError(f'dataset root {self.root} is not a directory')
        self.files = sorted(self.root.rglob('*.npz'))
        if not self.files:
            raise DataError(f'no .npz sequence under {self.root}; see RealSequenceDataset docstring for the layout')
        self.body_model = body_model

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, path: pathlib.Path) -> dict[str, np.ndarray]:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        missing = [k for k in self.REQUIRED if k not in d]
        if missing:
            raise DataError(f'{path}: missing keys {missing} (needs {sorted(self.REQUIRED)})')
        T = d['body_pose'].shape[0] if d['body_pose'].ndim == 2 else -1
        for k, shape in self.REQUIRED.items():
            want = tuple(T if s is None else s for s in shape)
            if d[k].shape != want:
                raise DataError(f'{path}: {k} has shape {d[k].shape}, expected {want}')
        return d

    def __getitem__(self, index: int) -> tuple[PosedSequence, SimulatedObservations | None]:
        """The posed sequence and, when the file has them, its real landmark observations."""
        path = self.files[index]
        d = self._read(path)
        seq = pose_sequence(self.body_model, d['betas'], d['global_orient'], d['body_pose'], d['K'],
                            (int(d['image_size'][0]), int(d['image_size'][1])), float(d['fps']),
                            transl=d['transl'])
        if 'landmarks_px' not in d:
            return seq, None
        T = seq.num_frames
        try:
            vis = d['visibility'].reshape(T, 33)
            obs = SimulatedObservations(d['landmarks_px'].reshape(T, 33, 2), vis,
                                        d['landmarks_3d_m'].reshape(T, 33, 3), d['bbox_px'].reshape(T, 4),
                                        np.all(np.isfinite(d['bbox_px']), axis=1), np.ones((T, 24), np.float32))
        except (KeyError, ValueError) as exc:
            raise DataError(f'{path}: real observations need landmarks_px (T, 33, 2), visibility (T, 33), '
                            f'landmarks_3d_m (T, 33, 3), bbox_px (T, 4): {exc}') from exc
        return seq, obs
