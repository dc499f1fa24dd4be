"""BlazePose's two models as separate calls: a person detector and landmarks inside a region (ROS-free).

mediapipe's pose solutions chain both models behind one call. Here they are two
small mediapipe graphs built from the subgraphs registered in the 0.10.21 wheel
(the same ``.tflite`` files, nothing downloaded), so that the caller decides
when to detect and where to look:

* :class:`BlazePoseDetector` (``PoseDetectionCpu``): people in an image (the whole
  frame or a tile), each as a :class:`PoseDetection` with the detector's two
  alignment points (hip centre, a point on the circle around the body);
* :class:`BlazePoseRoiLandmarker` (``PoseLandmarkByRoiCpu``): the 33 landmarks, the
  two auxiliary alignment points and the metric 3D landmarks of the one person
  inside a rotated square region (:class:`RotatedRoi`), or None when the
  landmark model says nobody is there (its pose-presence flag).

The region of interest follows mediapipe's own rule (``pose_detection_to_roi`` and
``pose_landmarks_to_roi``, :func:`roi_from_alignment_points`): centred on the hip
centre, side ``2 * 1.25 *`` the distance to the scale point, rotated so that the
body's axis points up. Following one person from frame to frame is therefore
one landmark call on the region computed from the previous frame's alignment
points, the loop the legacy solution runs inside its graph.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.perception.mediapipe import _import_mediapipe, _shipped_model
from onlinehmr_ros.core.hmr.perception.observation import PerceptionError, PersonObservation, bbox_from_landmarks

#: mediapipe's scale of the region around the alignment points (``RectTransformationCalculator``)
ROI_SCALE = 1.25

_DETECTOR_GRAPH = """
input_stream: "image"
output_stream: "detections"
node {
  calculator: "PoseDetectionCpu"
  input_stream: "IMAGE:image"
  output_stream: "DETECTIONS:detections"
}
"""

_LANDMARK_GRAPH = """
input_stream: "image"
input_stream: "roi"
input_side_packet: "model_complexity"
input_side_packet: "enable_segmentation"
output_stream: "landmarks"
output_stream: "auxiliary_landmarks"
output_stream: "world_landmarks"
output_stream: "segmentation_mask"
node {
  calculator: "PoseLandmarkByRoiCpu"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  output_stream: "LANDMARKS:landmarks"
  output_stream: "AUXILIARY_LANDMARKS:auxiliary_landmarks"
  output_stream: "WORLD_LANDMARKS:world_landmarks"
  output_stream: "SEGMENTATION_MASK:segmentation_mask"
}
"""


@dataclass(frozen=True)
class RotatedRoi:
    """A square region of the image, rotated about its centre (mediapipe's ``NormalizedRect`` in pixels).

    Attributes:
        centre_px: (2,) centre (u, v), pixels.
        side_px: side length, pixels.
        rotation_rad: rotation of the region, radians, mediapipe's convention (positive turns the
            region's up axis towards the image's right; 0 for an upright person).
    """

    centre_px: np.ndarray
    side_px: float
    rotation_rad: float

    def box_px(self) -> np.ndarray:
        """(4,) axis-aligned box x0, y0, x1, y1 around the rotated square."""
        half = 0.5 * self.side_px * (abs(math.cos(self.rotation_rad)) + abs(math.sin(self.rotation_rad)))
        cx, cy = float(self.centre_px[0]), float(self.centre_px[1])
        return np.array([cx - half, cy - half, cx + half, cy + half], dtype=np.float32)


def roi_from_alignment_points(centre_px: np.ndarray, scale_point_px: np.ndarray,
                              scale: float = ROI_SCALE) -> RotatedRoi:
    """mediapipe's region from the two alignment points (hip centre, point on the body circle).

    ``AlignmentPointsRectsCalculator`` (side = twice the distance between the points, rotation that
    turns the centre->scale-point vector to 90 degrees) followed by ``RectTransformationCalculator``
    (``scale`` times larger, square in pixels).
    """
    c = np.asarray(centre_px, dtype=np.float64)
    s = np.asarray(scale_point_px, dtype=np.float64)
    side = 2.0 * float(np.hypot(*(s - c))) * scale
    rotation = 0.5 * math.pi - math.atan2(-(s[1] - c[1]), s[0] - c[0])
    rotation = rotation - 2.0 * math.pi * math.floor((rotation + math.pi) / (2.0 * math.pi))
    return RotatedRoi(centre_px=c.astype(np.float32), side_px=side, rotation_rad=rotation)


@dataclass(frozen=True)
class PoseDetection:
    """One person found by the BlazePose detector.

    Attributes:
        score: detector confidence in [0, 1].
        face_box_px: (4,) x0, y0, x1, y1 of the detector's box (BlazePose anchors on the face).
        centre_px: (2,) hip centre, pixels.
        scale_point_px: (2,) point on the circle around the whole body, pixels.
    """

    score: float
    face_box_px: np.ndarray
    centre_px: np.ndarray
    scale_point_px: np.ndarray

    def roi(self) -> RotatedRoi:
        return roi_from_alignment_points(self.centre_px, self.scale_point_px)

    def offset(self, dx_px: float, dy_px: float) -> 'PoseDetection':
        """The same detection in the pixels of an image whose origin is (-dx, -dy) in this one (tiles)."""
        d = np.array([dx_px, dy_px], dtype=np.float32)
        return PoseDetection(self.score, self.face_box_px + np.tile(d, 2), self.centre_px + d,
                             self.scale_point_px + d)


def _graph(text: str, side_inputs: dict | None = None, calculator_params: dict | None = None):
    _import_mediapipe()
    from google.protobuf import text_format  # noqa: PLC0415
    from mediapipe.framework import calculator_pb2  # noqa: PLC0415
    from mediapipe.python.solution_base import SolutionBase  # noqa: PLC0415
    config = text_format.Parse(text, calculator_pb2.CalculatorGraphConfig())
    try:
        return SolutionBase(graph_config=config, side_inputs=side_inputs, calculator_params=calculator_params)
    except (RuntimeError, ValueError) as exc:
        raise PerceptionError(f'could not build the mediapipe pose graph ({exc}); install mediapipe==0.10.21, '
                              'whose wheel registers PoseDetectionCpu and PoseLandmarkByRoiCpu') from exc


class BlazePoseDetector:
    """BlazePose's person detector on any RGB image (stateless; about a third of a landmark call).

    Args:
        min_score: detections below this score are dropped (the detector's own threshold).
    """

    def __init__(self, min_score: float = 0.5):
        if not 0.0 <= min_score <= 1.0:
            raise InputError(f'min_score must be in [0, 1], got {min_score}')
        _shipped_model('modules/pose_detection/pose_detection.tflite')
        self._graph = _graph(_DETECTOR_GRAPH, calculator_params={
            'posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh': min_score})

    def detect(self, image_rgb: np.ndarray) -> list[PoseDetection]:
        """People in an (h, w, 3) uint8 RGB image, pixels of that image, highest score first."""
        img = np.ascontiguousarray(image_rgb)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise InputError(f'need an (h, w, 3) uint8 RGB image, got {img.shape} {img.dtype}')
        h, w = img.shape[:2]
        res = self._graph.process({'image': img})
        out = []
        for d in res.detections or []:
            loc = d.location_data
            bb = loc.relative_bounding_box
            kp = loc.relative_keypoints
            if len(kp) < 2:
                continue
            out.append(PoseDetection(
                score=float(d.score[0]) if len(d.score) else 0.0,
                face_box_px=np.array([bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h],
                                     dtype=np.float32),
                centre_px=np.array([kp[0].x * w, kp[0].y * h], dtype=np.float32),
                scale_point_px=np.array([kp[1].x * w, kp[1].y * h], dtype=np.float32)))
        return sorted(out, key=lambda d: -d.score)

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()
            self._graph = None


@dataclass(frozen=True)
class RoiLandmarks:
    """What the landmark model reports for the person inside one region.

    Attributes:
        observation: the person (landmarks in frame pixels, 3D landmarks, mask if enabled).
        roi_next: the region for the next frame, from the auxiliary alignment points.
    """

    observation: PersonObservation
    roi_next: RotatedRoi


class BlazePoseRoiLandmarker:
    """BlazePose's landmark model (``pose_landmark_full``) on one rotated region of a frame.

    Args:
        min_presence: the landmark model's pose-presence threshold in [0, 1]; below it the region
            holds nobody and :meth:`landmarks` returns None.
        segmentation: also return the person's mask (full frame), a few ms more.
    """

    def __init__(self, min_presence: float = 0.5, segmentation: bool = False):
        if not 0.0 <= min_presence <= 1.0:
            raise InputError(f'min_presence must be in [0, 1], got {min_presence}')
        _shipped_model('modules/pose_landmark/pose_landmark_full.tflite')
        self._segmentation = segmentation
        self._graph = _graph(
            _LANDMARK_GRAPH, side_inputs={'model_complexity': 1, 'enable_segmentation': segmentation},
            calculator_params={'poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__ThresholdingCalculator'
                               '.threshold': min_presence})
        from mediapipe.framework.formats import rect_pb2  # noqa: PLC0415
        self._rect = rect_pb2.NormalizedRect

    def landmarks(self, image_rgb: np.ndarray, roi: RotatedRoi) -> RoiLandmarks | None:
        """The person inside ``roi`` of an (H, W, 3) uint8 RGB frame, or None when the model sees nobody."""
        img = np.ascontiguousarray(image_rgb)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise InputError(f'need an (H, W, 3) uint8 RGB image, got {img.shape} {img.dtype}')
        if not (np.all(np.isfinite(roi.centre_px)) and np.isfinite(roi.side_px) and roi.side_px > 1.0):
            raise InputError(f'region needs a finite centre and a side > 1 px, got {roi}')
        h, w = img.shape[:2]
        rect = self._rect(x_center=float(roi.centre_px[0]) / w, y_center=float(roi.centre_px[1]) / h,
                          width=roi.side_px / w, height=roi.side_px / h, rotation=roi.rotation_rad)
        res = self._graph.process({'image': img, 'roi': rect})
        if res.landmarks is None or res.world_landmarks is None or res.auxiliary_landmarks is None:
            return None
        lms = res.landmarks.landmark
        if len(lms) < 33 or len(res.auxiliary_landmarks.landmark) < 2:
            return None
        px = np.array([[lm.x * w, lm.y * h] for lm in lms[:33]], dtype=np.float32)
        vis = np.clip(np.array([lm.visibility for lm in lms[:33]], dtype=np.float32), 0.0, 1.0)
        xyz = np.array([[lm.x, lm.y, lm.z] for lm in res.world_landmarks.landmark[:33]], dtype=np.float32)
        aux = res.auxiliary_landmarks.landmark
        roi_next = roi_from_alignment_points(np.array([aux[0].x * w, aux[0].y * h]),
                                             np.array([aux[1].x * w, aux[1].y * h]))
        mask = None
        if self._segmentation and res.segmentation_mask is not None:
            mask = np.array(res.segmentation_mask, dtype=np.float32)
            if mask.ndim == 3:
                mask = mask[..., 0]
        obs = PersonObservation(landmarks_px=px, visibility=vis, landmarks_3d_m=xyz, mask=mask,
                                bbox_px=bbox_from_landmarks(px, vis), score=float(vis.mean()))
        return RoiLandmarks(obs, roi_next)

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()
            self._graph = None
