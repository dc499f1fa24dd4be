"""Pictures from a bag recorded from the pipeline's topics: overlay video, scene views, a summary picture.

``onlinehmr render-bag BAG --out DIR`` and ``onlinehmr demo`` call :func:`render_bag`.
"""
from __future__ import annotations

import pathlib

import numpy as np


class BagRenderError(RuntimeError):
    """The bag lacks what the pictures need (a topic, the body model's faces, images)."""


def render_bag(bag: str, out_dir: str, fps: float = 24.0) -> dict:
    """Overlay video and scene pictures from a bag recorded from the pipeline's topics.

    Returns:
        counts of what was found (frames, overlaid frames, poses, tracks).
    Raises:
        BagRenderError: the bag lacks the image or camera_humans topic.
    """
    import cv2
    from rclpy.serialization import deserialize_message
    from rosbags.highlevel import AnyReader

    from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
    from onlinehmr_ros.core.io.visualize import overlay_humans, save_scene_views
    from onlinehmr_ros.ros import convert
    from onlinehmr_ros.ros.recording import message_class

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wanted = ('/camera/image_raw', '/camera/image_raw/compressed', '/camera/camera_info', '/human/camera_humans',
              '/human/body_model', '/slam/camera_pose', '/human/world_humans', '/slam/map')
    images, humans, cams, world_last, paths = {}, {}, [], {}, {}
    world_last_placed = {}     # track -> (stamp, world joints) of meshes recorded without vertices
    K = faces = None
    map_points = np.zeros((0, 3))
    with AnyReader([pathlib.Path(bag)]) as reader:
        topics = {c.topic for c in reader.connections}
        if not topics & {'/camera/image_raw', '/camera/image_raw/compressed'}:
            raise BagRenderError(f'{bag} has neither /camera/image_raw nor /camera/image_raw/compressed '
                                 f'(topics: {sorted(topics)})')
        if '/human/camera_humans' not in topics:
            raise BagRenderError(f'{bag} has no /human/camera_humans topic (topics: {sorted(topics)})')
        conns = [c for c in reader.connections if c.topic in wanted]
        for conn, _, raw in reader.messages(connections=conns):
            msg = deserialize_message(raw, message_class(conn.msgtype))
            if conn.topic == '/camera/image_raw':
                images[convert.stamp_to_ns(msg.header.stamp)] = convert.image_to_rgb(msg)
            elif conn.topic == '/camera/image_raw/compressed':
                images[convert.stamp_to_ns(msg.header.stamp)] = convert.compressed_to_rgb(msg)
            elif conn.topic == '/camera/camera_info' and K is None:
                K = np.reshape(msg.k, (3, 3))
            elif conn.topic == '/human/camera_humans':
                humans[convert.stamp_to_ns(msg.header.stamp)] = convert.msg_to_humans(msg)
            elif conn.topic == '/human/body_model':
                faces = np.asarray(msg.faces, np.int64).reshape(-1, 3)
            elif conn.topic == '/slam/camera_pose':
                p = msg.pose.position
                cams.append((p.x, p.y, p.z))
            elif conn.topic == '/human/world_humans':
                frame = convert.msg_to_humans(msg)
                for h in frame.humans:
                    paths.setdefault(h.track_id, []).append(h.joints[0])
                    if h.vertices.shape[0]:
                        world_last[h.track_id] = h.vertices
                    else:
                        world_last_placed[h.track_id] = (frame.stamp_ns, h.joints)
            elif conn.topic == '/slam/map':
                map_points = convert.cloud_to_points(msg)
    for track, (stamp, joints_w) in world_last_placed.items():
        if track not in world_last:
            mesh = _camera_mesh_in_world(humans.get(stamp), track, joints_w)
            if mesh is not None:
                world_last[track] = mesh
    if faces is None:
        raise BagRenderError(f'{bag} has no /human/body_model message (faces); record it too')
    if not images:
        raise BagRenderError(f'{bag} holds no images')
    first = next(iter(images.values()))
    h, w = first.shape[:2]
    intr = CameraIntrinsics(K, w, h) if K is not None else CameraIntrinsics.from_fov(w, h, 60.0)
    writer = cv2.VideoWriter(str(out / 'overlay.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    overlaid = 0
    shown = []
    for stamp in sorted(images):
        frame_humans = humans.get(stamp)
        img = images[stamp]
        if frame_humans is not None and frame_humans.humans:
            img = overlay_humans(img, frame_humans, intr, faces)
            overlaid += 1
            shown.append(stamp)
        writer.write(img[:, :, ::-1])
    writer.release()
    best = None
    if shown:   # a frame a third of the way into the people's frames: past the start-up, typical
        stamp = shown[len(shown) // 3]
        best = overlay_humans(images[stamp], humans[stamp], intr, faces)
        cv2.imwrite(str(out / 'overlay_frame.png'), best[:, :, ::-1])
    save_scene_views(str(out / 'scene_top.png'), str(out / 'scene_oblique.png'), np.asarray(cams).reshape(-1, 3),
                     {t: np.asarray(p) for t, p in paths.items()}, world_last, faces, map_points)
    if best is not None:
        _side_by_side(out / 'overlay_frame.png', out / 'scene_oblique.png', out / 'summary.png')
    return {'frames': len(images), 'overlaid': overlaid, 'poses': len(cams), 'tracks': len(paths)}


def _camera_mesh_in_world(frame, track_id: int, joints_world: np.ndarray) -> np.ndarray | None:
    """A person's camera-space vertices placed in the world, for bags recorded without world vertices.

    The fusion places a person by one similarity (``M_w = R(q) M_c + s t``); fitting that
    similarity to the person's joints (camera -> world, :func:`umeyama`) and applying it to the
    camera-space vertices gives the world mesh. None when the camera frame lacks the person or
    their vertices.
    """
    from onlinehmr_ros.core.common.geometry import similarity_transform_points, umeyama
    if frame is None:
        return None
    for h in frame.humans:
        if h.track_id == track_id and h.vertices.shape[0] and h.joints.shape == joints_world.shape:
            s, R, t = umeyama(h.joints, joints_world)
            return similarity_transform_points(s, R, t, h.vertices)
    return None


def _side_by_side(left: pathlib.Path, right: pathlib.Path, out: pathlib.Path, height: int = 480) -> None:
    import cv2
    imgs = []
    for p in (left, right):
        img = cv2.imread(str(p))
        imgs.append(cv2.resize(img, (int(round(img.shape[1] * height / img.shape[0])), height),
                               interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(out), np.concatenate(imgs, axis=1))
