"""core.hmr.staged.StagedHMR: perception and estimation in two threads give process()'s results, drop what they
cannot keep up with (counted), and report a failing image without stopping."""
import threading

import numpy as np
import pytest

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.camera_hmr import CameraHMR, HMRConfig
from onlinehmr_ros.core.hmr.staged import StagedHMR

N = 16


@pytest.fixture(scope='module')
def frames(megamind_frames):
    return megamind_frames(N)


def _staged_run(frames, depth, fail_stamp=None, config=HMRConfig(max_people=1)):
    hmr = CameraHMR(config)
    if fail_stamp is not None:
        perceive = hmr.perceive

        def failing(frame):
            if frame.stamp_ns == fail_stamp:
                raise RuntimeError('perception failed')
            return perceive(frame)
        hmr.perceive = failing
    outs, errors, idle = [], [], threading.Event()

    def on_output(frame, out, tag):
        outs.append((frame.stamp_ns, out))

    staged = StagedHMR(hmr, on_output, lambda stamp, exc: errors.append((stamp, str(exc))), depth=depth)
    for f in frames:
        staged.submit(f)
    deadline = 120.0
    while deadline > 0 and len(outs) + len(errors) + staged.dropped < len(frames):
        idle.wait(0.05)
        deadline -= 0.05
    dropped = staged.dropped
    staged.close()
    return outs, errors, dropped


def test_two_stages_give_the_serial_results(frames):
    with CameraHMR(HMRConfig(max_people=1)) as hmr:
        serial = [hmr.process(f) for f in frames]
    outs, errors, dropped = _staged_run(frames, depth=N)
    assert not errors and dropped == 0
    assert [s for s, _ in outs] == [f.stamp_ns for f in frames]               # every image, in order
    published = 0
    for a, (_, b) in zip(serial, outs):
        assert [h.track_id for h in a.humans.humans] == [h.track_id for h in b.humans.humans]
        for p, q in zip(a.humans.humans, b.humans.humans):
            np.testing.assert_array_equal(p.joints, q.joints)
            np.testing.assert_array_equal(p.vertices, q.vertices)
            published += 1
    assert published >= N - 3               # the woman in (nearly) every frame once her track is confirmed


def test_stages_that_fall_behind_drop_the_oldest_images_and_count_them(frames):
    outs, errors, dropped = _staged_run(frames, depth=1)
    stamps = [s for s, _ in outs]
    assert not errors and dropped > 0 and len(outs) + dropped == N
    assert stamps == sorted(stamps) and stamps[-1] == frames[-1].stamp_ns   # the newest image is never dropped


def test_a_failing_image_is_reported_and_the_next_ones_go_on(frames):
    bad = frames[5].stamp_ns
    outs, errors, dropped = _staged_run(frames, depth=N, fail_stamp=bad)
    assert errors == [(bad, 'perception failed')] and dropped == 0
    assert [s for s, _ in outs] == [f.stamp_ns for f in frames if f.stamp_ns != bad]
    assert len(outs[-1][1].humans.humans) == 1                                # still tracking her at the end


def test_bad_depth():
    with pytest.raises(InputError, match='depth'):
        StagedHMR(None, print, print, depth=0)
