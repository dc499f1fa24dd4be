"""Perception: observation contract, box helpers, BlazePose's region geometry, the detect-then-follow
backend (with resolution-limited fakes of the detector and the landmark model), and the real models
on opencv-doc's videos."""
import math
import pathlib

import numpy as np
import pytest

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.perception.blazepose import PoseDetection, RoiLandmarks, RotatedRoi, \
    roi_from_alignment_points
from onlinehmr_ros.core.hmr.perception.follow import FollowConfig, FollowingPoseBackend, hip_centre_px, tile_origins
from onlinehmr_ros.core.hmr.perception.appearance import AppearanceConfig
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation, bbox_from_landmarks, box_iou, union_mask

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
    assert p.landmarks_px.dtype == np.float32 and p.box_height_px == pytest.approx(100.0) and p.follow_id == -1
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
    lm = np.array([[0, 0], [10, 100], [np.nan, 5]] + [[5, 50]] * 30, dtype=float)
    np.testing.assert_allclose(bbox_from_landmarks(lm, np.ones(33), pad_frac=0.0), [0, 0, 10, 100])
    m = union_mask([_person((0, 0, 4, 4), mask_shape=(8, 8)), _person((2, 2, 8, 8), mask_shape=(8, 8)),
                    _person((0, 0, 1, 1))], 8, 8)
    assert m.dtype == np.float32 and m.sum() == 16 + 36 - 4
    assert tile_origins(576, 256, 0.25) == [0, 192, 320]
    assert tile_origins(100, 256, 0.25) == [0]


def test_roi_follows_mediapipe_alignment_rule():
    # upright person: hip centre below the scale point -> no rotation, side 2 * 1.25 * distance
    roi = roi_from_alignment_points(np.array([100.0, 200.0]), np.array([100.0, 100.0]))
    assert roi.side_px == pytest.approx(250.0) and roi.rotation_rad == pytest.approx(0.0)
    np.testing.assert_allclose(roi.box_px(), [-25, 75, 225, 325])
    # lying with the head to the right (scale point right of the hips): a quarter turn
    roi = roi_from_alignment_points(np.array([100.0, 200.0]), np.array([180.0, 200.0]))
    assert roi.rotation_rad == pytest.approx(math.pi / 2) and roi.side_px == pytest.approx(200.0)
    # head down: half a turn, normalised into [-pi, pi)
    roi = roi_from_alignment_points(np.array([100.0, 200.0]), np.array([100.0, 260.0]))
    assert abs(roi.rotation_rad) == pytest.approx(math.pi)


# -- fakes of the two models: a world of people in a coded image ------------------------------------------

def _coded_image(width=768, height=576):
    """Each pixel stores its own (x, y) (low bytes in R, G; high nibbles in B): a crop knows where it came from."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs & 255, ys & 255, (xs >> 8) | ((ys >> 8) << 4)], axis=-1).astype(np.uint8)


def _origin(image_rgb):
    r, g, b = (int(v) for v in image_rgb[0, 0])
    return r + 256 * (b & 15), g + 256 * (b >> 4)


class _World:
    """People as (hip u, hip v, height) per frame; the detector needs a person to be at least
    ``min_frac`` of the height of the image it is given (a detector with a fixed input size)."""

    def __init__(self, people_per_frame, min_frac=0.3):
        self.people = people_per_frame
        self.min_frac = min_frac
        self.frame = 0
        self.detector_calls = []
        self.landmark_calls = 0

    def observation(self, u, v, h):
        lm = np.zeros((33, 2))
        lm[:, 0] = u + np.linspace(-0.15, 0.15, 33) * h
        lm[:, 1] = v + np.linspace(-0.55, 0.45, 33) * h
        lm[23], lm[24] = [u - 0.05 * h, v], [u + 0.05 * h, v]
        vis = np.full(33, 0.9)
        return PersonObservation(lm, vis, np.zeros((33, 3)), None, bbox_from_landmarks(lm, vis), 0.9)


class _FakeDetector:
    def __init__(self, world):
        self.world = world

    def detect(self, image_rgb):
        x0, y0 = _origin(image_rgb)
        hh, ww = image_rgb.shape[:2]
        self.world.detector_calls.append((self.world.frame, ww, hh))
        out = []
        for u, v, h in self.world.people[self.world.frame]:
            if x0 <= u < x0 + ww and y0 <= v < y0 + hh and h >= self.world.min_frac * hh:
                c = np.array([u - x0, v - y0], np.float32)
                out.append(PoseDetection(0.9, np.array([c[0] - 5, c[1] - h / 2, c[0] + 5, c[1] - h / 2 + 10]), c,
                                         c - np.array([0.0, 0.5 * h], np.float32)))
        return out

    def close(self):
        pass


class _FakeLandmarker:
    """Finds the person whose hip centre is nearest the region's centre, if inside the region."""

    def __init__(self, world):
        self.world = world

    def landmarks(self, image_rgb, roi: RotatedRoi):
        self.world.landmark_calls += 1
        best, dist = None, np.inf
        for u, v, h in self.world.people[self.world.frame]:
            d = np.hypot(u - roi.centre_px[0], v - roi.centre_px[1])
            if d < 0.5 * roi.side_px and d < dist:
                best, dist = (u, v, h), d
        if best is None:
            return None
        u, v, h = best
        obs = self.world.observation(u, v, h)
        return RoiLandmarks(obs, roi_from_alignment_points(np.array([u, v]), np.array([u, v - 0.5 * h])))

    def close(self):
        pass


def _run(world, config, frames, max_people=6, small_people='auto', detector=None):
    backend = FollowingPoseBackend(config, max_people, small_people, detector or _FakeDetector(world),
                                   _FakeLandmarker(world))
    img = _coded_image()
    intr = CameraIntrinsics.from_fov(768, 576, 60)
    out = []
    for f in range(frames):
        world.frame = f
        out.append((backend.detect(Frame(img, f * 33_000_000, intr, f)), dict(backend.last_stats)))
    return out


def test_detect_then_follow_runs_the_detector_only_when_due():
    # two large people walking; detection every 3rd frame while there is room for more people
    people = [[(200 + 4 * f, 300, 300), (500 - 3 * f, 320, 280)] for f in range(9)]
    world = _World(people)
    out = _run(world, FollowConfig(detect_every_n_frames=3), 9, max_people=6, small_people='off')
    assert [len(p) for p, _ in out] == [2] * 9
    assert [f for f, _, _ in world.detector_calls] == [0, 3, 6]              # full frame only, every 3rd frame
    assert world.landmark_calls == 2 + 9 * 2 - 2                             # 2 new + 2 follows per later frame
    ids = [sorted(p.follow_id for p in ps) for ps, _ in out]
    assert all(i == ids[0] for i in ids)                                      # the same region chains throughout
    for (ps, _), truth in zip(out, people):                                   # each chain stays on its person
        for p in ps:
            u = hip_centre_px(p)[0]
            assert min(abs(u - t[0]) for t in truth) < 1e-3
    first = {p.follow_id: hip_centre_px(p)[0] for p in out[0][0]}
    last = {p.follow_id: hip_centre_px(p)[0] for p in out[-1][0]}
    assert all(abs(last[k] - first[k]) < 40 for k in first)                 # no chain jumped to the other
    # with everyone followed (max_people reached), the detector never runs again
    world2 = _World(people)
    _run(world2, FollowConfig(detect_every_n_frames=1), 9, max_people=2, small_people='off')
    assert [f for f, _, _ in world2.detector_calls] == [0]


def test_small_people_tiles_on_demand():
    # two pedestrians 80 px tall (14 % of the image): the full-frame detector never sees them
    small = [[(115 + 3 * f, 240, 80), (515 - 2 * f, 340, 80)] for f in range(12)]
    off = _run(_World(small), FollowConfig(detect_every_n_frames=3), 12, small_people='off')
    assert all(len(p) == 0 for p, _ in off)
    world = _World(small)
    auto = _run(world, FollowConfig(detect_every_n_frames=3, tiles_per_frame=1), 12, small_people='auto')
    assert all(len(p) == 2 for p, _ in auto)                                  # found by the first frame's sweep
    tiles = [s['detector_tiles'] for _, s in auto]
    assert tiles[0] == len(tile_origins(576, 256, 0.25)) * len(tile_origins(768, 256, 0.25))
    assert tiles[1:] == [1] * 11                                              # small people seen: tiles go on
    # large people only: after the first sweep, one tile rides along with each full-frame pass
    large = [[(200, 300, 300)] for _ in range(12)]
    out = _run(_World(large), FollowConfig(detect_every_n_frames=3), 12, small_people='auto')
    assert [s['detector_tiles'] for _, s in out][1:] == [0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]
    on = _run(_World(large), FollowConfig(detect_every_n_frames=3, tiles_per_frame=2), 4, small_people='on')
    assert [s['detector_tiles'] for _, s in on][1:] == [2, 2, 2]


def test_finding_nobody_is_evidence_of_small_people_only_while_nobody_is_followed():
    # Megamind's first frame shows nobody: "found nobody anywhere" held the tiles on (a detector call, ~14 ms, each
    # frame) for 90 frames after the woman in front was followed from the second frame on
    large = [[(200, 300, 300)] for _ in range(12)]
    out = _run(_World([[]] + large[1:]), FollowConfig(detect_every_n_frames=3), 12, small_people='auto')
    assert [len(p) for p, _ in out] == [0] + [1] * 11
    assert [s['detector_tiles'] for _, s in out][2:] == [0, 0, 1, 0, 0, 1, 0, 0, 1, 0]
    # nobody anywhere for a while: the tiles keep searching at their rate (small people may be there)
    out = _run(_World([[]] * 12), FollowConfig(detect_every_n_frames=3), 12, small_people='auto')
    assert [s['detector_tiles'] for _, s in out][1:] == [1] * 11


def test_region_that_slides_onto_another_person_is_merged():
    # person B walks behind A (same place from frame 3 on): B's region slides onto A, one chain is dropped
    people = [[(300, 300, 300), (300 + max(0, 200 - 60 * f), 300, 300)] for f in range(6)]
    world = _World(people)
    out = _run(world, FollowConfig(detect_every_n_frames=100, redetect_after_loss_frames=0), 6,
               max_people=6, small_people='off')
    assert [len(p) for p, _ in out] == [2, 2, 2, 1, 1, 1]
    assert out[3][1]['merged'] == 1
    assert out[3][0][0].follow_id == out[0][0][0].follow_id                  # A's chain (which did not jump) stays


def test_people_settings_are_checked():
    from onlinehmr_ros.core.hmr.camera_hmr import HMRConfig
    with pytest.raises(InputError, match='small_people'):
        HMRConfig(small_people='yes')
    with pytest.raises(InputError, match='max_people'):
        HMRConfig(max_people=0)
    with pytest.raises(InputError, match='max_people'):
        HMRConfig(max_people=33)
    with pytest.raises(InputError, match='tile_size_px'):
        FollowConfig(tile_size_px=10)


def _video_frames(name, count, start=0):
    cv2 = pytest.importorskip('cv2')
    path = OPENCV_DATA / name
    if not path.is_file():
        pytest.skip('opencv-doc sample media not installed (make setup installs them)')
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    for i in range(start + count):
        ok, bgr = cap.read()
        assert ok
        if i >= start:
            img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            frames.append(Frame(img, int(i * 1e9 / fps), CameraIntrinsics.from_fov(img.shape[1], img.shape[0], 60), i))
    return frames


def test_blazepose_follows_the_person_in_megamind():
    pytest.importorskip('mediapipe')
    frames = _video_frames('Megamind.avi', 10)
    with FollowingPoseBackend(FollowConfig(), max_people=1) as backend:
        found = [backend.detect(f) for f in frames]
        stats = backend.last_stats
    first = next(i for i, f in enumerate(found) if f)
    assert first <= 2 and all(len(f) == 1 for f in found[first:])
    assert len({f[0].follow_id for f in found[first:]}) == 1 and stats['detector_full'] == 0   # followed, not
    # re-detected
    p = found[-1][0]
    assert 0 <= p.landmarks_px[0, 0] < 720 and 0 <= p.landmarks_px[0, 1] < 528       # nose in the image
    assert np.linalg.norm(p.landmarks_3d_m[23] + p.landmarks_3d_m[24]) < 0.05         # hip-centred 3D
    assert 0.1 < np.linalg.norm(p.landmarks_3d_m[23] - p.landmarks_3d_m[24]) < 0.4
    assert p.landmarks_px[0, 1] < hip_centre_px(p)[1]                                   # upright: nose above hips


def test_megamind_defaults_follow_only_the_two_people():
    """Megamind.avi frames 0-45: the woman in front and, from about frame 3, a man in the background; no one else.

    With the defaults, readings of the woman's face or hand as a smaller body (their landmarks on hers)
    are not followed as extra people, and the man, whose box often lies inside hers, is not taken for a
    part of her: he is followed in most frames, never on top of her."""
    pytest.importorskip('mediapipe')
    frames = _video_frames('Megamind.avi', 46)
    with FollowingPoseBackend(FollowConfig()) as backend:   # the defaults: max_people 6, small_people auto
        found = [backend.detect(f) for f in frames]
    counts = [len(f) for f in found]
    assert max(counts) <= 2, counts
    woman = [p for f in found for p in f if hip_centre_px(p)[0] < 360]      # she is on the left, he on the right
    man = [p for f in found for p in f if hip_centre_px(p)[0] >= 360]
    assert len(woman) >= 44 and len({p.follow_id for p in woman}) == 1          # one unbroken chain on her
    assert len(man) >= 20, counts
    for f in found:                     # the two people's heads are apart (not two readings of one face)
        if len(f) == 2:
            assert np.linalg.norm(f[0].landmarks_px[0] - f[1].landmarks_px[0]) > 100


@pytest.mark.slow
def test_small_pedestrians_in_vtest_need_the_tiles():
    pytest.importorskip('mediapipe')
    frames = _video_frames('vtest.avi', 12)
    counts = {}
    for mode in ('off', 'auto'):
        with FollowingPoseBackend(FollowConfig(), small_people=mode) as backend:
            counts[mode] = [len(backend.detect(f)) for f in frames]
    assert max(counts['off']) <= 1                       # the full-frame detector sees (almost) nobody there
    assert np.mean(counts['auto']) >= 2.5                # the tiles find several pedestrians, then they are followed


def _painted_person(shirt_rgb, trousers_rgb, brightness=1.0):
    """A 200x120 image: grey background, a person as coloured blocks, and landmarks on them."""
    img = np.full((200, 120, 3), 128, np.uint8)
    img[20:40, 50:70] = (230, 190, 160)                 # head
    img[40:110, 35:85] = shirt_rgb                       # torso
    img[110:190, 38:58] = trousers_rgb                   # legs
    img[110:190, 62:82] = trousers_rgb
    img = np.clip(img.astype(float) * brightness, 0, 255).astype(np.uint8)
    lm = np.tile([60.0, 100.0], (33, 1))
    lm[0], lm[7], lm[8] = [60, 30], [67, 30], [53, 30]
    lm[11], lm[12], lm[23], lm[24] = [80, 45], [40, 45], [76, 108], [44, 108]
    lm[25], lm[26], lm[27], lm[28] = [72, 150], [48, 150], [72, 185], [48, 185]
    vis = np.full(33, 0.9)
    return img, PersonObservation(lm, vis, np.zeros((33, 3)), None, bbox_from_landmarks(lm, vis), 0.9)


def test_appearance_tells_clothes_apart_and_leaves_occluders_out():
    from onlinehmr_ros.core.hmr.perception.appearance import appearance_distance, describe
    red, blue, green = (200, 30, 30), (30, 40, 150), (40, 170, 60)
    img, person = _painted_person(red, blue)
    a = describe(img, person)
    assert a.measured.all() and a.clean
    c = AppearanceConfig()
    torso = a.histograms[0][:c.hue_bins * c.saturation_bins].reshape(c.hue_bins, c.saturation_bins).sum(1)
    assert np.argmax(torso) in (0, c.hue_bins - 1) and torso.max() > 0.4          # red hue (wraps around 0)
    same_dimmer = describe(*_painted_person(red, blue, brightness=0.8))
    other_shirt = describe(*_painted_person(green, blue))
    assert appearance_distance(a, same_dimmer) < 0.3
    assert appearance_distance(a, other_shirt) > 0.5
    # someone in front covering the left half of the torso: measured from what is left, not clean
    half = describe(img, person, occluders=[np.array([[0, 0], [60, 0], [60, 200], [0, 200]], float)])
    assert 0.3 < half.visible_fraction[0] < 0.7 and not half.clean
    assert appearance_distance(a, half) < 0.3


def test_appearance_config_is_checked():
    with pytest.raises(InputError):
        AppearanceConfig(hue_bins=0)


def test_a_part_of_a_followed_person_is_not_a_new_person():
    """box_inside_fraction: the share of a box's area inside another; the part rule's measure."""
    from onlinehmr_ros.core.hmr.perception.follow import box_inside_fraction
    body = np.array([100.0, 100.0, 300.0, 500.0])
    face = np.array([180.0, 110.0, 240.0, 170.0])
    beside = np.array([250.0, 100.0, 350.0, 300.0])            # half inside
    assert box_inside_fraction(face, body) == 1.0
    assert box_inside_fraction(beside, body) == pytest.approx(0.5)
    assert box_inside_fraction(body, face) == pytest.approx(60 * 60 / (200 * 400))
    assert box_inside_fraction(np.array([10.0, 10, 10, 50]), body) == 0.0      # empty box
    # the part rule also needs the part's head on the body's landmarks: a face or a hand read as a body
    # is; a man standing behind, nested in the front person's box, has his head elsewhere
    from onlinehmr_ros.core.hmr.perception.follow import head_on_landmarks
    world = _World([])
    front = world.observation(200, 300, 400)                   # nose at (140, 80), landmarks down to (260, 480)
    small = world.observation(0, 0, 100)                       # a small body, its nose moved onto her hand
    lm = small.landmarks_px - small.landmarks_px[0] + front.landmarks_px[20] + [3, 2]
    on_hand = PersonObservation(lm, small.visibility, small.landmarks_3d_m, None,
                                bbox_from_landmarks(lm, small.visibility), 0.9)
    behind = world.observation(300, 250, 200)                  # nose at (270, 140), well beside her landmarks
    assert head_on_landmarks(on_hand, front, 0.1) and not head_on_landmarks(behind, front, 0.1)
    hidden = PersonObservation(front.landmarks_px, np.zeros(33), front.landmarks_3d_m, None, front.bbox_px, 0.9)
    assert not head_on_landmarks(on_hand, hidden, 0.1)          # only landmarks seen count
    cfg = FollowConfig()
    assert cfg.part_inside_frac == 0.8 and cfg.part_head_frac == 0.1
    with pytest.raises(InputError):
        FollowConfig(part_inside_frac=1.5)
    with pytest.raises(InputError):
        FollowConfig(duplicate_dist_frac=0.0)


def test_second_reading_of_a_followed_person_is_told_by_landmark_overlap():
    """landmark_overlap: one person's landmarks read twice coincide (1), a second reading on the face
    (a smaller body whose face and shoulders lie on the person's own) mostly coincides, two people side
    by side or one behind the other do not (0); too few landmarks seen in both: 0."""
    from onlinehmr_ros.core.hmr.perception.follow import landmark_overlap
    world = _World([])
    a = world.observation(300, 300, 300)
    again = PersonObservation(a.landmarks_px + [2.0, -3.0], a.visibility, a.landmarks_3d_m, None, a.bbox_px + 2, 0.9)
    assert landmark_overlap(a, again, 0.1) == 1.0
    lm = a.landmarks_px.copy()                         # the upper 2/3 on hers, the rest (hips, legs) elsewhere
    lm[22:] = lm[22:] * 0.6 + [120.0, 40.0]
    reading = PersonObservation(lm, a.visibility, a.landmarks_3d_m, None, bbox_from_landmarks(lm, a.visibility), 0.9)
    assert landmark_overlap(a, reading, 0.1) >= FollowConfig().duplicate_overlap
    beside, behind = world.observation(420, 300, 300), world.observation(330, 250, 200)
    assert landmark_overlap(a, beside, 0.1) == 0.0 and landmark_overlap(a, behind, 0.1) < 0.2
    few = np.zeros(33)
    few[:3] = 0.9
    assert landmark_overlap(a, PersonObservation(a.landmarks_px, few, a.landmarks_3d_m, None, a.bbox_px, 0.9),
                            0.1) == 0.0
