"""``python -m onlinehmr_ros.core.hmr.perception --build-bundle DIR``: write the PoseLandmarker ``.task`` bundle."""
from __future__ import annotations

import argparse

from onlinehmr_ros.core.hmr.perception.mediapipe import TASK_BUNDLE_FILENAME, build_pose_task_bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m onlinehmr_ros.core.hmr.perception',
                                     description='Assemble the mediapipe PoseLandmarker .task bundle from the '
                                                 'models shipped inside the mediapipe wheel.')
    parser.add_argument('--build-bundle', metavar='DIR', required=True,
                        help=f'directory to write {TASK_BUNDLE_FILENAME} into')
    args = parser.parse_args(argv)
    print(build_pose_task_bundle(args.build_bundle))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
