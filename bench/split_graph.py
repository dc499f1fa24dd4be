"""The node graph split across two hosts, emulated with two network namespaces: what crosses the link.

The "robot" namespace runs camera_source (and a probe that receives the world meshes); the
"workstation" namespace runs the pipeline (mask, hmr, slam, fusion) or an image probe. The two
are joined by a veth pair with addresses only inside that pair (10.77.0.1/24, 10.77.0.2/24), so
DDS discovers across it with ``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET`` exactly as between two
hosts on one LAN. Two settings make the emulation faithful:

* ``FASTDDS_BUILTIN_TRANSPORTS=UDPv4``: network namespaces share /dev/shm and the host id, so
  Fast DDS would otherwise move data through shared memory and nothing would cross the link;
  between two real hosts Fast DDS uses UDP anyway.
* a multicast route (224.0.0.0/4) on each side's veth: the namespaces have no default route,
  which on a real host is what carries the SPDP discovery multicast.

Link impairments (delay, loss) come from ``tc qdisc ... netem`` where the kernel has it; where it
has not (this project's machines: "Specified qdisc kind is unknown"), the veth pair is split in
the middle by a third namespace running ``bench/link_emulator.py``, a transparent Ethernet
bridge that delays and drops frames like netem (so every row of one run goes through the same
bridge). Measured: bytes per second on the robot's veth in each direction (from the kernel's
interface counters), images delivered and their one-way latency (receive time minus the stamp
camera_source gave the image; both namespaces share the host clock), and with the pipeline,
world meshes back on the robot and their end-to-end latency.

    sudo .venv/bin/python -m bench.split_graph [--phase-s 8] [--rate-hz 5] [--no-pipeline-impairments]

Needs root (``ip netns add``). Cleans up its namespaces (and so its veth pairs) on exit,
failure or Ctrl-C. ``test/test_split_graph_netns.py`` runs a shorter version and checks it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
MEGAMIND = pathlib.Path('/usr/share/doc/opencv-doc/examples/data/Megamind.avi')
ROBOT_ADDR, WORKSTATION_ADDR = '10.77.0.1/24', '10.77.0.2/24'
#: a ROS domain of its own (the test suite's conftest picks 1..100); DDS ports stay valid up to 101
DOMAIN_ID = '101'
IMPAIRMENTS = ((0.0, 0.0), (20.0, 0.0), (20.0, 0.01))     # (one-way delay ms, loss) per direction
#: Fast DDS profile with 4 MB UDP socket buffers (see the file), for raw images over a link
LARGE_BUFFERS_PROFILE = ROOT / 'config' / 'fastdds_large_udp_buffers.xml'
_PREFIX = 'ohmrsplit'


class SplitGraphError(RuntimeError):
    """The emulated link or a process on it did not come up."""


def netns_unavailable() -> str | None:
    """Why two network namespaces cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return 'needs root: network namespaces are made with `ip netns add`'
    if shutil.which('ip') is None:
        return "no 'ip' command: install Debian iproute2 (make setup does when it is missing)"
    name = f'{_PREFIX}{os.getpid()}probe'
    r = subprocess.run(['ip', 'netns', 'add', name], capture_output=True, text=True)
    if r.returncode:
        return f'`ip netns add` is not permitted here: {r.stderr.strip()}'
    subprocess.run(['ip', 'netns', 'del', name], capture_output=True)
    return None


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check and r.returncode:
        raise SplitGraphError(f'{" ".join(args)}: {r.stderr.strip()}')
    return r


def _remove_stale_namespaces() -> None:
    """Namespaces of earlier runs whose process is gone (a run killed before its clean-up)."""
    listing = _run('ip', 'netns', 'list', check=False).stdout.split()
    for name in {n for n in listing if n.startswith(_PREFIX)}:
        pid = ''.join(ch for ch in name[len(_PREFIX):] if ch.isdigit())
        if pid and not pathlib.Path(f'/proc/{pid}').exists():
            for leftover in _run('ip', 'netns', 'pids', name, check=False).stdout.split():
                try:                                     # a process that run started in the namespace
                    os.kill(int(leftover), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            _run('ip', 'netns', 'del', name, check=False)


class _Proc:
    """A process in a namespace whose stdout lines are collected with their arrival time."""

    def __init__(self, ns: str, args: list[str], env: dict, name: str):
        self.name = name
        self.lines: list[str] = []
        self.popen = subprocess.Popen(['ip', 'netns', 'exec', ns, *args], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True, env=env,
                                      cwd=ROOT, start_new_session=True)
        self._stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.popen.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.popen.stderr, self._stderr), daemon=True).start()

    @staticmethod
    def _read(stream, into: list) -> None:
        for line in stream:
            into.append(line.rstrip('\n'))

    def wait_for(self, predicate, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(predicate(line) for line in list(self.lines)):
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        tail = '\n'.join(self._stderr[-15:])
        raise SplitGraphError(f'{self.name}: {what} did not happen within {timeout_s:.0f} s '
                              f'(exit code {self.popen.poll()}); stderr tail:\n{tail}')

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGINT)
                self.popen.wait(timeout=timeout_s)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout=5)


class SplitLink:
    """Robot and workstation namespaces joined by a veth pair (with netem or the bridge), as a context.

    Attributes:
        emulation: 'netem' or 'userspace bridge' (how delay and loss are applied).
    """

    def __init__(self, force_bridge: bool = False):
        tag = f'{_PREFIX}{os.getpid()}'
        self.robot, self.workstation, self.middle = f'{tag}r', f'{tag}w', f'{tag}m'
        self.force_bridge = force_bridge
        self.emulation = ''
        self.procs: list[_Proc] = []
        self._bridge: _Proc | None = None
        self.env = {k: v for k, v in os.environ.items() if k not in ('ROS_LOCALHOST_ONLY', 'ROS_STATIC_PEERS')}
        self.env.update(ROS_DOMAIN_ID=DOMAIN_ID, ROS_AUTOMATIC_DISCOVERY_RANGE='SUBNET',
                        FASTDDS_BUILTIN_TRANSPORTS='UDPv4', OPENBLAS_NUM_THREADS='1', PYTHONUNBUFFERED='1',
                        AMENT_PREFIX_PATH=self.env.get('AMENT_PREFIX_PATH', sys.prefix),
                        PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [self.env.get('PYTHONPATH')] if p]))

    # --- set-up and clean-up -------------------------------------------------------
    def __enter__(self) -> 'SplitLink':
        reason = netns_unavailable()
        if reason:
            raise SplitGraphError(reason)
        _remove_stale_namespaces()
        try:
            self._build()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _ns(self, ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run('ip', 'netns', 'exec', ns, *args, check=check)

    def _build(self) -> None:
        for ns in (self.robot, self.workstation):
            _run('ip', 'netns', 'add', ns)
        netem = False
        if not self.force_bridge:
            _run('ip', 'link', 'add', 'robot0', 'netns', self.robot, 'type', 'veth', 'peer', 'name', 'ws0',
                 'netns', self.workstation)
            netem = self._ns(self.robot, 'tc', 'qdisc', 'add', 'dev', 'robot0', 'root', 'netem', 'delay', '0ms',
                             check=False).returncode == 0
            if netem:
                self._ns(self.workstation, 'tc', 'qdisc', 'add', 'dev', 'ws0', 'root', 'netem', 'delay', '0ms')
            else:
                _run('ip', '-n', self.robot, 'link', 'del', 'robot0')
        if not netem:                      # robot0 <-> mr0 [bridge] mw0 <-> ws0
            _run('ip', 'netns', 'add', self.middle)
            _run('ip', 'link', 'add', 'robot0', 'netns', self.robot, 'type', 'veth', 'peer', 'name', 'mr0',
                 'netns', self.middle)
            _run('ip', 'link', 'add', 'ws0', 'netns', self.workstation, 'type', 'veth', 'peer', 'name', 'mw0',
                 'netns', self.middle)
            self._ns(self.middle, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6')
            for dev in ('mr0', 'mw0'):
                _run('ip', '-n', self.middle, 'link', 'set', dev, 'promisc', 'on', 'up')
        self.emulation = 'netem' if netem else 'userspace bridge (no sch_netem in this kernel)'
        for ns, dev, addr in ((self.robot, 'robot0', ROBOT_ADDR), (self.workstation, 'ws0', WORKSTATION_ADDR)):
            self._ns(ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6')   # IPv4 only
            _run('ip', '-n', ns, 'link', 'set', 'lo', 'up')
            _run('ip', '-n', ns, 'addr', 'add', addr, 'dev', dev)
            _run('ip', '-n', ns, 'link', 'set', dev, 'up')
            _run('ip', '-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', dev)
        if not netem:
            for ns, dev in ((self.robot, 'robot0'), (self.workstation, 'ws0')):
                self._ns(ns, sys.executable, str(ROOT / 'bench' / 'link_emulator.py'), '--tx-checksum-off', dev)
            self._bridge = _Proc(self.middle, [sys.executable, '-m', 'bench.link_emulator', 'mr0', 'mw0'],
                                 self.env, 'link emulator')
            self._bridge.wait_for(lambda line: line == 'ready', 30, 'start-up')

    def __exit__(self, *exc) -> None:
        for p in reversed(self.procs):
            p.stop()
        if self._bridge is not None:
            try:
                self._bridge.popen.stdin.close()
                self._bridge.popen.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._bridge.stop()
        for ns in (self.robot, self.workstation, self.middle):
            _run('ip', 'netns', 'del', ns, check=False)      # takes its veth ends (and so the pairs) along

    # --- use -------------------------------------------------------------------------
    def start(self, side: str, args: list[str], name: str, env: dict | None = None) -> _Proc:
        ns = {'robot': self.robot, 'workstation': self.workstation}[side]
        p = _Proc(ns, args, {**self.env, **(env or {})}, name)
        self.procs.append(p)
        return p

    def impair(self, delay_ms: float, loss: float) -> None:
        """Delay and loss per direction, applied to both directions."""
        if self._bridge is None:
            for ns, dev in ((self.robot, 'robot0'), (self.workstation, 'ws0')):
                self._ns(ns, 'tc', 'qdisc', 'change', 'dev', dev, 'root', 'netem', 'delay', f'{delay_ms}ms',
                         'loss', f'{100 * loss}%')
            return
        def acks() -> int:
            return sum(line.startswith('ok ') for line in list(self._bridge.lines))
        before = acks()
        self._bridge.popen.stdin.write(f'{delay_ms} {loss}\n')
        self._bridge.popen.stdin.flush()
        self._bridge.wait_for(lambda _: acks() > before, 10, 'acknowledging the impairment')

    def rcvbuf_errors(self, side: str) -> int:
        """UDP datagrams dropped for a full socket receive buffer so far in one namespace."""
        ns = {'robot': self.robot, 'workstation': self.workstation}[side]
        rows = [line.split() for line in self._ns(ns, 'cat', '/proc/net/snmp').stdout.splitlines()
                if line.startswith('Udp:')]
        return int(rows[1][rows[0].index('RcvbufErrors')])

    def robot_bytes(self) -> tuple[int, int]:
        """(sent, received) bytes of the robot's veth so far."""
        out = self._ns(self.robot, 'cat', '/sys/class/net/robot0/statistics/tx_bytes',
                       '/sys/class/net/robot0/statistics/rx_bytes').stdout.split()
        return int(out[0]), int(out[1])


# ----------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------
@dataclasses.dataclass
class Row:
    """One measured phase."""

    what: str                     # 'images' or 'pipeline (<what comes back> back)'
    transport: str                # raw | compressed
    delay_ms: float
    loss: float
    seconds: float
    robot_to_ws_Bps: float        # bytes/s leaving the robot (images, camera_info, discovery)
    ws_to_robot_Bps: float        # bytes/s arriving at the robot (meshes, acknowledgements, discovery)
    sent: int                     # images published in the window
    delivered: int                # images received (images) / outputs back on the robot (pipeline)
    latency_p50_ms: float         # image one-way (images) / image stamp -> mesh on the robot (pipeline)
    latency_p95_ms: float
    ws_rcvbuf_drops: int = 0      # UDP datagrams the workstation's sockets had no room for (RcvbufErrors)
    robot_rcvbuf_drops: int = 0

    @property
    def bytes_per_image(self) -> float:
        return self.robot_to_ws_Bps * self.seconds / max(self.sent, 1)


def _events(proc: _Proc, tag: str) -> list[list[int]]:
    return [[int(v) for v in line.split()[1:4]] for line in list(proc.lines) if line.startswith(tag + ' ')]


def _measure(link: SplitLink, counter: _Proc, receiver: _Proc, recv_tag: str, what: str, transport: str,
             delay_ms: float, loss: float, seconds: float) -> Row:
    link.impair(delay_ms, loss)
    time.sleep(1.0)                                # old samples drain, queues settle
    t0, (tx0, rx0) = time.time_ns(), link.robot_bytes()
    drops0 = link.rcvbuf_errors('workstation'), link.rcvbuf_errors('robot')
    time.sleep(seconds)
    t1, (tx1, rx1) = time.time_ns(), link.robot_bytes()
    drops1 = link.rcvbuf_errors('workstation'), link.rcvbuf_errors('robot')
    time.sleep(max(1.0, 3 * delay_ms / 1000.0) + (2.0 if what == 'pipeline' else 0.5))   # late arrivals
    sent = {s for (s,) in (e[:1] for e in _events(counter, 'c')) if t0 <= s < t1}
    got = {}
    for recv, stamp, *_ in _events(receiver, recv_tag):
        if stamp in sent and stamp not in got:
            got[stamp] = (recv - stamp) / 1e6
    lat = np.array(list(got.values())) if got else np.full(1, np.nan)
    dt = (t1 - t0) / 1e9
    return Row(what, transport, delay_ms, loss, dt, (tx1 - tx0) / dt, (rx1 - rx0) / dt, len(sent), len(got),
               float(np.percentile(lat, 50)), float(np.percentile(lat, 95)), drops1[0] - drops0[0],
               drops1[1] - drops0[1])


def _dds_env(large_buffers: bool) -> dict:
    return {'FASTDDS_DEFAULT_PROFILES_FILE': str(LARGE_BUFFERS_PROFILE)} if large_buffers else {}


def _camera_source(link: SplitLink, video: pathlib.Path, transport: str, rate_hz: float,
                   large_buffers: bool) -> _Proc:
    return link.start('robot', [sys.executable, '-m', 'onlinehmr_ros.nodes.camera_source', '--ros-args',
                                '-p', f'input:={video}', '-p', 'rate_mode:=fixed', '-p', f'rate_hz:={rate_hz}',
                                '-p', 'loop:=true', '-p', f'transport:={transport}'], f'camera_source ({transport})',
                      _dds_env(large_buffers))


def measure_images(link: SplitLink, transport: str, video: pathlib.Path, rate_hz: float, seconds: float,
                   impairments=IMPAIRMENTS, large_buffers: bool = False) -> list[Row]:
    """camera_source on the robot, an image probe on the workstation: one row per impairment.

    ``large_buffers``: both sides use :data:`LARGE_BUFFERS_PROFILE` (4 MB socket buffers).
    """
    link.impair(0.0, 0.0)
    probe = link.start('workstation', [sys.executable, '-m', 'bench.split_graph_probes', 'images'], 'image probe',
                       _dds_env(large_buffers))
    probe.wait_for(lambda line: line == 'ready', 60, 'start-up')
    cam = _camera_source(link, video, transport, rate_hz, large_buffers)
    probe.wait_for(lambda line: line.startswith('i '), 60, f'the first {transport} image across the link')
    label = transport + (' + 4 MB buffers' if large_buffers else '')
    rows = [_measure(link, probe, probe, 'i', 'images', label, d, p, seconds) for d, p in impairments]
    for p in (cam, probe):
        p.stop()
    return rows


def measure_pipeline(link: SplitLink, transport: str, video: pathlib.Path, rate_hz: float, seconds: float,
                     impairments=IMPAIRMENTS[:1], large_buffers: bool = False, back: str = 'world_mesh',
                     startup_timeout_s: float = 240.0) -> list[Row]:
    """camera_source and a probe on the robot, the pipeline on the workstation.

    ``back``: what the robot subscribes to: ``world_mesh`` (the RViz meshes, /human/world_mesh) or
    ``world_humans`` (/human/world_humans without vertices, and the REP-155 ids of the hri node).
    """
    link.impair(0.0, 0.0)
    env = _dds_env(large_buffers)
    extra = ['--hri'] if back == 'world_humans' else []
    params = ['-p', 'fusion:world_humans.vertices:=false'] if back == 'world_humans' else []
    link.start('workstation', [sys.executable, '-m', 'onlinehmr_ros.nodes.compose', '--no-camera-source', *extra,
                               '--ros-args', '-p', f'image_transport:={transport}', *params],
               f'pipeline ({transport})', env)
    probe_kind = {'world_mesh': 'meshes', 'world_humans': 'humans'}[back]
    meshes = link.start('robot', [sys.executable, '-m', 'bench.split_graph_probes', probe_kind], f'{back} probe', env)
    meshes.wait_for(lambda line: line == 'ready', startup_timeout_s, f'discovery of /human/{back}')
    cam = _camera_source(link, video, transport, rate_hz, large_buffers)
    meshes.wait_for(lambda line: line.startswith('m '), 120, f'the first /human/{back} back on the robot')
    # the probe also counts the published images (camera_info, on the robot's side of the link)
    label = transport + (' + 4 MB buffers' if large_buffers else '')
    rows = [_measure(link, meshes, meshes, 'm', f'pipeline ({back} back)', label, d, p, seconds)
            for d, p in impairments]
    cam.stop()
    for p in reversed(link.procs):
        p.stop()
    link.procs.clear()
    return rows


def format_table(rows: list[Row], emulation: str) -> str:
    head = ('| what | transport | delay ms | loss | robot->ws kB/s | ws->robot kB/s | kB per image | '
            'delivered | latency p50 / p95 ms | socket-buffer drops ws / robot |')
    lines = [f'link: veth pair, {emulation}', head, '|' + '---|' * 10]
    for r in rows:
        lat = 'n/a' if np.isnan(r.latency_p50_ms) else f'{r.latency_p50_ms:.0f} / {r.latency_p95_ms:.0f}'
        what = 'images (probe)' if r.what == 'images' else r.what
        lines.append(f'| {what} | {r.transport} | {r.delay_ms:.0f} | {100 * r.loss:.0f} % | '
                     f'{r.robot_to_ws_Bps / 1e3:.0f} | {r.ws_to_robot_Bps / 1e3:.0f} | {r.bytes_per_image / 1e3:.1f} | '
                     f'{r.delivered}/{r.sent} | {lat} | {r.ws_rcvbuf_drops} / {r.robot_rcvbuf_drops} |')
    return '\n'.join(lines)


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return ' '.join(pathlib.Path('/proc/loadavg').read_text().split()[:3])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--video', default=str(MEGAMIND))
    ap.add_argument('--rate-hz', type=float, default=5.0, help='camera_source rate (fixed)')
    ap.add_argument('--phase-s', type=float, default=8.0, help='seconds measured per row')
    ap.add_argument('--bridge', action='store_true', help='use the userspace bridge even where netem exists')
    ap.add_argument('--no-pipeline-impairments', action='store_true', help='pipeline on the clean link only')
    ap.add_argument('--json', help='also write the rows here')
    args = ap.parse_args(argv)
    reason = netns_unavailable()
    if reason:
        print(f'split_graph: {reason}', file=sys.stderr)
        return 1
    video = pathlib.Path(args.video)
    rows = []
    print(f'load average before: {load()}', flush=True)
    with SplitLink(force_bridge=args.bridge) as link:
        for transport, large in (('raw', False), ('raw', True), ('compressed', False)):
            rows += measure_images(link, transport, video, args.rate_hz, args.phase_s, large_buffers=large)
        imp = IMPAIRMENTS[:1] if args.no_pipeline_impairments else IMPAIRMENTS
        for transport, large, back in (('raw', True, 'world_mesh'), ('compressed', False, 'world_mesh'),
                                       ('compressed', True, 'world_mesh'), ('compressed', False, 'world_humans')):
            rows += measure_pipeline(link, transport, video, args.rate_hz, args.phase_s, imp, large_buffers=large,
                                     back=back)
        table = format_table(rows, link.emulation)
    print(table)
    print(f'load average after: {load()}  ({os.cpu_count()} CPUs)')
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
