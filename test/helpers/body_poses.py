"""Real body-model poses for the REP-155 tests: the open body model walking, waving, squatting, turning."""
import numpy as np


def body_model_poses(n_frames: int = 90, start_xy=(0.0, 0.0), heading_rad: float = 0.3, seed: int = 5,
                     plan=None):
    """World-frame (z up) SMPL-24 joints (F, 24, 3), COCO-17 keypoints (F, 17, 3), vertices (F, V, 3)
    and per-frame action codes of one person following ``plan`` (default: walk, wave, squat, turn)."""
    import torch

    from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
    from onlinehmr_ros.core.common.geometry import axis_angle_from_rotmat, rotmat_from_axis_angle
    from onlinehmr_ros.eval.synthetic.generator import R_WORLD_BODY
    from onlinehmr_ros.eval.synthetic.human_motion import Act, Walk, plan_to_motion
    rng = np.random.default_rng(seed)
    if plan is None:
        plan = [Walk((start_xy[0] + 2.0, start_xy[1] + 1.0)), Act('wave', 1.2), Act('squat', 1.5),
                Act('turn', 1.0, 1.5)]
    m = plan_to_motion(plan, start_xy, heading_rad, n_frames, 15.0, rng)
    model = load_body_model(BodyModelConfig())
    R = rotmat_from_axis_angle(np.stack([np.zeros(n_frames), np.zeros(n_frames), m.heading_rad + np.pi / 2], -1))
    go = axis_angle_from_rotmat(R @ R_WORLD_BODY)
    with torch.no_grad():
        out = model(torch.zeros(n_frames, model.num_betas, dtype=model.dtype), torch.as_tensor(go, dtype=model.dtype),
                    torch.as_tensor(m.body_pose, dtype=model.dtype), torch.zeros(n_frames, 3, dtype=model.dtype))
    joints = out.joints.double().numpy()
    lift = np.array([m.ground_xy[:, 0] - joints[:, 0, 0], m.ground_xy[:, 1] - joints[:, 0, 1],
                     -out.vertices.double().numpy()[..., 2].min(axis=1)]).T[:, None, :]   # on the floor at ground_xy
    return (joints + lift, out.keypoints_coco.double().numpy()[:, :17] + lift,
            out.vertices.double().numpy() + lift, m.action)
