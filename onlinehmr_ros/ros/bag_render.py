"""Pictures from a bag recorded from the pipeline's topics: overlay video, scene views, a summary picture.

``onlinehmr render-bag BAG --out DIR`` and ``onlinehmr demo`` call :func:`render_bag`.

People recorded without their mesh (``meshes_as_parameters``: :mod:`onlinehmr_ros.ros.recording`)
are posed from their parameters with the body model named on ``/human/body_model``
(:func:`onlinehmr_ros.core.body.model.posed_vertices`): the open model ships with the package;
SMPL / SMPL-X need the user's model folder (``body_model_path``, ``--body-model-path``).
"""
from __future__ import annotations

import pathlib

import numpy as np


class BagRenderError(RuntimeError):
    """The bag lacks what the pictures need (a topic, the body model's faces, images, the body model files)."""


def render_bag(bag: str, out_dir: str, fps: float = 24.0, body_model_path: str | None = None) -> dict:
    """Overlay video and scene pictures from a bag recorded from the pipeline's topics.

    Args:
        bag: the rosbag2 folder.
        out_dir: where the pictures go (created).
        fps: frame rate of the overlay video.
        body_model_path: the folder (or file) of the SMPL / SMPL-X model named on ``/human/body_model``, needed
            only when the bag has people without vertices and the model is not the shipped open model. A folder
            gives its neutral model (the bag does not record the gender): for another, give the model file.
    Returns:
        counts of what was found (frames, overlaid frames, poses, tracks).
    Raises:
        BagRenderError: the bag lacks the image, camera_humans or body_model topic, or people are recorded
            without vertices and their body model cannot be loaded (SMPL / SMPL-X without ``body_model_path``,
            a model of another vertex count).
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
    K = faces = body_info = None
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
                body_info = msg
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
    if faces is None:
        raise BagRenderError(f'{bag} has no /human/body_model message (faces); record it too')
    humans = _with_posed_meshes(humans, body_info, body_model_path)
    for track, (stamp, joints_w) in world_last_placed.items():
        if track not in world_last:
            mesh = _camera_mesh_in_world(humans.get(stamp), track, joints_w)
            if mesh is not None:
                world_last[track] = mesh
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


def _with_posed_meshes(humans: dict, body_info, body_model_path: str | None) -> dict:
    """``{stamp: HumansFrame}`` with every person recorded without vertices posed from their parameters
    (one batched body model call per frame); frames whose people all carry vertices are kept as they are.

    Raises:
        BagRenderError: the body model named by ``body_info`` cannot be loaded, or does not match the bag.
    """
    from dataclasses import replace

    from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
    from onlinehmr_ros.core.body.model import BodyModelError, posed_vertices
    bare = [h for frame in humans.values() for h in frame.humans if not h.vertices.shape[0]]
    if not bare:
        return humans
    name = body_info.model
    if name in ('smpl', 'smplx') and not body_model_path:
        raise BagRenderError(f'{len(bare)} people in the bag are recorded without vertices (meshes as parameters) '
                             f"and their body model '{name}' cannot be shipped: pass the folder of your {name.upper()} "
                             'model files with --body-model-path (render_bag(body_model_path=...))')
    other = {h.model for h in bare} - {name}
    if other:
        raise BagRenderError(f"people recorded without vertices by the body model(s) {sorted(other)}, but "
                             f"/human/body_model names '{name}': their meshes cannot be rebuilt")
    try:
        model = load_body_model(BodyModelConfig(type=name, path=body_model_path, num_betas=len(bare[0].betas)))
    except BodyModelError as exc:
        raise BagRenderError(f"cannot load the '{name}' body model to pose the people recorded without "
                             f'vertices: {exc}') from exc
    if model.num_vertices != body_info.num_vertices:
        raise BagRenderError(f"the '{name}' body model loaded from {body_model_path or 'the package'} has "
                             f'{model.num_vertices} vertices, the bag\'s /human/body_model {body_info.num_vertices}: '
                             'give the model files the bag was recorded with')
    out = {}
    for stamp, frame in humans.items():
        idx = [i for i, h in enumerate(frame.humans) if not h.vertices.shape[0]]
        if not idx:
            out[stamp] = frame
            continue
        try:
            vertices = posed_vertices(model, [frame.humans[i] for i in idx])
        except BodyModelError as exc:
            raise BagRenderError(f'people of the frame stamped {stamp} cannot be posed: {exc}') from exc
        people = list(frame.humans)
        for i, v in zip(idx, vertices):
            people[i] = replace(people[i], vertices=v)
        out[stamp] = replace(frame, humans=tuple(people))
    return out


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
