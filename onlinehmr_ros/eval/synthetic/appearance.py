"""Clothing-like per-vertex colours for a body mesh, from its skinning weights.

Each vertex belongs to the SMPL-24 joint with the largest skinning weight;
joints map to garments: shirt (torso, upper arms and, with long sleeves,
forearms), trousers (pelvis and legs), shoes (ankles and feet), skin (neck,
face, hands, forearms with short sleeves), hair (the top and back of the
head, found in the rest pose). Eyes, brows and mouth are painted around the
body model's mediapipe face landmarks so that a face-anchored person
detector (BlazePose) finds a face.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# SMPL-24 joint groups
_TROUSERS = (0, 1, 2, 4, 5)
_SHOES = (7, 8, 10, 11)
_SHIRT = (3, 6, 9, 13, 14, 16, 17)
_FOREARMS = (18, 19)
_SKIN = (12, 15, 20, 21, 22, 23)
_HEAD = 15

_SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.90, 0.72, 0.58], [0.78, 0.57, 0.44],
                        [0.62, 0.43, 0.31], [0.45, 0.30, 0.22], [0.33, 0.22, 0.16]])
_HAIR = np.array([[0.08, 0.06, 0.05], [0.25, 0.15, 0.08], [0.55, 0.38, 0.20], [0.80, 0.68, 0.45],
                  [0.55, 0.55, 0.55]])
_TROUSER_COLOURS = np.array([[0.15, 0.22, 0.40], [0.10, 0.10, 0.12], [0.62, 0.55, 0.40],
                             [0.35, 0.35, 0.38], [0.25, 0.30, 0.20]])


@dataclass(frozen=True)
class Outfit:
    """Colours of one person, RGB in [0, 1]."""
    shirt: tuple[float, float, float]
    shirt_stripes: bool
    long_sleeves: bool
    trousers: tuple[float, float, float]
    shoes: tuple[float, float, float]
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]


def random_outfit(rng: np.random.Generator) -> Outfit:
    """A plausible random outfit."""
    hue = rng.uniform(0, 1)
    # saturated or muted shirt colours from a hue (simple HSV -> RGB)
    s, v = rng.uniform(0.35, 0.9), rng.uniform(0.45, 0.95)
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6) % 6
    shirt = v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)
    return Outfit(shirt=tuple(float(c) for c in shirt), shirt_stripes=bool(rng.uniform() < 0.35),
                  long_sleeves=bool(rng.uniform() < 0.4),
                  trousers=tuple(float(c) for c in _TROUSER_COLOURS[rng.integers(len(_TROUSER_COLOURS))]),
                  shoes=tuple(float(c) for c in rng.uniform(0.05, 0.3) * np.ones(3)),
                  skin=tuple(float(c) for c in _SKIN_TONES[rng.integers(len(_SKIN_TONES))]),
                  hair=tuple(float(c) for c in _HAIR[rng.integers(len(_HAIR))]))


def vertex_colours(outfit: Outfit, lbs_weights: np.ndarray, rest_vertices: np.ndarray,
                   rest_joints: np.ndarray, face_landmarks: dict[str, np.ndarray],
                   rng: np.random.Generator) -> np.ndarray:
    """(V, 3) base colours in [0, 1].

    Args:
        outfit: the person's colours.
        lbs_weights: (V, 24) skinning weights onto SMPL-24 joints.
        rest_vertices: (V, 3) rest-pose vertices in the body frame (y up, z forward), metres.
        rest_joints: (24, 3) rest-pose joints, same frame.
        face_landmarks: rest-pose positions (3,) of 'left_eye', 'right_eye',
            'mouth_left', 'mouth_right', 'nose' (mediapipe landmarks).
        rng: per-vertex fabric noise.
    """
    part = np.argmax(lbs_weights, axis=1)
    col = np.empty((len(part), 3))
    col[:] = outfit.skin
    col[np.isin(part, _TROUSERS)] = outfit.trousers
    col[np.isin(part, _SHOES)] = outfit.shoes
    shirt = np.isin(part, _SHIRT) | (np.isin(part, _FOREARMS) & outfit.long_sleeves)
    col[shirt] = outfit.shirt
    if outfit.shirt_stripes:
        band = np.floor(rest_vertices[:, 1] / 0.06).astype(int) % 2 == 0
        col[shirt & band] = np.asarray(outfit.shirt) * 0.45 + 0.5
    # hair: the top and back of the head
    head = part == _HEAD
    hj = rest_joints[_HEAD]
    rel = rest_vertices - hj
    hair = head & ((rel[:, 1] > 0.075) | ((rel[:, 2] < -0.02) & (rel[:, 1] > -0.02)))
    col[hair] = outfit.hair
    # face: eyes, brows, mouth
    dark = np.array([0.05, 0.04, 0.04])
    for eye in ('left_eye', 'right_eye'):
        p = face_landmarks[eye]
        d = np.linalg.norm(rest_vertices - p, axis=1)
        col[head & (d < 0.011)] = dark
        brow = np.linalg.norm(rest_vertices - (p + np.array([0.0, 0.022, 0.0])), axis=1)
        col[head & (brow < 0.009)] = np.asarray(outfit.hair) * 0.8
    m0, m1 = face_landmarks['mouth_left'], face_landmarks['mouth_right']
    seg = m1 - m0
    tau = np.clip((rest_vertices - m0) @ seg / max(seg @ seg, 1e-12), 0, 1)
    dm = np.linalg.norm(rest_vertices - (m0 + tau[:, None] * seg), axis=1)
    col[head & (dm < 0.007)] = np.array([0.55, 0.18, 0.18])
    # fabric / skin variation so surfaces are not flat
    col *= 1.0 + 0.06 * rng.normal(size=(len(col), 1))
    return np.clip(col, 0.0, 1.0)
