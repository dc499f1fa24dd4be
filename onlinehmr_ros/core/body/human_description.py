"""The REP-155 human kinematic model (ros4hri's human_description): dimensions, URDF, IK, FK.

REP-155 ("Kinematic Model of the Human", https://ros.org/reps/rep-0155.html) publishes a body's
3D pose as ``sensor_msgs/JointState`` of a URDF model generated per body from ros4hri's
``human_description`` template (``urdf/human-tpl.xacro``, humble-devel 2.0.2, commit
9050b42d85337e92adb3f9b98b797c0952270912, BSD): 15 links, 20 revolute joints, every name
suffixed with ``_<bodyID>``. ``hri_fullbody`` (ros4hri, humble-devel 2.1.0, commit 217e77a2)
publishes the joint values in the order of its ``HUMAN_JOINT_NAMES`` and the URDF as a latched
``std_msgs/String`` on ``/humans/bodies/<id>/urdf``; a ``robot_state_publisher`` per body turns
them into TF frames below ``body_<id>``.

This module writes that model itself (no xacro at run time): :func:`joint_table` is the one
description of the tree (joint names, types, parents, origins, axes and limits as in the
template; segment lengths measured on the person, :class:`BodyDimensions`), from which
:func:`urdf_xml` writes the URDF and :func:`forward_kinematics` computes link poses.
:func:`joint_angles` is the inverse: the joint values that point every limb segment of the
model along the same segment of an SMPL-24 skeleton (analytic, per chain, no optimisation).

What the model cannot represent (so what :func:`forward_kinematics` does not reproduce): the
torso is rigid with one waist joint (forward/backward lean only: no sideways lean, no twist of
the shoulders against the hips), shoulders and hips sit at fixed offsets along the body's
y axis, and the upstream joint limits are not enforced (``robot_state_publisher`` ignores them;
where a pose has a solution inside the limits, that one is returned).

Frames (REP-155 "Body frames"; REP-103): ``body_<id>`` has its origin at the mid-point of the
hips, x forward (out of the body), y to the person's left, z up (towards the head; here the
world's up direction, so a lean shows in the waist joint). Every link frame has x forward,
y left and z up when all joints are zero (standing, arms hanging); limb segments extend along
the link's -z.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import numpy as np
from scipy.spatial.transform import Rotation

from onlinehmr_ros.core.body.skeleton import COCO_KEYPOINT_NAMES, SMPL_JOINT_NAMES
from onlinehmr_ros.core.common.geometry import make_transform, rotmat_aligning_vectors

#: hri_fullbody's ``jointstate.HUMAN_JOINT_NAMES``: the order of JointState.position (each name
#: is suffixed with ``_<bodyID>`` on the wire)
HUMAN_JOINT_NAMES: tuple[str, ...] = (
    'waist', 'r_head', 'y_head', 'p_head',
    'l_y_shoulder', 'l_p_shoulder', 'l_r_shoulder', 'l_elbow',
    'r_y_shoulder', 'r_p_shoulder', 'r_r_shoulder', 'r_elbow',
    'l_y_hip', 'l_p_hip', 'l_r_hip', 'l_knee',
    'r_y_hip', 'r_p_hip', 'r_r_hip', 'r_knee',
)
#: root link of the tree: the REP-155 body frame
ROOT_LINK = 'body'

_J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
_K = {n: i for i, n in enumerate(COCO_KEYPOINT_NAMES)}
_SIDES = (('l', 1.0, 'left'), ('r', -1.0, 'right'))


class HumanDescriptionError(ValueError):
    """A skeleton the REP-155 model cannot be fitted to (wrong shape, degenerate, not finite)."""


@dataclass(frozen=True)
class BodyDimensions:
    """Segment lengths of the human_description model (metres); names follow the template.

    Attributes:
        head_radius: radius of the head sphere; the head frame sits head_radius above and
            head_radius / 2 in front of the neck joint.
        neck_length: from the torso frame (between the shoulders) up to the neck joint.
        neck_shoulder_length: from the torso frame to each shoulder (half the shoulder width).
        upperarm_length: shoulder to elbow.
        forearm_length: elbow to wrist.
        torso_height: from the body frame (between the hips) up to the torso frame.
        waist_length: distance between the hip joints.
        thigh_length: hip to knee (the template's ``tight_length``).
        tibia_length: knee to ankle.
    """

    head_radius: float
    neck_length: float
    neck_shoulder_length: float
    upperarm_length: float
    forearm_length: float
    torso_height: float
    waist_length: float
    thigh_length: float
    tibia_length: float

    def __post_init__(self):
        for name, value in self.__dict__.items():
            if not (np.isfinite(value) and value > 0):
                raise HumanDescriptionError(f'BodyDimensions.{name} must be a positive length, got {value!r}')

    @classmethod
    def from_height(cls, height_m: float = 1.65) -> 'BodyDimensions':
        """The template's default proportions for a height (``size_unit = height / 7.5``)."""
        u = height_m / 7.5
        return cls(head_radius=u / 2, neck_length=0.25 * u, neck_shoulder_length=0.8 * u,
                   upperarm_length=1.6 * u, forearm_length=u, torso_height=2.75 * u, waist_length=1.2 * u,
                   thigh_length=1.5 * u, tibia_length=2 * u)

    @classmethod
    def measured(cls, joints: np.ndarray, keypoints_coco: np.ndarray) -> 'BodyDimensions':
        """Segment lengths of one person from an SMPL-24 skeleton and its COCO keypoints (any frame).

        Args:
            joints: (24, 3) SMPL-24 joints, metres.
            keypoints_coco: (>=17, 3) COCO keypoints, metres (the ears give the head size).
        Raises:
            HumanDescriptionError: wrong shapes, non-finite values or zero-length segments.
        """
        j, k = _check_skeleton(joints, keypoints_coco)

        def seg(a: str, b: str) -> float:
            return 0.5 * sum(float(np.linalg.norm(j[_J[f'{s}_{a}']] - j[_J[f'{s}_{b}']])) for s in ('left', 'right'))

        mid_hips = 0.5 * (j[_J['left_hip']] + j[_J['right_hip']])
        mid_shoulders = 0.5 * (j[_J['left_shoulder']] + j[_J['right_shoulder']])
        return cls(
            head_radius=0.5 * float(np.linalg.norm(k[_K['left_ear']] - k[_K['right_ear']])),
            neck_length=float(np.linalg.norm(j[_J['neck']] - mid_shoulders)),
            neck_shoulder_length=0.5 * float(np.linalg.norm(j[_J['left_shoulder']] - j[_J['right_shoulder']])),
            upperarm_length=seg('shoulder', 'elbow'), forearm_length=seg('elbow', 'wrist'),
            torso_height=float(np.linalg.norm(mid_shoulders - mid_hips)),
            waist_length=float(np.linalg.norm(j[_J['left_hip']] - j[_J['right_hip']])),
            thigh_length=seg('hip', 'knee'), tibia_length=seg('knee', 'ankle'))


@dataclass(frozen=True)
class JointSpec:
    """One joint of the model: ``child`` is attached to ``parent`` at ``origin_xyz`` (parent frame)."""

    name: str
    kind: str                          # 'revolute' or 'fixed'
    parent: str
    child: str
    origin_xyz: tuple[float, float, float]
    axis_xyz: tuple[float, float, float] | None = None
    limits: tuple[float, float] | None = None     # (lower, upper), radians


def joint_table(d: BodyDimensions) -> tuple[JointSpec, ...]:
    """The human_description tree for dimensions ``d``, parents before children.

    Names, types, axes and limits are those of human-tpl.xacro (humble-devel 2.0.2), which
    writes origins with ``rpy="0 0 0"`` everywhere; only the lengths are the person's.
    """
    t: list[JointSpec] = [
        JointSpec('waist', 'revolute', 'body', 'waist', (0.0, 0.0, 0.0), (0.0, 1.0, 0.0), (-0.2, 1.0)),
        JointSpec('torso', 'fixed', 'waist', 'torso', (0.0, 0.0, d.torso_height)),
        JointSpec('r_head', 'revolute', 'torso', 'r_head', (0.0, 0.0, d.neck_length), (1.0, 0.0, 0.0), (-1.0, 1.0)),
        JointSpec('y_head', 'revolute', 'r_head', 'y_head', (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), (-1.4, 1.4)),
        JointSpec('p_head', 'revolute', 'y_head', 'p_head', (0.0, 0.0, 0.0), (0.0, -1.0, 0.0), (-1.5, 1.5)),
        JointSpec('head', 'fixed', 'p_head', 'head', (d.head_radius / 2, 0.0, d.head_radius)),
    ]
    for s, r, _ in _SIDES:
        t += [
            JointSpec(f'{s}_y_shoulder', 'revolute', 'torso', f'{s}_y_shoulder', (0.0, r * d.neck_shoulder_length, 0.0),
                      (0.0, 0.0, -r), (-1.1, 1.9)),
            JointSpec(f'{s}_p_shoulder', 'revolute', f'{s}_y_shoulder', f'{s}_p_shoulder', (0.0, 0.0, 0.0),
                      (r, 0.0, 0.0), (-0.4, 3.3)),
            JointSpec(f'{s}_r_shoulder', 'revolute', f'{s}_p_shoulder', f'{s}_shoulder', (0.0, 0.0, 0.0),
                      (0.0, 0.0, r), (-1.7, 1.5)),
            JointSpec(f'{s}_elbow', 'revolute', f'{s}_shoulder', f'{s}_elbow', (0.0, 0.0, -d.upperarm_length),
                      (0.0, -1.0, 0.0), (0.0, 2.5)),
            JointSpec(f'{s}_wrist', 'fixed', f'{s}_elbow', f'{s}_wrist', (0.0, 0.0, -d.forearm_length)),
        ]
    for s, r, _ in _SIDES:
        t += [
            JointSpec(f'{s}_y_hip', 'revolute', 'body', f'{s}_y_hip', (0.0, r * d.waist_length / 2, 0.0),
                      (0.0, 0.0, -1.0), (-0.1, 0.6)),
            JointSpec(f'{s}_p_hip', 'revolute', f'{s}_y_hip', f'{s}_p_hip', (0.0, 0.0, 0.0), (r, 0.0, 0.0),
                      (-0.4, 3.3)),
            JointSpec(f'{s}_r_hip', 'revolute', f'{s}_p_hip', f'{s}_hip', (0.0, 0.0, 0.0), (0.0, -1.0, 0.0),
                      (-0.4, 0.7)),
            JointSpec(f'{s}_knee', 'revolute', f'{s}_hip', f'{s}_knee', (0.0, 0.0, -d.thigh_length),
                      (0.0, -1.0, 0.0), (-2.5, 0.0)),
            JointSpec(f'{s}_ankle', 'fixed', f'{s}_knee', f'{s}_ankle', (0.0, 0.0, -d.tibia_length)),
        ]
    return tuple(t)


def forward_kinematics(angles: np.ndarray, d: BodyDimensions) -> dict[str, np.ndarray]:
    """Pose of every link in the body frame.

    Args:
        angles: (20,) joint values in :data:`HUMAN_JOINT_NAMES` order, radians.
        d: the body's dimensions.
    Returns:
        link name (without the id suffix) -> (4, 4) ``T_body_link``, the root ``body`` included.
    """
    a = np.asarray(angles, dtype=np.float64).reshape(-1)
    if a.shape != (len(HUMAN_JOINT_NAMES),):
        raise HumanDescriptionError(f'expected {len(HUMAN_JOINT_NAMES)} joint values, got {a.shape}')
    value = dict(zip(HUMAN_JOINT_NAMES, a))
    T = {ROOT_LINK: np.eye(4)}
    for j in joint_table(d):
        R = np.eye(3) if j.kind == 'fixed' else Rotation.from_rotvec(np.asarray(j.axis_xyz) * value[j.name]).as_matrix()
        T[j.child] = T[j.parent] @ make_transform(R, np.asarray(j.origin_xyz))
    return T


def outside_limits(angles: np.ndarray) -> np.ndarray:
    """(20,) bool: which joint values lie outside the template's limits (they are published anyway)."""
    a = np.asarray(angles, dtype=np.float64).reshape(-1)
    lim = {j.name: j.limits for j in joint_table(BodyDimensions.from_height()) if j.kind == 'revolute'}
    lo, hi = np.array([lim[n] for n in HUMAN_JOINT_NAMES]).T
    return (a < lo - 1e-9) | (a > hi + 1e-9)


def parent_transforms(angles: np.ndarray, d: BodyDimensions) -> list[tuple[str, str, np.ndarray]]:
    """(parent link, child link, ``T_parent_child``) for every joint: what robot_state_publisher sends."""
    T = forward_kinematics(angles, d)
    return [(j.parent, j.child, np.linalg.inv(T[j.parent]) @ T[j.child]) for j in joint_table(d)]


# ----------------------------------------------------------------------------
# From an SMPL-24 skeleton: body frame and joint values
# ----------------------------------------------------------------------------
def _check_skeleton(joints: np.ndarray, keypoints_coco: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    j = np.asarray(joints, dtype=np.float64)
    k = np.asarray(keypoints_coco, dtype=np.float64)
    if j.shape != (len(SMPL_JOINT_NAMES), 3):
        raise HumanDescriptionError(f'joints must be (24, 3) SMPL-24 positions, got {j.shape}')
    if k.ndim != 2 or k.shape[1] != 3 or k.shape[0] < 17:
        raise HumanDescriptionError(f'keypoints_coco must be (>=17, 3) COCO keypoints, got {k.shape}')
    if not (np.all(np.isfinite(j)) and np.all(np.isfinite(k[:17]))):
        raise HumanDescriptionError('joints or keypoints are not finite')
    return j, k


def _unit(v: np.ndarray, what: str) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if n < 1e-9:
        raise HumanDescriptionError(f'degenerate skeleton: {what} has zero length')
    return v / n


def body_frame(joints: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """``T_frame_body``: the REP-155 body frame of an SMPL-24 skeleton given in some frame.

    Origin at the mid-point of the hips; z along ``up`` (the frame's up direction, world z for
    REP-103 world frames); y to the person's left (hips and shoulders lines, made horizontal);
    x = y x z, forward.

    Raises:
        HumanDescriptionError: hips and shoulders lines both vertical, or wrong shape.
    """
    j = np.asarray(joints, dtype=np.float64)
    if j.shape != (len(SMPL_JOINT_NAMES), 3) or not np.all(np.isfinite(j)):
        raise HumanDescriptionError(f'joints must be finite (24, 3) SMPL-24 positions, got {j.shape}')
    z = _unit(np.asarray(up, dtype=np.float64), 'up')
    left = (j[_J['left_hip']] - j[_J['right_hip']]) + (j[_J['left_shoulder']] - j[_J['right_shoulder']])
    y = _unit(left - np.dot(left, z) * z, 'the left-right direction (hips and shoulders) seen from above')
    x = np.cross(y, z)
    return make_transform(np.stack([x, y, z], axis=1), 0.5 * (j[_J['left_hip']] + j[_J['right_hip']]))


#: limb bends (between a segment and the next) below which the hinge direction is mostly noise
#: (and the elbow's carrying angle): from ``_BEND_IGNORED_RAD`` the hinge turns towards the bend,
#: reaching it fully at ``_BEND_TRUSTED_RAD``; below, the limb keeps the twist-free orientation.
_BEND_IGNORED_RAD = np.deg2rad(3.0)
_BEND_TRUSTED_RAD = np.deg2rad(15.0)


def _frame_from_limb(segment: np.ndarray, next_segment: np.ndarray, bend_sign: float) -> np.ndarray:
    """Rotation of a limb link (in its chain's parent frame): -z along ``segment``, x the hinge's
    bending direction, so that ``next_segment`` lies in the link's x-z plane.

    ``bend_sign`` +1: the next segment leans towards +x (elbows); -1: towards -x (knees). A nearly
    straight limb has no reliable bending direction: its x is the twist-free one (the link's x at
    rest, carried by the smallest rotation from hanging straight down to ``segment``), blended into
    the bending direction between ``_BEND_IGNORED_RAD`` and ``_BEND_TRUSTED_RAD``.
    """
    z = -_unit(segment, 'a limb segment')
    x_rest = rotmat_aligning_vectors(np.array([0.0, 0.0, -1.0]), -z)[:, 0]
    nxt = _unit(next_segment, 'a limb segment')
    bend = float(np.arccos(np.clip(np.dot(nxt, -z), -1.0, 1.0)))
    w = float(np.clip((bend - _BEND_IGNORED_RAD) / (_BEND_TRUSTED_RAD - _BEND_IGNORED_RAD), 0.0, 1.0))
    x = x_rest
    if w > 0.0:
        perp = nxt - np.dot(nxt, z) * z
        x_bend = bend_sign * perp / np.linalg.norm(perp)
        blended = w * x_bend + (1.0 - w) * x_rest
        x = blended if np.linalg.norm(blended) > 1e-6 else x_bend
    x = x - np.dot(x, z) * z
    x = x / np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def _euler(R: np.ndarray, seq: str) -> np.ndarray:
    with warnings.catch_warnings():             # gimbal lock (e.g. an arm hanging straight): any split is exact
        warnings.simplefilter('ignore', UserWarning)
        return Rotation.from_matrix(R).as_euler(seq)


def _violation(values: np.ndarray, limits: list[tuple[float, float]]) -> float:
    return float(sum(max(lo - v, 0.0, v - hi) for v, (lo, hi) in zip(values, limits)))


def _wrap(a: np.ndarray) -> np.ndarray:
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def _best(candidates: list[np.ndarray], limits: list[tuple[float, float]]) -> np.ndarray:
    """The candidate inside the limits (else the one violating them least; ties: smallest angles)."""
    return min((_wrap(c) for c in candidates), key=lambda c: (round(_violation(c, limits), 9), float(np.abs(c).sum())))


def joint_angles(joints: np.ndarray, keypoints_coco: np.ndarray, T_frame_body: np.ndarray) -> np.ndarray:
    """Joint values of the human_description model that reproduce a skeleton's segment directions.

    Args:
        joints: (24, 3) SMPL-24 joints in some frame (metres).
        keypoints_coco: (>=17, 3) COCO keypoints in the same frame (nose and ears orient the head).
        T_frame_body: (4, 4) body frame in that frame (:func:`body_frame`).
    Returns:
        (20,) values in :data:`HUMAN_JOINT_NAMES` order (radians). Exact for the directions of the
        upper arms and thighs, for the forearms and shins of limbs bent by more than
        ``_BEND_TRUSTED_RAD`` (a straighter limb may lose the part of its bend that is off the
        twist-free hinge, at most its bend angle), and for the head orientation, relative to the
        torso (waist lean) and body frames; see the module docstring for what is not modelled.
    Raises:
        HumanDescriptionError: wrong shapes, non-finite values, coincident joints.
    """
    j, k = _check_skeleton(joints, keypoints_coco)
    R_fb = np.asarray(T_frame_body, dtype=np.float64)[:3, :3]
    jb = (j - T_frame_body[:3, 3]) @ R_fb                  # joints in the body frame
    kb = (k[:17] - T_frame_body[:3, 3]) @ R_fb
    lim = {j.name: j.limits for j in joint_table(BodyDimensions.from_height()) if j.kind == 'revolute'}
    out = dict.fromkeys(HUMAN_JOINT_NAMES, 0.0)

    # waist: the lean of the hips -> shoulders line in the body's x-z plane (rotation about +y)
    torso = 0.5 * (jb[_J['left_shoulder']] + jb[_J['right_shoulder']]) - 0.5 * (jb[_J['left_hip']] + jb[_J['right_hip']])
    out['waist'] = float(np.arctan2(torso[0], torso[2]))
    R_bt = Rotation.from_rotvec([0.0, out['waist'], 0.0]).as_matrix()     # torso in the body frame
    jt = jb @ R_bt                                                        # directions in the torso frame
    kt = kb @ R_bt

    # head: R = Rx(r) Rz(y) Ry(-p) relative to the torso; z up the neck, x towards the nose
    hz = _unit(jt[_J['head']] - jt[_J['neck']], 'neck -> head')
    fwd = kt[_K['nose']] - 0.5 * (kt[_K['left_ear']] + kt[_K['right_ear']])
    hx = _unit(fwd - np.dot(fwd, hz) * hz, 'ears -> nose')
    a, b, c = _euler(np.stack([hx, np.cross(hz, hx), hz], axis=1), 'XZY')
    hl = [lim['r_head'], lim['y_head'], lim['p_head']]
    out['r_head'], out['y_head'], out['p_head'] = _best([np.array([a, b, -c]), np.array([a + np.pi, np.pi - b, -(c + np.pi)])], hl)

    for s, r, side in _SIDES:
        # arm (torso frame): R = Rz(-r*y) Rx(r*p) Rz(r*roll); the elbow bends the forearm to +x
        upper = jt[_J[f'{side}_elbow']] - jt[_J[f'{side}_shoulder']]
        fore = jt[_J[f'{side}_wrist']] - jt[_J[f'{side}_elbow']]
        R_arm = _frame_from_limb(upper, fore, +1.0)
        a, b, c = _euler(R_arm, 'ZXZ')
        names = [f'{s}_y_shoulder', f'{s}_p_shoulder', f'{s}_r_shoulder']
        cands = [np.array([-r * a, r * b, r * c]), np.array([-r * (a + np.pi), -r * b, r * (c + np.pi)])]
        vals = _best(cands, [lim[n] for n in names])
        out.update(zip(names, map(float, vals)))
        fl = R_arm.T @ fore
        out[f'{s}_elbow'] = float(np.arctan2(fl[0], -fl[2]))
        # leg (body frame): R = Rz(-y) Rx(r*p) Ry(-roll); the knee bends the shin to -x
        thigh = jb[_J[f'{side}_knee']] - jb[_J[f'{side}_hip']]
        shin = jb[_J[f'{side}_ankle']] - jb[_J[f'{side}_knee']]
        R_leg = _frame_from_limb(thigh, shin, -1.0)
        a, b, c = _euler(R_leg, 'ZXY')
        names = [f'{s}_y_hip', f'{s}_p_hip', f'{s}_r_hip']
        cands = [np.array([-a, r * b, -c]), np.array([-(a + np.pi), r * (np.pi - b), -(c + np.pi)])]
        vals = _best(cands, [lim[n] for n in names])
        out.update(zip(names, map(float, vals)))
        sl = R_leg.T @ shin
        out[f'{s}_knee'] = float(np.arctan2(sl[0], -sl[2]))
    return np.array([out[n] for n in HUMAN_JOINT_NAMES])


# ----------------------------------------------------------------------------
# URDF
# ----------------------------------------------------------------------------
_LIMB_RADIUS_M = 0.03     # the template's limb_radius
#: link -> length of the segment drawn along its -z (a BodyDimensions field)
_SEGMENT_OF_LINK = {'l_shoulder': 'upperarm_length', 'r_shoulder': 'upperarm_length',
                    'l_elbow': 'forearm_length', 'r_elbow': 'forearm_length',
                    'l_hip': 'thigh_length', 'r_hip': 'thigh_length',
                    'l_knee': 'tibia_length', 'r_knee': 'tibia_length'}


def _fmt(values) -> str:
    return ' '.join(f'{float(v):.6g}' for v in values)


def _visual(link: str, d: BodyDimensions) -> tuple[str, tuple[float, float, float]] | None:
    """(URDF geometry, origin) of a link's visual, or None for links drawn by nothing."""
    if link == 'head':
        return f'<sphere radius="{d.head_radius:.6g}"/>', (-d.head_radius / 2, 0.0, 0.0)
    length = d.torso_height if link == 'torso' else getattr(d, _SEGMENT_OF_LINK.get(link, ''), None)
    if length is None:
        return None
    return f'<cylinder length="{length:.6g}" radius="{_LIMB_RADIUS_M}"/>', (0.0, 0.0, -length / 2)


def urdf_xml(body_id: str, d: BodyDimensions) -> str:
    """The URDF of one body (``robot`` named ``human_<id>``), every link and joint suffixed ``_<id>``.

    Visuals are simple (a sphere for the head, cylinders for the torso and limbs, as in the
    template) so that RViz's RobotModel display draws the body from its TF frames.
    """
    def name(n: str) -> str:
        return quoteattr(f'{n}_{body_id}')

    links = [ROOT_LINK] + [j.child for j in joint_table(d)]
    lines = ['<?xml version="1.0"?>', f'<robot name={quoteattr("human_" + body_id)}>',
             '  <material name="skin"><color rgba="1 0.7 0 1"/></material>']
    for link in links:
        visual = _visual(link, d)
        if visual is None:
            lines.append(f'  <link name={name(link)}/>')
            continue
        geometry, origin = visual
        lines += [f'  <link name={name(link)}>', '    <visual>', f'      <origin xyz="{_fmt(origin)}" rpy="0 0 0"/>',
                  f'      <geometry>{geometry}</geometry>', '      <material name="skin"/>', '    </visual>',
                  '  </link>']
    for j in joint_table(d):
        lines += [f'  <joint name={name(j.name)} type="{j.kind}">',
                  f'    <parent link={name(j.parent)}/>', f'    <child link={name(j.child)}/>',
                  f'    <origin xyz="{_fmt(j.origin_xyz)}" rpy="0 0 0"/>']
        if j.kind == 'revolute':
            lines += [f'    <axis xyz="{_fmt(j.axis_xyz)}"/>',
                      f'    <limit effort="1000" lower="{j.limits[0]:.6g}" upper="{j.limits[1]:.6g}" velocity="0.5"/>']
        lines.append('  </joint>')
    lines.append('</robot>')
    return '\n'.join(lines) + '\n'
