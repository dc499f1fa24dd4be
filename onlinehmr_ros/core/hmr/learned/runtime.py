"""Streaming learned HMR for the pipeline: one KV cache per track, constant cost per frame.

    hmr = LearnedHMR(LearnedHMRConfig())                 # the packaged landmark checkpoint
    est = hmr.step(track_id, observation, intrinsics)   # PersonObservation -> LearnedBodyEstimate
    hmr.reset(track_id)                                  # track lost / ended

``step`` runs the network in streaming mode (:meth:`CausalHMRNet.forward_step`)
on the track's cache, poses the body and returns the body parameters in
the camera optical frame with a per-joint confidence; ``reposed`` poses the same
body with other parameters (the pipeline's causal output filter, core.hmr.smoothing).

Joints, keypoints and landmarks are evaluated at those points only
(:class:`~onlinehmr_ros.core.body.kinematics.LandmarkKinematics`, ~0.2 ms); the mesh (13,718
vertices of the open model, ~3.5 ms per body model call here) only when ``compute_vertices`` is on.
A caller that publishes some estimates and not others (the camera-space HMR: a track on the
fitter still runs the network for the domain check) turns it off and poses the published bodies
in one batched call.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import pathlib
from dataclasses import dataclass, field

import numpy as np
import torch

from onlinehmr_ros.core.body.kinematics import LandmarkKinematics
from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
from onlinehmr_ros.core.body.model import posed_vertices
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, HumanState
from onlinehmr_ros.core.common.geometry import axis_angle_from_rotmat
from onlinehmr_ros.core.hmr.learned.encoders import CheckpointError
from onlinehmr_ros.core.hmr.learned.features import observation_features
from onlinehmr_ros.core.hmr.learned.model import load_checkpoint
from onlinehmr_ros.core.hmr.learned.temporal import KVCache


def packaged_checkpoint_path() -> pathlib.Path:
    """The landmark-token checkpoint shipped in the package (``onlinehmr_ros/data``)."""
    return pathlib.Path(str(importlib.resources.files('onlinehmr_ros') / 'data' / 'learned_hmr_landmarks.pt'))


@dataclass(frozen=True)
class LearnedHMRConfig:
    """Settings of the streaming learned HMR.

    Attributes:
        checkpoint_path: a :func:`~.model.save_checkpoint` file; None = the packaged one.
        body_model: must be the body model the checkpoint was trained with (checked).
        dtype: 'float32' or 'float64'.
        compute_vertices: return the mesh vertices (False: ``vertices`` is (0, 3); joints, keypoints and
            landmarks are evaluated at their points without the mesh).
        confidence_sigma_m: per-joint confidence = exp(-predicted error std / this), metres: 0.5 at a predicted
            3D error std of 0.69 x this (0.17 m). The scale only sets where the confidences sit, not their ranking
            (Spearman with the error unchanged); 0.25 puts them where the consumers' thresholds (0.5: SLAM's
            people ruler and trunk cue) admit the joints the fitter's confidence admits. With 0.05 the feet
            were ~0.04 and the person ~0.29, no person passed the ruler and the world scale never converged.
    """

    checkpoint_path: str | None = None
    body_model: BodyModelConfig = field(default_factory=BodyModelConfig)
    dtype: str = 'float32'
    compute_vertices: bool = True
    confidence_sigma_m: float = 0.25


@dataclass(frozen=True)
class LearnedBodyEstimate:
    """One person at one frame from the learned HMR, camera optical frame, metres (numpy float32)."""

    track_id: int
    frame_index: int
    betas: np.ndarray              # (num_betas,)
    global_orient: np.ndarray      # (3,) axis-angle, body -> camera
    body_pose: np.ndarray          # (69,) axis-angle, parent-relative
    transl: np.ndarray             # (3,) body-model translation
    joints: np.ndarray             # (24, 3) SMPL-24 joints
    joint_confidence: np.ndarray   # (24,) in (0, 1]: exp(-joint_sigma_m / LearnedHMRConfig.confidence_sigma_m)
    joint_sigma_m: np.ndarray      # (24,) the network's predicted std of each joint's 3D error, metres
    vertices: np.ndarray           # (V, 3), (0, 3) when not computed
    keypoints_coco: np.ndarray     # (23, 3) COCO-17 + 6 foot keypoints
    landmarks_mediapipe: np.ndarray  # (33, 3) the body model's MediaPipe landmarks (for refinement)

    def to_human_state(self, model: str) -> HumanState:
        """As the pipeline contract (``HumanState``, COCO-17 keypoints)."""
        return HumanState(track_id=self.track_id, model=model, betas=self.betas, global_orient=self.global_orient,
                          body_pose=self.body_pose, transl=self.transl, joints=self.joints,
                          joint_confidence=self.joint_confidence, vertices=self.vertices,
                          keypoints_coco=self.keypoints_coco[:17], confidence=float(self.joint_confidence.mean()))


class LearnedHMR:
    """Streaming learned HMR with one KV cache per track (see module docstring).

    Args:
        config: :class:`LearnedHMRConfig`.
        body_model: the loaded body model (None: load ``config.body_model``).
        kinematics: the body model's :class:`~onlinehmr_ros.core.body.kinematics.LandmarkKinematics`, when the
            caller has one already (the fitter's); None builds it (~0.3 s).

    Raises (constructor):
        CheckpointError: missing/corrupt checkpoint, or one trained for another body model.
    """

    def __init__(self, config: LearnedHMRConfig = LearnedHMRConfig(), body_model=None,
                 kinematics: LandmarkKinematics | None = None):
        self.config = config
        if config.dtype not in ('float32', 'float64'):
            raise ValueError(f"LearnedHMRConfig.dtype must be 'float32' or 'float64', got {config.dtype!r}")
        self.dtype = torch.float32 if config.dtype == 'float32' else torch.float64
        path = config.checkpoint_path or packaged_checkpoint_path()
        self.net, self.metadata = load_checkpoint(path, self.dtype)
        if self.net.cfg.encoder != 'landmarks':
            raise CheckpointError(f'{path} holds a {self.net.cfg.encoder!r}-token model; LearnedHMR.step takes '
                                  'perception landmarks and needs a landmark-token checkpoint')
        trained_on = self.metadata.get('body_model')
        if trained_on is not None and trained_on != config.body_model.type:
            raise CheckpointError(f'{path} was trained with the {trained_on!r} body model but body_model.type is '
                                  f'{config.body_model.type!r}; its shape coefficients mean nothing for another '
                                  'model: use the same body model or retrain (onlinehmr train --body-model-type)')
        self.body_model = (body_model if body_model is not None else load_body_model(config.body_model)).to(self.dtype)
        self.kinematics = kinematics if kinematics is not None else LandmarkKinematics(self.body_model)
        self._caches: dict[int, KVCache] = {}
        self._next_index: dict[int, int] = {}

    @property
    def window(self) -> int:
        return self.net.window

    def reset(self, track_id: int | None = None) -> None:
        """Forget a track's cache (None: all tracks)."""
        if track_id is None:
            self._caches.clear()
            self._next_index.clear()
        else:
            self._caches.pop(track_id, None)
            self._next_index.pop(track_id, None)

    def step(self, track_id: int, observation, intrinsics: CameraIntrinsics,
             frame_index: int | None = None) -> LearnedBodyEstimate:
        """Estimate one tracked person's body in the current frame.

        Args:
            track_id: the person's track.
            observation: a :class:`~onlinehmr_ros.core.hmr.perception.observation.PersonObservation`.
            intrinsics: the frame's intrinsics.
            frame_index: the frame's index in the stream (increasing per track; a gap means the person
                was not observed, and older cached frames age accordingly). None: previous + 1.
        Returns:
            the estimate; the track's cache now holds this frame.
        """
        cache = self._caches.setdefault(track_id, self.net.new_cache())
        idx = self._next_index.get(track_id, 0) if frame_index is None else int(frame_index)
        lm, box = observation_features(observation, intrinsics)
        inputs = {'landmarks': torch.as_tensor(lm[None], dtype=self.dtype),
                  'box': torch.as_tensor(box[None], dtype=self.dtype)}
        with torch.no_grad():
            pred = self.net.forward_step(inputs, cache, idx)
            conf = pred.joint_confidence(self.config.confidence_sigma_m)
            sigma = torch.exp(pred.joint_log_sigma)
        self._next_index[track_id] = idx + 1
        aa = axis_angle_from_rotmat(pred.rotmat[0].double().numpy())                   # (24, 3)
        est = LearnedBodyEstimate(track_id=track_id, frame_index=idx, betas=pred.betas[0].to(torch.float32).numpy(),
                                  global_orient=aa[0].astype(np.float32), body_pose=aa[1:].reshape(69).astype(np.float32),
                                  transl=np.zeros(3, np.float32), joints=np.zeros((24, 3), np.float32),
                                  joint_confidence=conf[0].to(torch.float32).numpy(),
                                  joint_sigma_m=sigma[0].to(torch.float32).numpy(), vertices=np.zeros((0, 3), np.float32),
                                  keypoints_coco=np.zeros((23, 3), np.float32),
                                  landmarks_mediapipe=np.zeros((33, 3), np.float32))
        return self.reposed(est, est.betas, est.global_orient, est.body_pose, pred.pelvis_cam_m[0].double().numpy())

    def reposed(self, est: LearnedBodyEstimate, betas: np.ndarray, global_orient: np.ndarray,
                body_pose: np.ndarray, pelvis_cam: np.ndarray) -> LearnedBodyEstimate:
        """``est`` with its shape, pose and pelvis position (joint 0, camera frame) replaced (e.g. by the output
        filter's) and the body re-posed there: translation, joints, keypoints, landmarks and vertices follow;
        the confidence is kept."""
        f64 = lambda x: np.asarray(x, np.float64)[None]  # noqa: E731
        b, go, bp = f64(betas), f64(global_orient), f64(body_pose)
        out = self.kinematics.evaluate(b, go, bp, np.zeros((1, 3)))       # the body at transl = 0
        shift = np.asarray(pelvis_cam, np.float64) - out['joints'][0, 0]
        f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
        posed = dataclasses.replace(est, betas=f32(betas), global_orient=f32(global_orient), body_pose=f32(body_pose),
                                    transl=f32(shift), joints=f32(out['joints'][0] + shift),
                                    vertices=np.zeros((0, 3), np.float32), keypoints_coco=f32(out['coco'][0] + shift),
                                    landmarks_mediapipe=f32(out['mediapipe'][0] + shift))
        if self.config.compute_vertices:
            posed = dataclasses.replace(posed, vertices=posed_vertices(self.body_model, [posed])[0])
        return posed
