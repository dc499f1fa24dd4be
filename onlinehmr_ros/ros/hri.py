"""REP-155 (ros4hri) messages from the core's REP-155 mapping (``core.fusion.hri``,
``core.body.human_description``): stateless builders, one per message, and the per-body topic names."""
from __future__ import annotations

import numpy as np
from geometry_msgs.msg import TransformStamped
from hri_msgs.msg import IdsList, NormalizedPointOfInterest2D, NormalizedRegionOfInterest2D, Skeleton2D
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from onlinehmr_ros.core.body.human_description import HUMAN_JOINT_NAMES
from onlinehmr_ros.core.common.geometry import quat_wxyz_from_rotmat, quat_wxyz_to_xyzw
from onlinehmr_ros.core.fusion.hri import RegionOfInterest
from onlinehmr_ros.ros.convert import make_header, transform_msg

#: REP-155 namespace of the bodies
BODIES_NS = '/humans/bodies'
TRACKED_TOPIC = f'{BODIES_NS}/tracked'
#: per-body sub-topics this package publishes: name -> message type (REP-155 "Bodies"; ``urdf`` as hri_fullbody)
BODY_TOPICS = {'roi': NormalizedRegionOfInterest2D, 'skeleton2d': Skeleton2D, 'joint_states': JointState,
               'urdf': String}


def body_topic(body: str, sub: str) -> str:
    """``/humans/bodies/<body>/<sub>``."""
    return f'{BODIES_NS}/{body}/{sub}'


def frame_name(link: str, body: str) -> str:
    """REP-155 TF frame of a link of a body: ``<link>_<body>`` (``body_<id>``, ``l_elbow_<id>``...)."""
    return f'{link}_{body}'


def ids_list_msg(ids: list[str], stamp_ns: int, frame_id: str = '') -> IdsList:
    return IdsList(header=make_header(stamp_ns, frame_id), ids=list(ids))


def skeleton2d_msg(points_xyc: np.ndarray, stamp_ns: int, frame_id: str) -> Skeleton2D:
    """(18, 3) normalised ``(x, y, c)`` rows in Skeleton2D order -> Skeleton2D."""
    p = np.asarray(points_xyc, dtype=np.float64).reshape(18, 3)
    return Skeleton2D(header=make_header(stamp_ns, frame_id),
                      skeleton=[NormalizedPointOfInterest2D(x=float(x), y=float(y), c=float(c)) for x, y, c in p])


def roi_msg(roi: RegionOfInterest, stamp_ns: int, frame_id: str) -> NormalizedRegionOfInterest2D:
    return NormalizedRegionOfInterest2D(header=make_header(stamp_ns, frame_id), xmin=roi.xmin, ymin=roi.ymin,
                                        xmax=roi.xmax, ymax=roi.ymax, c=roi.c)


def joint_state_msg(body: str, angles: np.ndarray, stamp_ns: int, frame_id: str) -> JointState:
    """JointState of the human_description model: names ``<joint>_<body>`` in hri_fullbody's order."""
    msg = JointState(header=make_header(stamp_ns, frame_id), name=[f'{n}_{body}' for n in HUMAN_JOINT_NAMES])
    msg.position = [float(a) for a in np.asarray(angles).reshape(-1)]
    return msg


def urdf_msg(urdf_xml: str) -> String:
    return String(data=urdf_xml)


def body_transforms(body: str, T_frame_body: np.ndarray, frame_id: str, stamp_ns: int,
                    links: list[tuple[str, str, np.ndarray]] | None = None) -> list[TransformStamped]:
    """``frame_id -> body_<id>``, and (with ``links`` from ``human_description.parent_transforms``)
    every link relative to its parent link, named as robot_state_publisher would name them."""
    def tf(T, parent, child):
        T = np.asarray(T, dtype=np.float64)
        return transform_msg(stamp_ns, parent, child, T[:3, 3], quat_wxyz_to_xyzw(quat_wxyz_from_rotmat(T[:3, :3])))
    out = [tf(T_frame_body, frame_id, frame_name('body', body))]
    for parent, child, T in links or []:
        out.append(tf(T, frame_name(parent, body), frame_name(child, body)))
    return out
