"""Contact sheets of synthetic sequences (for eyeballing that people look like people)."""
from __future__ import annotations

import cv2
import numpy as np

from onlinehmr_ros.core.common.geometry import invert_transform, project_points, transform_points
from onlinehmr_ros.eval.synthetic.sequence import SyntheticSequence

_COLOURS = ((255, 64, 64), (64, 255, 64), (64, 128, 255))


def contact_sheet(sequence: SyntheticSequence, num: int = 6, overlay: bool = True,
                  columns: int = 3) -> np.ndarray:
    """(H', W', 3) uint8 RGB grid of ``num`` evenly spaced frames.

    With ``overlay``, each person's mask outline and visible COCO keypoints
    (ground truth projected into the image) are drawn on a copy of each frame,
    shown below the clean frame.
    """
    idx = np.linspace(0, sequence.num_frames - 1, num).round().astype(int)
    wanted = set(idx.tolist())
    tiles = []
    for frame in sequence.iter_frames():
        if frame.index not in wanted:
            continue
        img = frame.image_rgb.copy()
        cv2.putText(img, f'{sequence.name} #{frame.index}', (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (255, 255, 255), 2, cv2.LINE_AA)
        if overlay:
            ov = frame.image_rgb.copy()
            T_cam_world = invert_transform(sequence.T_world_cam[frame.index])
            for p, person in enumerate(sequence.people):
                colour = _COLOURS[p % len(_COLOURS)]
                mask = (sequence.masks[frame.index] == p + 1).astype(np.uint8)
                contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                cv2.drawContours(ov, contours, -1, colour, 1)
                uv, _ = project_points(sequence.intrinsics.K,
                                       transform_points(T_cam_world, person.keypoints_coco_world[frame.index]))
                for k, ok in enumerate(person.keypoints_coco_visible[frame.index]):
                    if ok:
                        cv2.circle(ov, (int(round(uv[k, 0])), int(round(uv[k, 1]))), 3, colour, -1)
            img = np.concatenate([img, ov], axis=0)
        tiles.append(img)
    rows = []
    blank = np.zeros_like(tiles[0])
    for r in range(0, len(tiles), columns):
        row = tiles[r:r + columns]
        row += [blank] * (columns - len(row))
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


def save_contact_sheet(sequence: SyntheticSequence, path: str, num: int = 6, overlay: bool = True,
                       columns: int = 3, scale: float = 0.5) -> None:
    """Write :func:`contact_sheet` as a PNG, resized by ``scale`` (half size by default)."""
    sheet = contact_sheet(sequence, num, overlay, columns)
    if scale != 1.0:
        sheet = cv2.resize(sheet, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if not cv2.imwrite(str(path), sheet[..., ::-1]):
        raise OSError(f'could not write {path}')
