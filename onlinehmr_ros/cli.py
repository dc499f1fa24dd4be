"""`onlinehmr`: the offline command line (no ROS graph needed, except for `demo`).

    onlinehmr run INPUT --out DIR       core pipeline on a video / image folder / bag -> results.npz,
                                        overlay.mp4, scene_top.png, scene_oblique.png
    onlinehmr demo --out DIR            the full ROS node graph (composed in one process, real topics)
                                        on Megamind.avi, recorded to MCAP, rendered, timed
    onlinehmr render-bag BAG --out DIR  overlay video and scene pictures from a recorded bag
    onlinehmr eval ...                  metrics on synthetic sequences with ground truth
    onlinehmr train ...                 train the learned causal HMR (onlinehmr_ros.training.train)

results.npz (``onlinehmr run``), N frames, P tracks, NaN where a track is absent:
    stamps_ns (N,) int64           image stamps
    K (3, 3)                       intrinsics used
    T_world_cam (N, 4, 4)          camera-to-world, metric translation (R(q), s t)
    scale (N,)                     metres per SLAM unit
    tracking (N,) bool             SLAM was tracking (a 6-DoF map pose)
    pose_state (N,) str            'tracking' | 'rotation_only' (before the map / while lost) | 'held'
    scale_converged (N,) bool      the position was metric (False: provisional scale)
    track_ids (P,) int64
    valid (N, P) bool              track p was seen in frame n
    joints_world (N, P, 24, 3)     SMPL-24 joints, world frame, metres
    coco_world (N, P, 17, 3)       COCO-17 keypoints, world frame, metres
    joints_camera (N, P, 24, 3)    SMPL-24 joints, camera optical frame, metres
    joint_confidence (N, P, 24)    per-joint confidence in [0, 1]
    map_points_world (K, 3)        SLAM map at the end, metres
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np


MEGAMIND = '/usr/share/doc/opencv-doc/examples/data/Megamind.avi'


class CliError(RuntimeError):
    """A user error the command reports in one line (exit code 1)."""


# ----------------------------------------------------------------------------
# run
# ----------------------------------------------------------------------------
def _intrinsics_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group('intrinsics (the same choices as camera_source)')
    g.add_argument('--camera-info', default='', help='ROS camera_info YAML')
    g.add_argument('--intrinsics', nargs=4, type=float, metavar=('FX', 'FY', 'CX', 'CY'), help='pixels')
    g.add_argument('--hfov', type=float, default=60.0, help='horizontal field of view when nothing else is given '
                   '(degrees; a wrong value scales depth, see README)')


def _body_model_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument('--body-model', default='open', choices=('open', 'smpl', 'smplx'))
    ap.add_argument('--body-model-path', default=None, help='folder with the SMPL / SMPL-X files')


class _Collector:
    """Accumulates per-frame outputs into the arrays of results.npz (bounded by the run's length)."""

    def __init__(self):
        self.stamps, self.T, self.scale, self.tracking, self.state, self.converged = [], [], [], [], [], []
        self.per_frame: list[dict[int, tuple]] = []
        self.paths: dict[int, list] = {}
        self.last_world_mesh: dict[int, np.ndarray] = {}

    def add(self, out) -> None:
        p = out.camera_pose
        self.stamps.append(out.stamp_ns)
        self.T.append(p.T_world_cam_m)
        self.scale.append(p.scale)
        self.tracking.append(p.tracking)
        self.state.append(p.state)
        self.converged.append(p.scale_converged)
        cam = {h.track_id: h for h in out.camera_humans.humans}
        frame = {}
        for h in out.world_humans.humans:
            frame[h.track_id] = (h.joints, h.keypoints_coco[:17], cam[h.track_id].joints, h.joint_confidence)
            self.paths.setdefault(h.track_id, []).append(h.joints[0])
            if h.vertices.shape[0]:
                self.last_world_mesh[h.track_id] = h.vertices
        self.per_frame.append(frame)

    def arrays(self, K: np.ndarray, map_points: np.ndarray) -> dict[str, np.ndarray]:
        ids = sorted({t for f in self.per_frame for t in f})
        n, p = len(self.per_frame), len(ids)
        col = {t: i for i, t in enumerate(ids)}
        jw = np.full((n, p, 24, 3), np.nan, np.float32)
        cw = np.full((n, p, 17, 3), np.nan, np.float32)
        jc = np.full((n, p, 24, 3), np.nan, np.float32)
        conf = np.zeros((n, p, 24), np.float32)
        valid = np.zeros((n, p), bool)
        for i, f in enumerate(self.per_frame):
            for t, (a, b, c, d) in f.items():
                jw[i, col[t]], cw[i, col[t]], jc[i, col[t]], conf[i, col[t]] = a, b, c, d
                valid[i, col[t]] = True
        return dict(stamps_ns=np.asarray(self.stamps, np.int64), K=K, T_world_cam=np.asarray(self.T),
                    scale=np.asarray(self.scale), tracking=np.asarray(self.tracking, bool),
                    pose_state=np.asarray(self.state, str), scale_converged=np.asarray(self.converged, bool),
                    track_ids=np.asarray(ids, np.int64), valid=valid, joints_world=jw, coco_world=cw,
                    joints_camera=jc, joint_confidence=conf, map_points_world=np.asarray(map_points, np.float32))


def _output_folder(path: str) -> pathlib.Path:
    """Create the output folder ``path`` (and its parents) or say in one line why it cannot be."""
    out = pathlib.Path(path)
    if out.exists() and not out.is_dir():
        raise CliError(f'--out {out} is an existing file, not a folder; choose a folder')
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f'cannot create the output folder {out}: {exc.strerror}; choose a writable path') from exc
    probe = out / '.onlinehmr_write_test'
    try:
        probe.write_bytes(b'')
        probe.unlink()
    except OSError as exc:
        raise CliError(f'cannot write into {out}: {exc.strerror}; choose a writable folder') from exc
    return out


def _check_intrinsics_args(args) -> None:
    """One line for nonsense intrinsics before any work starts."""
    if args.intrinsics is not None:
        fx, fy, cx, cy = args.intrinsics
        if not (np.isfinite(args.intrinsics).all() and fx > 0 and fy > 0 and cx > 0 and cy > 0):
            raise CliError(f'--intrinsics {fx:g} {fy:g} {cx:g} {cy:g}: focal lengths and principal point must be '
                           'positive pixels (e.g. --intrinsics 600 600 320 240), or give --camera-info or --hfov')
    if not (np.isfinite(args.hfov) and 0.0 < args.hfov < 180.0):
        raise CliError(f'--hfov {args.hfov:g}: the horizontal field of view must be between 0 and 180 degrees '
                       '(typical webcams: 55-75)')


def cmd_run(args) -> int:
    import cv2
    from tqdm import tqdm

    from onlinehmr_ros.core.body.loading import BodyModelConfig
    from onlinehmr_ros.core.common.datatypes import Frame
    from onlinehmr_ros.core.hmr.camera_hmr import HMRConfig
    from onlinehmr_ros.core.io.sources import IntrinsicsPolicy, open_source
    from onlinehmr_ros.core.io.visualize import overlay_humans, save_scene_views
    from onlinehmr_ros.core.pipeline import Pipeline, PipelineConfig

    _check_intrinsics_args(args)
    out_dir = _output_folder(args.out)
    warnings = []
    source = open_source(args.input, fps=args.fps, on_warning=warnings.append)
    people = {k: v for k, v in (('max_people', args.max_people), ('small_people', args.small_people)) if v is not None}
    config = PipelineConfig(hmr=HMRConfig(body_model=BodyModelConfig(type=args.body_model, path=args.body_model_path),
                                          **people))
    pipeline = Pipeline(config)
    faces = pipeline.body_model.faces
    collector = _Collector()
    writer = None
    intr = None
    timings: dict[str, list[float]] = {}
    map_points = np.zeros((0, 3))
    people_per_frame: list[int] = []
    total = getattr(source, 'frame_count', 0) or None
    if args.max_frames:
        total = min(total or args.max_frames, args.max_frames)
    try:
        for sf in tqdm(source, total=total, unit='frame', desc='onlinehmr run'):
            if args.max_frames and sf.index >= args.max_frames:
                break
            h, w = sf.image_rgb.shape[:2]
            if intr is None:   # the first frame's intrinsics for the whole run (results.npz holds one K)
                intr = IntrinsicsPolicy(args.camera_info, tuple(args.intrinsics) if args.intrinsics else None,
                                        args.hfov, on_warning=lambda m: print(f'onlinehmr run: warning: {m}',
                                                                              file=sys.stderr)).for_frame(sf)
            out = pipeline.process(Frame(sf.image_rgb, sf.stamp_ns, intr, sf.index))
            collector.add(out)
            people_per_frame.append(len(out.camera_humans.humans))
            map_points = out.map_points_world_m
            for k, v in out.timings_ms.items():
                timings.setdefault(k, []).append(v)
            if not args.no_overlay:
                if writer is None:
                    writer = cv2.VideoWriter(str(out_dir / 'overlay.mp4'), cv2.VideoWriter_fourcc(*'mp4v'),
                                             float(getattr(source, 'fps', 30.0)), (w, h))
                writer.write(overlay_humans(sf.image_rgb, out.camera_humans, intr, faces)[:, :, ::-1])
    finally:
        if writer is not None:
            writer.release()
        pipeline.close()
    if intr is None:
        why = f' ({len(warnings)} skipped, e.g. {warnings[0]})' if warnings else ''
        raise CliError(f'no frame could be read from {args.input}{why}')
    np.savez_compressed(out_dir / 'results.npz', **collector.arrays(intr.K, map_points))
    T = np.asarray(collector.T)
    save_scene_views(str(out_dir / 'scene_top.png'), str(out_dir / 'scene_oblique.png'), T[:, :3, 3],
                     {t: np.asarray(p) for t, p in collector.paths.items()}, collector.last_world_mesh, faces,
                     map_points)
    summary = {k: {'p50_ms': float(np.percentile(v, 50)), 'p95_ms': float(np.percentile(v, 95))}
               for k, v in timings.items()}
    (out_dir / 'timings.json').write_text(json.dumps(summary, indent=1))
    n = len(collector.stamps)
    print(f'{n} frames, {np.mean(people_per_frame):.2f} people/frame, {len(collector.paths)} distinct track ids, '
          f'{sum(collector.tracking)} frames with SLAM tracking, {len(warnings)} frames skipped; end to end mean '
          f'{np.mean(timings["total"]):.1f} ms/frame, p50 {summary["total"]["p50_ms"]:.1f} ms '
          f'({1e3 / summary["total"]["p50_ms"]:.1f} fps)')
    written = ['results.npz'] + ([] if args.no_overlay else ['overlay.mp4']) + ['scene_top.png', 'scene_oblique.png',
                                                                              'timings.json']
    print(f'wrote {out_dir}/' + ', '.join(written))
    return 0


# ----------------------------------------------------------------------------
# render-bag and demo
# ----------------------------------------------------------------------------
def cmd_render_bag(args) -> int:
    from onlinehmr_ros.ros.bag_render import render_bag
    if not pathlib.Path(args.bag).exists():
        raise CliError(f'{args.bag} does not exist; give a rosbag2 folder (e.g. out/demo/bag)')
    counts = render_bag(args.bag, str(_output_folder(args.out)), args.fps, body_model_path=args.body_model_path)
    print(f"{counts['frames']} frames ({counts['overlaid']} with people), {counts['poses']} camera poses, "
          f"{counts['tracks']} tracks -> {args.out}/overlay.mp4, scene_top.png, scene_oblique.png")
    return 0


def cmd_demo(args) -> int:
    from onlinehmr_ros.nodes.compose import (DEMO_RECORD_OPTIONS, OUTPUT_TOPICS, default_params_file, run_graph,
                                             stage_report)
    from onlinehmr_ros.ros.bag_render import render_bag
    from onlinehmr_ros.ros.env import ensure_ament_prefix_path
    ensure_ament_prefix_path()
    video = args.input or MEGAMIND
    if not pathlib.Path(video).is_file():
        raise CliError(f'{video} not found (the demo video comes with the Debian package opencv-doc; '
                       '`make setup` installs it)')
    out = _output_folder(args.out)
    bag = out / 'bag'
    if bag.exists():
        import shutil
        shutil.rmtree(bag)
    overrides = {'input': video, 'rate_mode': 'lockstep'}
    if args.max_frames:
        overrides['max_frames'] = args.max_frames
    print(f'running the node graph (camera_source, mask, hmr, slam, fusion) on {video}; recording to {bag}')
    from tqdm import tqdm
    bar = tqdm(total=args.max_frames or None, unit='frame', desc='demo')

    def progress(n):
        bar.update(n - bar.n)

    # a bag a user can keep: images JPEG, masks PNG mono8, zstd chunks; no meshes: people as their body-model
    # parameters (the recorder empties the vertices of /human/camera_humans, the fusion publishes
    # /human/world_humans without them, no /human/world_mesh markers). render-bag poses each camera person
    # from their parameters and places the mesh in the world with the similarity that maps the person's
    # camera joints onto their world joints
    ros_args = ['--params-file', args.params_file or default_params_file(), '-p', 'fusion:world_humans.vertices:=false']
    topics = [t for t in OUTPUT_TOPICS if t != '/human/world_mesh']
    run = run_graph(ros_args, overrides, True, str(bag), record_topics=topics, progress=progress,
                    record_options=DEMO_RECORD_OPTIONS)
    bar.close()
    print(f'\n{run.frames_in} frames in, {run.frames_out} world frames out in {run.wall_s:.1f} s '
          f'({run.frames_out / max(run.wall_s, 1e-9):.1f} fps end to end, lockstep)')
    rows = stage_report(run)
    for stage, p50, p95 in rows:
        print(f'  {stage:<50} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms')
    print('recorded messages: ' + ', '.join(f'{t} {n}' for t, n in sorted(run.recorder_counts.items())))
    bag_mb = sum(f.stat().st_size for f in bag.rglob('*') if f.is_file()) / 1e6
    print(f'bag: {bag_mb:.1f} MB')
    counts = render_bag(str(bag), str(out))
    (out / 'demo_summary.json').write_text(json.dumps({
        'frames_in': run.frames_in, 'frames_out': run.frames_out, 'wall_s': run.wall_s,
        'stages_ms': {s: {'p50': a, 'p95': b} for s, a, b in rows}, 'recorded': run.recorder_counts,
        'bag_mb': round(bag_mb, 1),
        'rendered': counts}, indent=1))
    print(f'wrote {out}/overlay.mp4, overlay_frame.png, scene_top.png, scene_oblique.png, summary.png, '
          f'bag/ (MCAP), demo_summary.json')
    if run.frames_out == 0:
        raise CliError('no world mesh was published; see the diagnostics in the bag (/diagnostics)')
    return 0


# ----------------------------------------------------------------------------
# eval
# ----------------------------------------------------------------------------
#: ablation name -> list of (variant label, PipelineConfig changes)
ABLATIONS = ('mask', 'ema', 'temporal', 'body_model', 'robot_height', 'eye_height')
#: the eye_height ablation: a hand-held camera at about eye height (the generator's 1.35-1.65 m: 1.5 m, +- 5.8 %
#: sd, with the floor's 5 % error: 8 %), combined with people as rulers of the generator's stature spread
#: (log-sd 15.5 %, with the floor's 5 %: 16 %; ScaleConfig.people_rel_sigma)
EYE_HEIGHT_PRIOR = {'camera_height_prior_m': 1.5, 'camera_height_prior_rel_sigma': 0.08, 'people_rel_sigma': 0.16}
#: where `--generate` keeps its sequences, and where named sets are cached by default
EVAL_DEFAULT_CACHE = 'out/eval_sequences'
SET_DEFAULT_CACHE = 'out/sequences'


def _variants(ablations: list[str], smpl_path: str | None) -> list[tuple[str, dict]]:
    """(label, {config field path: value}) for the baseline and each requested ablation."""
    out = [('', {})]
    if 'mask' in ablations:
        out += [('mask=none', {'soft_mask.mode': 'none'}), ('mask=hard', {'soft_mask.mode': 'hard'})]
    if 'ema' in ablations:
        out += [('ema=off', {'slam.ema.enabled': False})]
    if 'temporal' in ablations:
        out += [('temporal=off', {'hmr.fitter': 'without_temporal_terms'})]
    if 'robot_height' in ablations:
        # robot sequences only: the robot knows its camera's mounting height (here: the generator's)
        out += [('scale=+robot_height', {'slam.scale.camera_height_m': 'robot'})]
    if 'eye_height' in ablations:
        # hand-held sequences only: the user says the camera is held at about eye height
        out += [('scale=+eye_height', {'slam.scale.eye_height_prior': EYE_HEIGHT_PRIOR})]
    if 'body_model' in ablations:
        if smpl_path:
            out += [('body_model=smpl', {'body_model': ('smpl', smpl_path)})]
        else:
            print('body-model ablation: SMPL not available (give --smpl-path with SMPL_NEUTRAL.pkl); row skipped')
    return out


def _pipeline_config(base, changes: dict):
    import dataclasses

    from onlinehmr_ros.core.body.loading import BodyModelConfig
    cfg = base
    for key, value in changes.items():
        if key == 'soft_mask.mode':
            cfg = dataclasses.replace(cfg, soft_mask=dataclasses.replace(cfg.soft_mask, mode=value))
        elif key == 'slam.ema.enabled':
            cfg = dataclasses.replace(cfg, slam=dataclasses.replace(
                cfg.slam, ema=dataclasses.replace(cfg.slam.ema, enabled=value)))
        elif key == 'hmr.fitter':
            cfg = dataclasses.replace(cfg, hmr=dataclasses.replace(cfg.hmr, fitter=cfg.hmr.fitter.without_temporal_terms()))
        elif key == 'body_model':
            cfg = dataclasses.replace(cfg, hmr=dataclasses.replace(
                cfg.hmr, body_model=BodyModelConfig(type=value[0], path=value[1])))
        elif key == 'slam.scale.eye_height_prior':
            scale = dataclasses.replace(cfg.slam.scale, sources=cfg.slam.scale.sources + ',camera_height_prior',
                                        **value)
            cfg = dataclasses.replace(cfg, slam=dataclasses.replace(cfg.slam, scale=scale))
        elif key == 'slam.scale.camera_height_m':
            scale = dataclasses.replace(cfg.slam.scale, sources=cfg.slam.scale.sources + ',camera_height',
                                        camera_height_m=float(value))
            cfg = dataclasses.replace(cfg, slam=dataclasses.replace(cfg.slam, scale=scale))
        else:
            raise CliError(f'unknown ablation change {key}')
    return cfg


def _eval_sequences(args) -> list:
    """The sequences of ``onlinehmr eval``: folders, a named set (cached), or --generate N."""
    from onlinehmr_ros.eval.synthetic.sequence import SyntheticSequence
    from onlinehmr_ros.eval.sets import SetError, load_set
    if args.sequences:
        return [SyntheticSequence.load(d) for d in args.sequences]
    if args.set:
        try:
            return load_set(args.set, args.cache, args.count or None,
                            on_render=lambda n: print(f'rendering {n} into {args.cache}/{args.set} (not cached)'))
        except SetError as exc:
            raise CliError(str(exc)) from exc
    root = pathlib.Path(args.cache)
    dirs = sorted(p for p in root.glob('seq_*') if (p / 'meta.json').is_file())[:args.generate]
    if len(dirs) < args.generate:
        from onlinehmr_ros.eval.synthetic.__main__ import main as generate
        print(f'generating {args.generate} synthetic sequences of {args.frames} frames into {root}')
        generate(['--out', str(root), '--count', str(args.generate), '--frames', str(args.frames),
                  '--seed', str(args.seed)])
        dirs = sorted(p for p in root.glob('seq_*') if (p / 'meta.json').is_file())[:args.generate]
    return [SyntheticSequence.load(d) for d in dirs]


def _source_commit(directory: pathlib.Path | None = None) -> str | None:
    """Short commit of the package's source tree, '+dirty' when tracked files differ from it; None outside git.

    Read when ``onlinehmr eval`` starts: the code a run uses is the code imported then (a commit made while a
    long run goes on must not be recorded as the one that ran)."""
    import subprocess
    here = pathlib.Path(__file__).parent if directory is None else pathlib.Path(directory)
    try:
        head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=here)
        if head.returncode != 0 or not head.stdout.strip():
            return None
        dirty = subprocess.run(['git', 'diff', '--quiet', 'HEAD', '--', '.'], capture_output=True, cwd=here)
    except OSError:
        return None
    return head.stdout.strip() + ('+dirty' if dirty.returncode == 1 else '')


def cmd_eval(args) -> int:
    from tqdm import tqdm

    from onlinehmr_ros.core.hmr.camera_hmr import HMRConfig
    from onlinehmr_ros.core.pipeline import Pipeline, PipelineConfig
    from onlinehmr_ros.eval.evaluation import evaluate_record
    from onlinehmr_ros.eval.report import format_report, write_json
    from onlinehmr_ros.eval.runs import RunRecord, RunRecordError, run_pipeline

    commit = _source_commit()
    if args.set and args.cache == EVAL_DEFAULT_CACHE:
        args.cache = SET_DEFAULT_CACHE
    seqs = _eval_sequences(args)
    if not seqs:
        raise CliError('no sequences: give sequence folders, --set tune|report or --generate N')
    ablations = list(ABLATIONS) if 'all' in args.ablation else args.ablation
    base = PipelineConfig(hmr=HMRConfig(max_people=args.max_people))
    results = []
    for seq in seqs:
        for label, changes in _variants(ablations, args.smpl_path):
            if 'slam.scale.eye_height_prior' in changes and seq.camera_kind != 'handheld':
                continue
            if changes.get('slam.scale.camera_height_m') == 'robot':
                if seq.camera_kind != 'robot':
                    continue
                changes = {**changes, 'slam.scale.camera_height_m': float(np.median(seq.T_world_cam[:, 2, 3]))}
            stem = f'{seq.name}' + (f'__{label.replace("=", "-")}' if label else '')
            if args.from_runs:
                path = pathlib.Path(args.from_runs) / f'{stem}.npz'
                if not path.is_file():
                    raise CliError(f'{path} not found (write run records with --save-runs)')
                try:
                    record = RunRecord.load(path)
                except RunRecordError as exc:
                    raise CliError(str(exc)) from exc
            else:
                pipeline = Pipeline(_pipeline_config(base, changes))
                with tqdm(total=seq.num_frames, unit='frame', desc=f'{seq.name} {label or "default config"}') as bar:
                    record = run_pipeline(seq, pipeline, progress=bar.update)
                pipeline.close()
                if args.save_runs:
                    record.save(pathlib.Path(args.save_runs) / f'{stem}.npz')
            result = evaluate_record(seq, record)
            result['variant'] = label
            results.append(result)
            for note in result['notes']:
                print(f'  note [{seq.name} {label or "default config"}]: {note}')
    print(format_report(results))
    if args.json:
        settings = {'set': args.set or None, 'count': args.count or None, 'cache': args.cache,
                    'max_people': args.max_people, 'ablations': ablations, 'from_runs': args.from_runs or None,
                    'commit': commit, 'command': 'onlinehmr ' + ' '.join(sys.argv[1:])}
        print(f'wrote {write_json(args.json, results, settings)}')
    return 0


# ----------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog='onlinehmr', description='OnlineHMR for ROS 2: offline tools.')
    sub = ap.add_subparsers(dest='command', required=True)

    run = sub.add_parser('run', help='run the core pipeline on a video, image folder or bag')
    run.add_argument('input', help='video file, image folder or rosbag2')
    run.add_argument('--out', required=True, help='output folder')
    run.add_argument('--max-frames', type=int, default=0)
    run.add_argument('--fps', type=float, default=30.0, help='frame rate of an image folder')
    run.add_argument('--no-overlay', action='store_true', help='do not write overlay.mp4')
    run.add_argument('--max-people', type=int, default=None,
                     help='most people followed at once, 1-32 (default: HMRConfig.max_people, 6)')
    run.add_argument('--small-people', choices=('auto', 'on', 'off'), default=None,
                     help='zoomed detection tiles for small people: when there is evidence of them (auto), '
                          'always (on) or never (off) (default: HMRConfig.small_people, auto)')
    _intrinsics_args(run)
    _body_model_args(run)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser('demo', help='the ROS node graph on a sample video, recorded, rendered and timed')
    demo.add_argument('--out', default='out/demo')
    demo.add_argument('--input', default='', help=f'video (default: {MEGAMIND})')
    demo.add_argument('--max-frames', type=int, default=0)
    demo.add_argument('--params-file', default='', help='ROS parameter file (default: the installed one)')
    demo.set_defaults(func=cmd_demo)

    rb = sub.add_parser('render-bag', help='overlay video and scene pictures from a recorded bag')
    rb.add_argument('bag')
    rb.add_argument('--out', required=True)
    rb.add_argument('--fps', type=float, default=24.0)
    rb.add_argument('--body-model-path', default=None,
                    help='folder of your SMPL / SMPL-X model files (its neutral model; give the file itself for '
                         'another gender), for a bag whose people are recorded without vertices by such a model '
                         '(meshes as parameters); the open model ships with the package')
    rb.set_defaults(func=cmd_render_bag)

    ev = sub.add_parser('eval', help='metrics on synthetic sequences with exact ground truth (+ ablations); '
                        'see docs/EVALUATION.md')
    ev.add_argument('sequences', nargs='*', help='sequence folders (written by python -m onlinehmr_ros.eval.synthetic)')
    ev.add_argument('--set', choices=('tune', 'report'), default=None,
                    help='named sequence set: tune (seeds 0-599, for tuning and tests) or report (seeds 7000-7599, '
                    'report only, never tune on it); rendered once into --cache/<set>')
    ev.add_argument('--count', type=int, default=0, help='with --set: only the first N sequences of the set')
    ev.add_argument('--generate', type=int, default=4, help='without folders or --set: use/generate this many '
                    'sequences in --cache')
    ev.add_argument('--frames', type=int, default=150, help='frames per generated sequence (--generate)')
    ev.add_argument('--seed', type=int, default=0, help='first seed of --generate')
    ev.add_argument('--cache', default=EVAL_DEFAULT_CACHE,
                    help=f'where sequences are kept (--generate: {EVAL_DEFAULT_CACHE}; --set: {SET_DEFAULT_CACHE}; '
                    'the team shares /work/cache/sequences)')
    ev.add_argument('--ablation', nargs='*', default=[], choices=ABLATIONS + ('all',),
                    help='extra rows: mask (none/hard vs soft), ema (off), temporal (fitting without L_v/L_a), '
                    'body_model (smpl, needs --smpl-path), robot_height (robot sequences only: the scale also from the '
                    'known camera mounting height, as a robot would configure it), eye_height (hand-held sequences only: '
                    'the scale also from a camera held at about eye height, 1.5 m +- 8 %%, with people as rulers of '
                    'the generator\'s stature spread, people_rel_sigma 0.16)')
    ev.add_argument('--smpl-path', default=None, help='folder with SMPL_NEUTRAL.pkl for the body-model ablation')
    ev.add_argument('--max-people', type=int, default=4, help='HMRConfig.max_people of the evaluated pipeline')
    ev.add_argument('--json', default='', help='also write settings, per-sequence results and means as JSON')
    ev.add_argument('--save-runs', default='', help='write each run record (<sequence>[__variant].npz) here')
    ev.add_argument('--from-runs', default='', help='evaluate run records written by --save-runs instead of '
                    'running the pipeline')
    ev.set_defaults(func=cmd_eval)

    sub.add_parser('train', help='train the learned causal HMR (see `onlinehmr train --help`)', add_help=False)
    return ap


def main(argv: list[str] | None = None) -> int:
    from onlinehmr_ros.core.common.errors import is_project_error
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ['train']:   # its own argument parser: `onlinehmr train --help`
        from onlinehmr_ros.training.train import main as train_main
        return int(train_main(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as exc:     # the package's own errors in one line; a bug keeps its traceback
        if not is_project_error(exc):
            raise
        print(f'onlinehmr {args.command}: error: {exc}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
