"""Generate a set of synthetic sequences: ``python -m onlinehmr_ros.eval.synthetic --out DIR --count N``.

Sequence k gets seed ``--seed + k`` and is written to ``DIR/seq_<seed>``.
By default the set cycles through the camera kinds and people counts so that
every set of four or more holds a static camera and two or more people.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
from onlinehmr_ros.eval.synthetic.generator import SequenceConfig, generate_sequence
from onlinehmr_ros.eval.synthetic.preview import save_contact_sheet

# (camera kind, people) cycled over the set when neither is given
_CYCLE = (('handheld', 1), ('handheld', 2), ('static', 2), ('robot', 3), ('handheld', 3), ('static', 1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog='python -m onlinehmr_ros.eval.synthetic', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', type=Path, required=True, help='output directory (one sub-directory per sequence)')
    p.add_argument('--count', type=int, default=4, help='number of sequences (default 4)')
    p.add_argument('--seed', type=int, default=0, help='seed of the first sequence (default 0)')
    p.add_argument('--frames', type=int, default=300, help='frames per sequence (default 300)')
    p.add_argument('--fps', type=float, default=30.0, help='frame rate (default 30)')
    p.add_argument('--width', type=int, default=640)
    p.add_argument('--height', type=int, default=480)
    p.add_argument('--hfov', type=float, default=65.0, help='horizontal field of view, degrees (default 65)')
    p.add_argument('--people', type=int, choices=(1, 2, 3, 4), default=None,
                   help='people per sequence (default: cycle 1-3)')
    p.add_argument('--pillar', action='store_true', help='a pillar fully hides the last person for >= 1.2 s')
    p.add_argument('--exit-reenter', action='store_true', help='the first person leaves the view and comes back '
                   '(2 or more people)')
    p.add_argument('--camera', choices=('handheld', 'robot', 'static', 'random'), default=None,
                   help='camera kind (default: cycle; "random": drawn from the seed)')
    p.add_argument('--body-model', choices=('open', 'smpl', 'smplx'), default='open')
    p.add_argument('--body-model-path', default=None, help='directory of the SMPL/SMPL-X files')
    p.add_argument('--no-contact-sheet', action='store_true', help='do not write contact_sheet.png per sequence')
    args = p.parse_args(argv)
    if args.count < 1:
        p.error('--count must be >= 1')

    from tqdm import tqdm

    body_model = load_body_model(BodyModelConfig(type=args.body_model, path=args.body_model_path))
    base = SequenceConfig(num_frames=args.frames, fps=args.fps, width_px=args.width, height_px=args.height,
                          hfov_deg=args.hfov, body_model=BodyModelConfig(type=args.body_model,
                                                                         path=args.body_model_path),
                          pillar=args.pillar, exit_reenter=args.exit_reenter)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tqdm(total=args.count * args.frames, unit='frame', desc='rendering') as bar:
        for k in range(args.count):
            seed = args.seed + k
            kind, people = _CYCLE[k % len(_CYCLE)]
            cfg = dataclasses.replace(
                base, num_people=args.people if args.people is not None else people,
                camera_kind=None if args.camera == 'random' else (args.camera or kind))
            seq = generate_sequence(cfg, seed, body_model, name=f'seq_{seed:04d}', progress=bar.update)
            out = seq.save(args.out / seq.name)
            if not args.no_contact_sheet:
                save_contact_sheet(seq, str(out / 'contact_sheet.png'))
            bar.set_postfix_str(f'{seq.name}: {seq.camera_kind}, {len(seq.people)} people')
    dt = time.perf_counter() - t0
    print(f'wrote {args.count} sequences to {args.out} in {dt:.1f} s '
          f'({1000 * dt / (args.count * args.frames):.0f} ms/frame incl. posing and encoding)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
