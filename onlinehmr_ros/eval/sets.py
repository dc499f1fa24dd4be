"""Named synthetic sequence sets (``tune`` and ``report``) and their on-disk cache.

Tuning and reporting are kept apart by seed (docs/EVALUATION.md):

* ``tune``: seeds 0-599 (``TUNE_BASE_SEED``), for tuning and tests;
* ``report``: seeds 7000-7599 (``REPORT_BASE_SEED``), only to report figures; never tune on them.

Both sets hold the same twelve scenarios (:data:`SCENARIOS`): hand-held, robot
and static cameras; four one-person sequences and eight with 2-4 people, all
of which cross (the generator makes the first two, and with four people the
other two, cross at different depths), with a pillar that fully hides one
person for >= 1.2 s and/or one person leaving the view and coming back;
240-300 frames at 30 fps, 640x480, people 3-5 m in front of the start camera.

Scenario k of a set uses the first seed in ``base + 50 k ... base + 50 k + 49``
for which the requested events happen (the generator checks this before
rendering and raises :class:`EventNotAchievedError` otherwise), so the seeds are
fixed by the generator version and recorded in every sequence's meta.json.

Cache: ``<cache>/<set>/<scenario name>/`` (the sequence format of
:class:`~onlinehmr_ros.eval.synthetic.SyntheticSequence`). A cached sequence is
used only when its recorded generator version (``GENERATOR_VERSION``) and
scenario equal the current ones; otherwise it is rendered again (into a
temporary folder renamed into place, so concurrent users never see half a
sequence).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from onlinehmr_ros.eval.synthetic.generator import (GENERATOR_VERSION, EventNotAchievedError, SequenceConfig,
                                                    generate_sequence)
from onlinehmr_ros.eval.synthetic.sequence import META_NAME, SequenceError, SyntheticSequence

TUNE_BASE_SEED = 0
REPORT_BASE_SEED = 7000
#: seeds of the report set: figures are reported on them, nothing is tuned or trained on them
REPORT_SEEDS = range(REPORT_BASE_SEED, REPORT_BASE_SEED + 1000)
#: seeds tried per scenario (base + SEED_STRIDE * k ... base + SEED_STRIDE * (k + 1) - 1)
SEED_STRIDE = 50
SET_BASE_SEEDS = {'tune': TUNE_BASE_SEED, 'report': REPORT_BASE_SEED}
#: people in front of the start camera, metres (issue 14: people 3-5 m from the camera)
PEOPLE_DEPTH_M = (3.0, 5.0)
#: frames per scenario cycle over these (240-300 frames)
FRAME_COUNTS = (240, 260, 280, 300)


class SetError(ValueError):
    """Unknown set name or an unusable cache."""


@dataclass(frozen=True)
class Scenario:
    """One sequence of a set: camera kind, people and events."""
    camera_kind: str
    num_people: int
    pillar: bool = False
    exit_reenter: bool = False

    def label(self) -> str:
        events = ''.join(('+pillar' if self.pillar else '', '+exit' if self.exit_reenter else ''))
        return f'{self.camera_kind}_{self.num_people}p{events}'


SCENARIOS: tuple[Scenario, ...] = (
    Scenario('handheld', 1), Scenario('handheld', 1), Scenario('robot', 1), Scenario('static', 1),
    Scenario('handheld', 2, pillar=True), Scenario('robot', 2, exit_reenter=True),
    Scenario('static', 2, pillar=True), Scenario('handheld', 3, pillar=True, exit_reenter=True),
    Scenario('robot', 3, pillar=True), Scenario('static', 3, exit_reenter=True),
    Scenario('handheld', 4, pillar=True, exit_reenter=True), Scenario('robot', 4, pillar=True, exit_reenter=True),
)


@dataclass(frozen=True)
class SetEntry:
    """Scenario ``index`` of a set with its generator configuration and seed range."""
    set_name: str
    index: int
    scenario: Scenario
    config: SequenceConfig
    first_seed: int

    @property
    def name(self) -> str:
        return f'{self.set_name[0]}{self.index:02d}_{self.scenario.label()}'

    def spec(self) -> dict:
        """What identifies the entry in the cache (besides the generator version)."""
        return {'set': self.set_name, 'index': self.index, 'scenario': dataclasses.asdict(self.scenario),
                'first_seed': self.first_seed, 'num_frames': self.config.num_frames,
                'people_depth_m': list(self.config.people_depth_m)}


def set_entries(set_name: str, count: int | None = None) -> list[SetEntry]:
    """The entries of a named set (``'tune'`` or ``'report'``), optionally only the first ``count``."""
    if set_name not in SET_BASE_SEEDS:
        raise SetError(f'unknown sequence set {set_name!r}; use one of {sorted(SET_BASE_SEEDS)}')
    n = len(SCENARIOS) if count is None else count
    if not 1 <= n <= len(SCENARIOS):
        raise SetError(f'a set has 1-{len(SCENARIOS)} sequences, asked for {count}')
    out = []
    for k, sc in enumerate(SCENARIOS[:n]):
        cfg = SequenceConfig(num_frames=FRAME_COUNTS[k % len(FRAME_COUNTS)], num_people=sc.num_people,
                             camera_kind=sc.camera_kind, people_depth_m=PEOPLE_DEPTH_M, pillar=sc.pillar,
                             exit_reenter=sc.exit_reenter)
        out.append(SetEntry(set_name, k, sc, cfg, SET_BASE_SEEDS[set_name] + SEED_STRIDE * k))
    return out


def _cached_ok(directory: Path, entry: SetEntry) -> bool:
    meta_path = directory / META_NAME
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError:
        return False
    cfg = meta.get('config', {})
    return cfg.get('generator_version') == GENERATOR_VERSION and cfg.get('set_spec') == entry.spec()


def render_entry(entry: SetEntry, body_model=None, progress: Callable[[int], None] | None = None
                 ) -> SyntheticSequence:
    """Generate the entry's sequence with the first seed of its range whose events happen.

    Raises:
        SetError: no seed of the range gives the requested events.
    """
    reasons = []
    for seed in range(entry.first_seed, entry.first_seed + SEED_STRIDE):
        try:
            seq = generate_sequence(entry.config, seed, body_model, name=entry.name, progress=progress)
        except EventNotAchievedError as exc:
            reasons.append(str(exc))
            continue
        return dataclasses.replace(seq, config={**seq.config, 'set_spec': entry.spec()})
    raise SetError(f'{entry.name}: no seed in {entry.first_seed}-{entry.first_seed + SEED_STRIDE - 1} gives the '
                   f'requested events (last: {reasons[-1]})')


def load_set(set_name: str, cache_dir: str | os.PathLike, count: int | None = None, body_model=None,
             on_render: Callable[[str], None] | None = None) -> list[SyntheticSequence]:
    """The sequences of a named set from the cache, rendering (and caching) the missing or stale ones.

    Args:
        set_name: ``'tune'`` or ``'report'``.
        cache_dir: cache root (shared by the team: /work/cache/sequences).
        count: only the first ``count`` entries.
        body_model: loaded body model for rendering (loaded on demand when None).
        on_render: called with the entry name before an entry is rendered.
    Returns:
        the loaded sequences (frames decoded from the cached video when iterated).
    """
    from tqdm import tqdm

    root = Path(cache_dir) / set_name
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for entry in set_entries(set_name, count):
        target = root / entry.name
        if not _cached_ok(target, entry):
            if on_render is not None:
                on_render(entry.name)
            with tqdm(total=entry.config.num_frames, unit='frame', desc=f'rendering {entry.name}') as bar:
                seq = render_entry(entry, body_model, progress=bar.update)
            tmp = Path(tempfile.mkdtemp(prefix=f'.{entry.name}.', dir=root))
            seq.save(tmp)
            _replace_dir(tmp, target, entry)
        try:
            out.append(SyntheticSequence.load(target))
        except SequenceError as exc:
            raise SetError(f'cached sequence {target} is unreadable ({exc}); delete it to render it again') from exc
    return out


def _replace_dir(tmp: Path, target: Path, entry: SetEntry) -> None:
    """Move a finished folder into place (a stale one is removed first; a concurrent writer's is kept)."""
    if target.exists() and not _cached_ok(target, entry):
        shutil.rmtree(target, ignore_errors=True)
    try:
        os.rename(tmp, target)
    except OSError:   # someone else put a current one in place meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
