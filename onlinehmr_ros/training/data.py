"""Training data for the learned HMR: posed sequences, training clips, converted real datasets.

Two sources behind one sequence record (:class:`PosedSequence`):

* **Synthetic** (:func:`generator_people`, :func:`synthetic_sequence`): the people of the
  project's one synthetic generator (:func:`onlinehmr_ros.eval.synthetic.generate_sequence`, run
  without rendering: its walking plans, waves, squats and turns, body shapes, rooms and
  hand-held / robot / static camera paths), in the camera frame, posed with the project's body
  model (:func:`pose_sequence`). Training scenarios per seed: :func:`scenario`.
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

from onlinehmr_ros.core.common.geometry import axis_angle_from_rotmat, project_points, rotmat_from_axis_angle
from onlinehmr_ros.core.hmr.learned.features import landmark_features
from onlinehmr_ros.eval.sets import REPORT_SEEDS  # training never uses them
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


#: first seed of the training data drawn by :func:`synthetic_sequence` (above the evaluation sets' seeds)
TRAINING_SEED_BASE = 10_000


def check_training_seeds(seeds) -> list[int]:
    """The seeds as a list; raises on report-set seeds (never train on them)."""
    seeds = [int(s) for s in seeds]
    bad = [s for s in seeds if s in REPORT_SEEDS]
    if bad:
        raise DataError(f'seeds {bad[:5]} belong to the report set (7000-7999): never train on them')
    return seeds


def scenario(seed: int, num_frames: int):
    """Generator configuration of training seed ``seed``: 1-3 people, every camera kind, horizontal
    field of view 50-80 degrees, people 2-7 m away, a pillar in a third of the sequences (drawn from
    ``default_rng([seed, 2])``, which leaves the generator's own random streams untouched)."""
    from onlinehmr_ros.eval.synthetic import SequenceConfig
    rng = np.random.default_rng([seed, 2])
    near = float(rng.uniform(2.0, 3.5))
    people = int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25]))
    return SequenceConfig(num_frames=num_frames, num_people=people,
                          camera_kind=str(rng.choice(['handheld', 'robot', 'static'], p=[0.5, 0.3, 0.2])),
                          hfov_deg=float(rng.uniform(50.0, 80.0)),
                          people_depth_m=(near, near + float(rng.uniform(1.5, 3.5))),
                          pillar=bool(rng.random() < 0.33))


def motion_only(config):
    """A :func:`scenario` for ``generate_sequence(..., render=False)``: no pillar (nothing is rendered to
    hide) and coarse room textures (never rendered; they cost seconds per sequence at full resolution).
    The people and cameras follow the same rules; a seed's draws differ from its rendered version's."""
    from onlinehmr_ros.eval.synthetic import RoomConfig
    return dataclasses.replace(config, pillar=False, room=RoomConfig(texel_m=0.05))


def people_in_camera(seq) -> dict[str, np.ndarray]:
    """The true people of a generated sequence in its camera frame (P people, F frames).

    Returns:
        ``betas`` (P, B), ``global_orient`` (P, F, 3) body -> camera axis-angle, ``body_pose``
        (P, F, 69), ``pelvis_cam`` (P, F, 3) joint 0 in metres, ``joints_visible`` (P, F, 24).
    """
    R_cw = np.swapaxes(seq.T_world_cam[:, :3, :3], 1, 2)
    t_cw = -np.einsum('fij,fj->fi', R_cw, seq.T_world_cam[:, :3, 3])
    return {'betas': np.stack([p.betas for p in seq.people]).astype(np.float32),
            'global_orient': np.stack([axis_angle_from_rotmat(R_cw @ rotmat_from_axis_angle(
                p.global_orient_world.astype(np.float64))) for p in seq.people]).astype(np.float32),
            'body_pose': np.stack([p.body_pose for p in seq.people]).astype(np.float32),
            'pelvis_cam': np.stack([np.einsum('fij,fj->fi', R_cw, p.joints_world[:, 0].astype(np.float64)) + t_cw
                                    for p in seq.people]).astype(np.float32),
            'joints_visible': np.stack([p.joints_visible for p in seq.people])}


def generator_people(body_model, seed: int, num_frames: int, min_visible_frames: int = 30
                     ) -> list[PosedSequence]:
    """One :class:`PosedSequence` per person of training seed ``seed`` (:func:`scenario`, not rendered)
    that is in view (9+ joints in the image) for at least ``min_visible_frames`` frames."""
    from onlinehmr_ros.eval.synthetic import generate_sequence
    check_training_seeds([seed])
    seq = generate_sequence(motion_only(scenario(seed, num_frames)), seed, body_model=body_model, render=False)
    cam = people_in_camera(seq)
    out = []
    for p in range(len(seq.people)):
        if int((cam['joints_visible'][p].sum(-1) >= 9).sum()) < min_visible_frames:
            continue
        out.append(pose_sequence(body_model, cam['betas'][p], cam['global_orient'][p].astype(np.float64),
                                 cam['body_pose'][p].astype(np.float64), seq.intrinsics.K,
                                 (seq.intrinsics.width_px, seq.intrinsics.height_px), seq.fps,
                                 pelvis_cam=cam['pelvis_cam'][p].astype(np.float64)))
    return out


def synthetic_sequence(body_model, rng: np.random.Generator, num_frames: int) -> PosedSequence:
    """One person of a generator sequence whose training seed (>= :data:`TRAINING_SEED_BASE`) is drawn from ``rng``."""
    while True:
        people = generator_people(body_model, int(rng.integers(TRAINING_SEED_BASE, 2 ** 31 - 1)), num_frames,
                                  min_visible_frames=min(30, num_frames // 2))
        if people:
            return people[0]


def parse_seed_ranges(text: str) -> list[int]:
    """'20000-20199' or '10000,10005-10007' -> a list of seeds."""
    seeds: list[int] = []
    for part in text.split(','):
        a, _, b = part.strip().partition('-')
        try:
            seeds += list(range(int(a), int(b) + 1)) if b else [int(a)]
        except ValueError as exc:
            raise DataError(f'seeds must look like 20000-20199 or 1,2,5-7; got {text!r}') from exc
    return seeds


def generator_training_people(body_model, seeds, num_frames: int, cache_dir: str | pathlib.Path | None = None,
                              progress: bool = False) -> list[PosedSequence]:
    """:func:`generator_people` of every seed; each seed's people are cached in ``cache_dir`` (npz)."""
    from tqdm import tqdm
    from onlinehmr_ros.eval.synthetic import generate_sequence
    cache = pathlib.Path(cache_dir) if cache_dir else None
    out: list[PosedSequence] = []
    for seed in tqdm(check_training_seeds(seeds), disable=not progress, desc='generator people', unit='seed'):
        path = cache / f'people_{seed}_{num_frames}.npz' if cache else None
        if path is not None and path.is_file():
            with np.load(path) as z:
                d = {k: z[k] for k in z.files}
        else:
            seq = generate_sequence(motion_only(scenario(seed, num_frames)), seed, body_model=body_model,
                                    render=False)
            d = people_in_camera(seq)
            d.update(K=seq.intrinsics.K, image_size=np.array([seq.intrinsics.width_px, seq.intrinsics.height_px]),
                     fps=np.float64(seq.fps))
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(path, **d)
        for p in range(d['betas'].shape[0]):
            if int((d['joints_visible'][p].sum(-1) >= 9).sum()) < min(30, num_frames // 2):
                continue
            out.append(pose_sequence(body_model, d['betas'][p], d['global_orient'][p].astype(np.float64),
                                     d['body_pose'][p].astype(np.float64), d['K'],
                                     tuple(int(v) for v in d['image_size']), float(d['fps']),
                                     pelvis_cam=d['pelvis_cam'][p].astype(np.float64)))
    return out


def rendered_seeds(directory: str | pathlib.Path) -> str:
    """'10000-10047 (48 files)' of a rendered training set folder."""
    seeds = sorted(int(p.stem.split('_')[1]) for p in pathlib.Path(directory).glob('seq_*.npz'))
    return f'{seeds[0]}-{seeds[-1]} ({len(seeds)} files)' if seeds else 'none'


def load_rendered_set(directory: str | pathlib.Path, body_model, min_frames: int = 48
                      ) -> list[tuple[PosedSequence, SimulatedObservations]]:
    """(posed person, real mediapipe observations) of every person of a rendered training set
    (:mod:`onlinehmr_ros.training.rendered_set`) detected in at least ``min_frames`` frames."""
    files = sorted(pathlib.Path(directory).glob('seq_*.npz'))
    if not files:
        raise DataError(f'no seq_<seed>.npz in {directory}; make them with python -m '
                        'onlinehmr_ros.training.rendered_set --out DIR')
    out = []
    for path in files:
        with np.load(path) as z:
            d = {k: z[k] for k in z.files}
        check_training_seeds([int(d['seed'])])
        for p in range(d['betas'].shape[0]):
            valid = d['frame_valid'][p]
            if valid.sum() < min_frames:
                continue
            seq = pose_sequence(body_model, d['betas'][p], d['global_orient'][p].astype(np.float64),
                                d['body_pose'][p].astype(np.float64), d['K'],
                                tuple(int(v) for v in d['image_size']), float(d['fps']),
                                pelvis_cam=d['pelvis_cam'][p].astype(np.float64))
            box = np.where(valid[:, None], d['bbox_px'][p], 0.0).astype(np.float32)
            obs = SimulatedObservations(d['landmarks_px'][p], d['visibility'][p], d['landmarks_3d_m'][p], box, valid,
                                        d['joints_visible'][p].astype(np.float32))
            out.append((seq, obs))
    return out


class ObservedPool:
    """Clips of sequences with fixed (real) observations; clips start where a detection exists."""

    def __init__(self, pairs: list[tuple[PosedSequence, SimulatedObservations]]):
        if not pairs:
            raise DataError('ObservedPool needs at least one (sequence, observations) pair')
        self.pairs = pairs

    def sample_batch(self, rng: np.random.Generator, batch_size: int, clip_len: int) -> dict[str, torch.Tensor]:
        items = []
        while len(items) < batch_size:
            seq, obs = self.pairs[int(rng.integers(len(self.pairs)))]
            if seq.num_frames < clip_len:
                raise DataError(f'sequence of {seq.num_frames} frames is shorter than clip_len={clip_len}')
            s = int(rng.integers(0, seq.num_frames - clip_len + 1))
            if obs.frame_valid[s:s + clip_len].sum() < clip_len // 2:
                continue
            sl = slice(s, s + clip_len)
            clip_obs = SimulatedObservations(*[getattr(obs, f.name)[sl] for f in dataclasses.fields(obs)])
            items.append(make_training_arrays(clip_sequence(seq, s, s + clip_len), clip_obs))
        return {k: torch.as_tensor(np.stack([it[k] for it in items])) for k in items[0]}


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
