"""A decimated display mesh for RViz, derived once per body model.

RViz and the network carry every triangle of a Marker each frame, so the
fusion node sends a coarser mesh than the structured HumanMesh message.
Decimation is vertex clustering on a regular grid in the rest pose: every
cluster keeps the original vertex nearest to its centroid, faces are
re-indexed onto the kept vertices and faces that collapse are dropped; the
cell size is found by bisection so that at most ``max_triangles`` remain.

Skinning transfer: each display vertex *is* one original vertex, so it
carries that vertex's skinning weights exactly, and its posed position is the
posed full mesh indexed at ``vertex_index`` — no second skinning pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DisplayMesh:
    vertex_index: np.ndarray      # (V',) int64 indices into the full mesh's vertices
    faces: np.ndarray             # (F', 3) int64 indices into the display vertices

    @property
    def num_triangles(self) -> int:
        return int(self.faces.shape[0])

    def triangle_points(self, full_vertices: np.ndarray) -> np.ndarray:
        """(V, 3) posed full mesh -> (3 F', 3) corner points for a TRIANGLE_LIST marker."""
        return full_vertices[self.vertex_index][self.faces].reshape(-1, 3)


def _cluster(rest_vertices: np.ndarray, faces: np.ndarray, cell: float):
    keys = np.floor((rest_vertices - rest_vertices.min(axis=0)) / cell).astype(np.int64)
    _, cluster, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    cluster = cluster.reshape(-1)
    n = counts.shape[0]
    centroids = np.zeros((n, 3))
    np.add.at(centroids, cluster, rest_vertices)
    centroids /= counts[:, None]
    dist = np.linalg.norm(rest_vertices - centroids[cluster], axis=1)
    order = np.lexsort((dist, cluster))                 # per cluster, nearest vertex first
    first = np.ones(order.shape[0], bool)
    first[1:] = cluster[order[1:]] != cluster[order[:-1]]
    representative = order[first]                       # (n,) original vertex per cluster, cluster order
    cf = cluster[faces]
    cf = cf[(cf[:, 0] != cf[:, 1]) & (cf[:, 1] != cf[:, 2]) & (cf[:, 0] != cf[:, 2])]   # drop collapsed
    _, first_of_each = np.unique(np.sort(cf, axis=1), axis=0, return_index=True)        # drop duplicates,
    faces_kept = cf[np.sort(first_of_each)]                                              # keep orientation
    used = np.unique(faces_kept)
    remap = -np.ones(n, np.int64)
    remap[used] = np.arange(used.shape[0])
    return DisplayMesh(vertex_index=representative[used].astype(np.int64), faces=remap[faces_kept])


def decimate(rest_vertices: np.ndarray, faces: np.ndarray, max_triangles: int) -> DisplayMesh:
    """Vertex-clustering decimation to at most ``max_triangles`` faces.

    Args:
        rest_vertices: (V, 3) rest-pose vertices (metres).
        faces: (F, 3) triangle vertex indices.
        max_triangles: target upper bound; if >= F the full mesh is returned.
    Raises:
        ValueError: max_triangles < 1 or malformed inputs.
    """
    v = np.asarray(rest_vertices, np.float64)
    f = np.asarray(faces, np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f'expected (V, 3) vertices and (F, 3) faces, got {v.shape} and {f.shape}')
    if max_triangles < 1:
        raise ValueError(f'max_triangles must be >= 1, got {max_triangles}')
    if max_triangles >= f.shape[0]:
        return DisplayMesh(vertex_index=np.arange(v.shape[0]), faces=f.copy())
    extent = float(np.max(v.max(axis=0) - v.min(axis=0)))
    lo, hi = 1e-6 * extent, extent          # hi: everything in one cell
    best = _cluster(v, f, hi)
    for _ in range(30):
        mid = np.sqrt(lo * hi)
        mesh = _cluster(v, f, mid)
        if mesh.num_triangles <= max_triangles:
            best, hi = mesh, mid
        else:
            lo = mid
        if hi / lo < 1.01:
            break
    return best


def display_mesh_for(model, max_triangles: int) -> DisplayMesh:
    """The decimated display mesh of a :class:`~onlinehmr_ros.core.body.model.BodyModel` (from its rest pose)."""
    import torch
    with torch.no_grad():
        rest = model(**model.zero_params(1)).vertices[0].numpy()
    return decimate(rest, model.faces, max_triangles)
