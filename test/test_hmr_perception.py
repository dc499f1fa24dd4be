"""Perception: observation contract, box helpers, the small-people zoom (with a resolution-limited fake
detector), the .task bundle, and the mediapipe backends on real frames."""
import io
import pathlib
import zipfile

import numpy as np
import pytest

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.perception.observation import (ImagePoseDetector, PersonObservation, PoseBackend,
                                                           bbox_from_landmarks, box_containment, box_iou,
                                                           suppress_duplicates, union_mask)
from onlinehmr_ros.core.hmr.perception.zoom import ZoomConfig, ZoomedPoseBackend, square_crop, tile_origins

OPENCV_DATA = pathlib.Path('/usr/share/doc/opencv-doc/examples/data')


def _person(box, score=0.9, mask_shape=None):
    x0, y0, x1, y1 = box
    rng = np.random.default_rng(int(x0 * 7 + y0))
    lm = np.column_stack([rng.uniform(x0, x1, 33), rng.uniform(y0, y1, 33)])
    lm[0], lm[1] = [x0, y0], [x1, y1]
    mask = None
    if mask_shape is not None:
        mask = np.zeros(mask_shape, dtype=np.float32)
        mask[int(y0):int(y1), int(x0):int(x1)] = 1.0
    return PersonObservation(lm, np.full(33, score), np.zeros((33, 3)), mask, np.array(box, dtype=np.float32), score)


def test_observation_contract():
    p = _person((10, 20, 50, 120))
    assert p.landmarks_px.dtype == np.float32 and p.box_height_px == pytest.approx(100.0)
    vis = np.full(33, 2.0)
    vis[3] = np.nan
    q = PersonObservation(p.landmarks_px, vis, p.landmarks_3d_m, None, p.bbox_px, 1.0)
    assert q.visibility.max() == 1.0 and q.visibility[3] == 0.0      # clipped, NaN -> 0
    with pytest.raises(InputError, match='landmarks_px'):
        PersonObservation(np.zeros((17, 2)), np.zeros(17), np.zeros((17, 3)), None, np.zeros(4), 1.0)


def test_box_helpers():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [2, 2, 4, 4], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 4 / 100, 0.0]])
    np.testing.assert_allclose(box_containment(a, b), [[0.5, 1.0, 0.0]])
    lm = np.array([[0, 0], [10, 100], [np.nan, 5]] + [[5, 50]] * 30, dtype=float)
    vis = np.ones(33)
    np.testing.assert_allclose(bbox_from_landmarks(lm, vis, pad_frac=0.0), [0, 0, 10, 100])
    big, part, other = _person((0, 0, 40, 100), 0.9), _person((5, 10, 35, 50), 0.95), _person((60, 0, 90, 80), 0.5)
    kept = suppress_duplicates([big, part, other], iou_threshold=0.5, containment_threshold=0.7)
    assert len(kept) == 2 and kept[0] is part and kept[1] is other
    assert len(suppress_duplicates([big, part, other], iou_threshold=0.5)) == 3
    m = union_mask([_person((0, 0, 4, 4), mask_shape=(8, 8)), _person((2, 2, 8, 8), mask_shape=(8, 8)),
                    _person((0, 0, 1, 1))], 8, 8)
    assert m.dtype == np.float32 and m.sum() == 16 + 36 - 4


def test_tiles_and_crops_cover_the_image():
    assert tile_origins(576, 256, 0.3) == [0, 179, 320]
    assert tile_origins(100, 256, 0.3) == [0]
    assert square_crop(np.array([700, 10, 760, 90]), 160, 768, 576) == (608, 0, 768, 160)


class _TinyWorld:
    """People as boxes in a 768x576 image; a detector sees a person only if they are at least
    ``min_frac`` of the height of the image it is given (like a detector with a fixed input size)."""

    def __init__(self, boxes_per_frame, min_frac=0.3):
        self.boxes_per_frame = boxes_per_frame
        self.min_frac = min_frac
        self.frame = 0
        self.calls = 0

    def visible(self, x0, y0, x1, y1):
        """People whose box lies inside the window and is tall enough relative to it, in window pixels."""
        out = []
        for b in self.boxes_per_frame[self.frame]:
            if b[0] >= x0 and b[1] >= y0 and b[2] <= x1 and b[3] <= y1 and (b[3] - b[1]) >= self.min_frac * (y1 - y0):
                out.append(_person((b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0), mask_shape=(y1 - y0, x1 - x0)))
        return out


class _FullFrame(PoseBackend):
    def __init__(self, world):
        self.world = world

    def detect(self, frame):
        self.world.frame = frame.index
        return self.world.visible(0, 0, frame.width_px, frame.height_px)


class _Windowed(ImagePoseDetector):
    """Finds the window it was given by matching the pixel content's marker (the crop origin is encoded)."""

    def __init__(self, world):
        self.world = world

    def detect_image(self, image_rgb):
        self.world.calls += 1
        r, g, b = (int(v) for v in image_rgb[0, 0])                          # see _coded_image
        x0, y0 = r + 256 * (b & 15), g + 256 * (b >> 4)
        h, w = image_rgb.shape[:2]
        return self.world.visible(x0, y0, x0 + w, y0 + h)


def _coded_image(width=768, height=576):
    """Each pixel stores its own (x, y) (low bytes in R, G; high nibbles in B): a crop knows where it came from."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs & 255, ys & 255, (xs >> 8) | ((ys >> 8) << 4)], axis=-1).astype(np.uint8)


def test_zoom_finds_small_people_and_follows_them_by_crops():
    # two pedestrians 80 px tall (14 % of the image) walking; the full-frame detector never sees them
    boxes = [[(100 + 3 * f, 200, 130 + 3 * f, 280), (500 - 2 * f, 300, 530 - 2 * f, 380)] for f in range(12)]
    world = _TinyWorld(boxes)
    zoom = ZoomedPoseBackend(_FullFrame(world), _Windowed(world),
                             ZoomConfig(tile_every_n_frames=10, min_score=0.5, max_crops=8))
    img = _coded_image()
    intr = CameraIntrinsics.from_fov(768, 576, 60)
    counts, tiles, crops = [], [], []
    for f in range(12):
        people = zoom.detect(Frame(img, f, intr, f))
        counts.append(len(people))
        tiles.append(zoom.last_stats['tiles'])
        crops.append(zoom.last_stats['crops'])
        for p in people:  # frame coordinates: the box is one of the true boxes
            assert min(np.abs(p.bbox_px - np.array(b)).max() for b in boxes[f]) < 1e-3
            assert p.mask.shape == (576, 768)
    assert counts == [2] * 12
    assert tiles[0] == 12 and tiles[10] == 12 and sum(tiles) == 24          # tiles only every 10 frames
    assert crops[0] == 0 and all(c == 2 for c in crops[1:])                 # one crop per small person
    assert _FullFrame(world).detect(Frame(img, 0, intr, 0)) == []            # plain detector: nobody


def test_pose_task_bundle_has_both_models():
    pytest.importorskip('mediapipe')
    from onlinehmr_ros.core.hmr.perception.mediapipe import pose_task_bundle_bytes
    with zipfile.ZipFile(io.BytesIO(pose_task_bundle_bytes())) as zf:
        names = zf.namelist()
        assert sorted(names) == ['pose_detector.tflite', 'pose_landmarks_detector.tflite']
        assert all(zf.getinfo(n).compress_type == zipfile.ZIP_STORED for n in names)


def test_legacy_backend_on_megamind_frames():
    cv2 = pytest.importorskip('cv2')
    pytest.importorskip('mediapipe')
    path = OPENCV_DATA / 'Megamind.avi'
    if not path.is_file():
        pytest.skip('opencv-doc sample media not installed (make setup installs them)')
    from onlinehmr_ros.core.hmr.perception.mediapipe import MediapipeLegacyPoseBackend, MediapipePoseConfig
    cap = cv2.VideoCapture(str(path))
    with MediapipeLegacyPoseBackend(MediapipePoseConfig()) as backend:
        found = []
        for i in range(8):
            ok, bgr = cap.read()
            assert ok
            img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            frame = Frame(img, i * 41_000_000, CameraIntrinsics.from_fov(img.shape[1], img.shape[0], 60), i)
            found.append(backend.detect(frame))
    assert sum(len(f) == 1 for f in found) >= 7
    p = [f for f in found if f][0][0]
    assert p.mask.shape == (528, 720) and 0.0 <= p.mask.min() and p.mask.max() <= 1.0
    # nose inside the image, hips about 0.1 m either side of the 3D origin
    assert 0 <= p.landmarks_px[0, 0] < 720 and 0 <= p.landmarks_px[0, 1] < 528
    assert np.linalg.norm(p.landmarks_3d_m[23] + p.landmarks_3d_m[24]) < 0.05
    assert 0.1 < np.linalg.norm(p.landmarks_3d_m[23] - p.landmarks_3d_m[24]) < 0.4
