"""The SLAM's feature budget on a partly masked, unevenly textured view (FeatureConfig.grid_pool /
grid_redistribute), against the exact geometry of a ray-cast room.

The failure seen on rendered sequences (x00, tune-range extra: hand-held, four people and a pillar): ORB kept
its global best ``max_features`` corners, most of them in a few high-contrast cells, and the grid then cut
each cell to ``0.7 * max_features / cells``: about 530 of the 1200 budgeted features were left, cells of weaker
texture held 1-7, the map grew by 30-70 points per keyframe and PnP ran on 25-60 inliers; the map pose
zig-zagged (Sim(3) ATE 14.8 % of the path in the map frame). The scene here is the generator's room
(ray-cast, exact camera poses), a slow sideways hand-held-like move (6 mm per frame) and a static "people"
mask over the middle 40 % of the image.

Measured on this scene (room seed 3, 90 frames; out/test_figs.py of the s25 issue-12 report): the previous
detector (``grid_pool=1, grid_redistribute=False``) keeps 496 features in frame 0 (210 right of the mask) and
its map pose is off the true path by 7.8 % of the path (Sim(3) rmse over its 77 tracked frames, largest
error 6.5 cm): both tests fail with it. The defaults keep 1200 (601 right of the mask): 1.1 % over 62 tracked
frames (it initialises later), largest error 0.9 cm. The trajectory error depends on the scene: on another
room (seed 7, drafted the same way) both detectors were at 1.4-1.8 %, so the trajectory bound is a
regression bound for this scene, not a general claim.
"""
import numpy as np
import pytest

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame
from onlinehmr_ros.core.common.geometry import make_transform, rotmat_from_axis_angle
from onlinehmr_ros.core.slam.features import FeatureConfig, FeatureExtractor
from onlinehmr_ros.core.slam.odometry import MonocularSlam, SlamConfig
from onlinehmr_ros.eval.metrics import camera_ate
from onlinehmr_ros.eval.synthetic.scene import Room, RoomConfig

W, H, F = 640, 480, 500.0
INTR = CameraIntrinsics(np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]]), W, H)
N_FRAMES = 90
MASKED = (0.35, 0.75)         # the people mask covers these image columns (shares of the width)
R_LEVEL = np.column_stack([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])    # optical axes in the room: looking +y


def _T_world_cam(i):
    """6 mm per frame to the right, a 2 cm vertical sway, turning 0.05 deg per frame, looking 8 deg down."""
    c = np.array([-0.3 + 0.006 * i, -1.0, 1.5 + 0.02 * np.sin(i / 15)])
    R = (rotmat_from_axis_angle(np.array([0.0, 0.0, np.radians(0.05 * i)])) @ R_LEVEL
         @ rotmat_from_axis_angle(np.array([np.radians(8.0), 0.0, 0.0])))
    return make_transform(R, c)


@pytest.fixture(scope='module')
def scene():
    room = Room(RoomConfig(), np.random.default_rng(3))
    images = [room.render(INTR, _T_world_cam(i))[0] for i in range(N_FRAMES)]
    mask = np.zeros((H, W), np.float32)
    mask[:, int(MASKED[0] * W):int(MASKED[1] * W)] = 1.0
    return images, mask, np.stack([_T_world_cam(i) for i in range(N_FRAMES)])


def test_the_budget_goes_to_the_unmasked_textured_image(scene):
    images, mask, _ = scene
    cfg = FeatureConfig()
    f = FeatureExtractor(cfg).extract(Frame(images[0], 0, INTR, 0), mask)
    x = f.keypoints_px[:, 0]
    assert not np.any((x >= MASKED[0] * W + 1) & (x < MASKED[1] * W - 1)), 'no feature on the person'
    # the old grid left 496 (a cap of 70 per cell after ORB spent its budget on the poster)
    assert len(f) >= 0.95 * cfg.max_features
    # both unmasked sides of the view are used, not only the high-contrast poster
    right = x >= MASKED[1] * W
    assert right.sum() >= 0.25 * len(f), f'{right.sum()} of {len(f)} features right of the people'


def test_the_map_pose_follows_the_true_path(scene):
    images, mask, T_true = scene
    slam = MonocularSlam(SlamConfig())
    out = [slam.process(Frame(img, i * 33_333_333, INTR, i), mask) for i, img in enumerate(images)]
    idx = [i for i, r in enumerate(out) if r.T_map_cam is not None]
    assert all(r.segment == 0 for r in out)
    assert len(idx) >= 0.6 * N_FRAMES
    est = np.stack([out[i].T_map_cam[:3, 3] for i in idx])
    gt = T_true[idx, :3, 3]
    path = float(np.sum(np.linalg.norm(np.diff(gt, axis=0), axis=1)))
    ate = camera_ate(est, gt, with_scale=True)
    # defaults: 1.1 % of the path (rmse), largest error 0.9 cm; the previous detector: 7.8 %, 6.5 cm
    assert ate.rmse < 0.02 * path, f'ATE {100 * ate.rmse / path:.2f} % of a {path:.2f} m path'
    assert ate.max < 0.025, f'largest position error {ate.max:.3f} m'
