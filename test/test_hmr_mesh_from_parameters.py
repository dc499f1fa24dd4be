"""Meshes from parameters (core.body.model.posed_vertices): a published mesh is the body model posed with the
published parameters and scaled by size_factor about the pelvis, so a reader that gets only the parameters
(a bag recorded with meshes_as_parameters) rebuilds it."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from onlinehmr_ros.core.body.model import BodyModelError, posed_vertices
from onlinehmr_ros.core.hmr.camera_hmr import CameraHMR, HMRConfig

PARAMETERS = ('betas', 'global_orient', 'body_pose', 'transl')


@pytest.fixture(scope='module')
def published(megamind_frames):
    """(body model, the people the HMR published on the first frames of Megamind.avi): the woman in front as the
    default configuration estimates her (fitting: the domain gate sends her close-up to the fitter) and as the
    network does (learned, ungated)."""
    frames = megamind_frames(8)
    learned = HMRConfig(estimator='learned')
    learned = replace(learned, domain_gate=replace(learned.domain_gate, enabled=False))
    people = []
    for config, estimator in ((HMRConfig(), 'fitting'), (learned, 'learned')):
        with CameraHMR(config) as hmr:
            outs = [hmr.process(f) for f in frames]
            model = hmr.body_model
        assert {by for o in outs for by in o.estimated_by} == {estimator}
        people += [h for o in outs for h in o.humans.humans]
    return model, people


def _as_received(h):
    """The person as a message carries them without the mesh: float32 parameters, no vertices."""
    return replace(h, vertices=np.zeros((0, 3), np.float32),
                   **{name: np.asarray(getattr(h, name), np.float32) for name in PARAMETERS})


def test_posed_vertices_reproduce_the_published_meshes(published):
    model, people = published
    assert len(people) >= 5 and all(h.vertices.shape == (model.num_vertices, 3) for h in people)
    rebuilt = posed_vertices(model, [_as_received(h) for h in people])
    assert rebuilt.shape == (len(people), model.num_vertices, 3) and rebuilt.dtype == np.float32
    for h, v in zip(people, rebuilt):
        np.testing.assert_allclose(v, h.vertices, rtol=0, atol=1e-5)
    # not trivially equal: the people differ from each other by far more than the tolerance
    assert np.abs(rebuilt[0] - rebuilt[-1]).max() > 0.01


def test_size_factor_scales_about_the_pelvis(published):
    model, people = published
    factors = [1.25 if i % 3 == 0 else 0.8 if i % 3 == 1 else 1.0 for i in range(len(people))]
    scaled = posed_vertices(model, [replace(_as_received(h), size_factor=k) for h, k in zip(people, factors)])
    for h, k, v in zip(people, factors, scaled):
        pelvis = h.joints[0].astype(np.float64)        # the published pelvis (joint 0), fixed by the scaling
        expected = pelvis + k * (h.vertices.astype(np.float64) - pelvis)
        np.testing.assert_allclose(v, expected, rtol=0, atol=2e-5)
    assert np.abs(scaled[0] - people[0].vertices).max() > 0.05      # 25 % larger: visibly a different mesh


def test_no_people_and_wrong_parameters(published):
    model, people = published
    assert posed_vertices(model, []).shape == (0, model.num_vertices, 3)
    with pytest.raises(BodyModelError, match='betas'):
        posed_vertices(model, [replace(people[0], betas=np.zeros(model.num_betas + 3, np.float32))])
    with pytest.raises(BodyModelError, match='parameters of 2 people'):
        posed_vertices(model, [people[0], replace(people[0], body_pose=np.zeros(3, np.float32))])
