"""CPU rasteriser for triangle meshes over a ray-cast background.

Painter's algorithm on a triangle-id buffer: the front-facing triangles of all
meshes are sorted far-to-near by their mean depth and filled with OpenCV
(``cv2.fillConvexPoly``, 1/16-pixel vertex precision) into an int32 id image;
colour and person label are then looked up per pixel. A pixel keeps the
background where the background surface is nearer than the triangle (people
are normally inside the room, so this only matters at its walls). Triangles
with a vertex closer than ``near_m`` are dropped (no clipping).

Shading is Gouraud-like at vertex level then flat per triangle (triangles of a
body at 640x480 cover a few pixels): Lambert with one directional light plus
ambient, on per-vertex base colours.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.common.geometry import invert_transform, project_points, transform_points

_SUBPIXEL_SHIFT = 4


class RasterError(ValueError):
    """Invalid mesh input to the rasteriser."""


@dataclass(frozen=True)
class Mesh:
    """One mesh to draw.

    Attributes:
        vertices_world: (V, 3) metres.
        faces: (T, 3) int vertex indices, counter-clockwise seen from outside.
        vertex_rgb: (V, 3) float base colour in [0, 1].
        label: label written to the label image where this mesh is visible (>= 1).
    """
    vertices_world: np.ndarray
    faces: np.ndarray
    vertex_rgb: np.ndarray
    label: int


@dataclass(frozen=True)
class Lighting:
    """Directional light + ambient (world frame, z up)."""
    direction_world: tuple[float, float, float] = (0.3, -0.5, 0.8)   # towards the light
    ambient: float = 0.45
    diffuse: float = 0.65


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals of a mesh with CCW-outward faces."""
    v = vertices[faces]                                       # (T, 3, 3)
    fn = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])       # area-weighted face normals
    n = np.zeros_like(vertices)
    for k in range(3):
        for c in range(3):
            n[:, c] += np.bincount(faces[:, k], weights=fn[:, c], minlength=len(vertices))
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def render_meshes(background_rgb: np.ndarray, background_depth_m: np.ndarray, intrinsics: CameraIntrinsics,
                  T_world_cam: np.ndarray, meshes: list[Mesh], lighting: Lighting = Lighting(),
                  near_m: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw meshes over a background.

    Args:
        background_rgb: (H, W, 3) uint8.
        background_depth_m: (H, W) z-depth of the background.
        intrinsics: camera intrinsics.
        T_world_cam: (4, 4) camera-to-world pose.
        meshes: the meshes (people).
        lighting: light.
        near_m: triangles with a vertex nearer than this are not drawn.
    Returns:
        rgb: (H, W, 3) uint8.
        labels: (H, W) uint8, 0 for background, ``mesh.label`` where a mesh is visible.
        depth_m: (H, W) float32 z-depth of the visible surface (triangle mean depth on meshes).
    """
    H, W = intrinsics.height_px, intrinsics.width_px
    if background_rgb.shape != (H, W, 3) or background_depth_m.shape != (H, W):
        raise RasterError(f'background must be ({H}, {W}, 3) and ({H}, {W}), got '
                          f'{background_rgb.shape} and {background_depth_m.shape}')
    T_cam_world = invert_transform(np.asarray(T_world_cam, dtype=np.float64))
    light = np.asarray(lighting.direction_world, dtype=np.float64)
    light = light / np.linalg.norm(light)
    polys, depths, colours, labels = [], [], [], []
    for mesh in meshes:
        if not 1 <= mesh.label <= 255:
            raise RasterError(f'mesh labels must be in 1..255, got {mesh.label}')
        vw = np.asarray(mesh.vertices_world, dtype=np.float64)
        faces = np.asarray(mesh.faces, dtype=np.int64)
        # orientation of this mesh's faces (signed volume > 0: CCW outward)
        tri_w = vw[faces]
        volume = np.einsum('ti,ti->t', tri_w[:, 0], np.cross(tri_w[:, 1], tri_w[:, 2])).sum()
        orient = 1.0 if volume >= 0 else -1.0
        normals = vertex_normals(vw, faces) * orient
        shade = lighting.ambient + lighting.diffuse * np.clip(normals @ light, 0.0, None)
        vcol = np.clip(np.asarray(mesh.vertex_rgb, dtype=np.float64) * shade[:, None], 0.0, 1.0)
        vc = transform_points(T_cam_world, vw)
        uv, z = project_points(intrinsics.K, vc)
        tri_c = vc[faces]
        tz = z[faces]
        keep = np.all(tz > near_m, axis=1)
        face_n = np.cross(tri_c[:, 1] - tri_c[:, 0], tri_c[:, 2] - tri_c[:, 0]) * orient
        keep &= np.einsum('ti,ti->t', face_n, tri_c[:, 0]) < 0          # front-facing
        tuv = uv[faces]
        with np.errstate(invalid='ignore'):
            keep &= ~((tuv[..., 0] < 0).all(1) | (tuv[..., 0] >= W).all(1)
                      | (tuv[..., 1] < 0).all(1) | (tuv[..., 1] >= H).all(1))
        idx = np.nonzero(keep)[0]
        if idx.size == 0:
            continue
        # pixel centres at integer coordinates (OpenCV's convention, as in the room's ray casting)
        polys.append(np.round(tuv[idx] * (1 << _SUBPIXEL_SHIFT)).astype(np.int32))
        depths.append(tz[idx].mean(axis=1))
        colours.append(vcol[faces[idx]].mean(axis=1))
        labels.append(np.full(idx.size, mesh.label, np.uint8))
    rgb = background_rgb.copy()
    label_img = np.zeros((H, W), np.uint8)
    depth = background_depth_m.astype(np.float32).copy()
    if not polys:
        return rgb, label_img, depth
    polys_all = np.concatenate(polys)
    depth_all = np.concatenate(depths)
    colour_all = np.concatenate(colours)
    label_all = np.concatenate(labels)
    order = np.argsort(-depth_all, kind='stable')                          # far to near
    ids = np.full((H, W), -1, np.int32)
    fill = cv2.fillConvexPoly
    for k in order.tolist():
        fill(ids, polys_all[k], k, cv2.LINE_8, _SUBPIXEL_SHIFT)
    drawn = ids >= 0
    tri = ids[drawn]
    in_front = depth_all[tri] < depth[drawn]
    ys, xs = np.nonzero(drawn)
    ys, xs, tri = ys[in_front], xs[in_front], tri[in_front]
    rgb[ys, xs] = np.round(colour_all[tri] * 255.0).astype(np.uint8)
    label_img[ys, xs] = label_all[tri]
    depth[ys, xs] = depth_all[tri]
    return rgb, label_img, depth
