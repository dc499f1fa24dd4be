"""Synthetic sequences with exact ground truth, rendered on the CPU.

A textured static room, a hand-held / robot / static camera, one to three
people with procedural motion posed with the project's body model, rendered
with a painter's-algorithm rasteriser; ground truth: intrinsics, camera poses,
world SMPL-24 joints, COCO-17 keypoints, body-model parameters (which give the
vertices), person masks and visibility.

    from onlinehmr_ros.eval.synthetic import SequenceConfig, generate_sequence, SyntheticSequence
    seq = generate_sequence(SequenceConfig(num_frames=90, num_people=2), seed=3)
    seq.save('/tmp/seq_0003'); seq = SyntheticSequence.load('/tmp/seq_0003')

Command line: ``python -m onlinehmr_ros.eval.synthetic --out DIR --count N``.

The SLAM tests and benchmark use these sequences too (the former separate box scene is gone). The
training of the learned HMR uses this generator's people too (``generate_sequence(..., render=False)``:
motion and cameras without the costly rendering; :mod:`onlinehmr_ros.training.data`), and its rendered
frames seen by mediapipe (:mod:`onlinehmr_ros.training.rendered_set`).
"""
from onlinehmr_ros.eval.synthetic.camera_motion import CAMERA_KINDS, CameraMotionConfig
from onlinehmr_ros.eval.synthetic.generator import (GeneratorError, SequenceConfig, generate_sequence,
                                                    person_vertices_world)
from onlinehmr_ros.eval.synthetic.preview import contact_sheet, save_contact_sheet
from onlinehmr_ros.eval.synthetic.scene import RoomConfig
from onlinehmr_ros.eval.synthetic.sequence import PersonTrack, SequenceError, SyntheticSequence

__all__ = ['CAMERA_KINDS', 'CameraMotionConfig', 'GeneratorError', 'PersonTrack', 'RoomConfig', 'SequenceConfig',
           'SequenceError', 'SyntheticSequence', 'contact_sheet', 'generate_sequence', 'person_vertices_world',
           'save_contact_sheet']
