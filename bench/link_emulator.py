"""A userspace stand-in for ``tc netem``: a transparent Ethernet bridge that delays and drops frames.

Used by the split-graph harness (``bench/split_graph.py``) where the kernel has no ``sch_netem``
(``tc qdisc add ... netem`` answers "Specified qdisc kind is unknown", as on the project's
machines). Run inside a network namespace that holds one end of two veth pairs; every frame
arriving on one interface leaves on the other after ``delay_ms``, unless dropped with probability
``loss`` (independently per frame and direction, like netem's ``loss random``). The interfaces
carry no address: the two outer namespaces see one Ethernet segment, as over a veth pair.

    python -m bench.link_emulator IF_A IF_B        # then write "DELAY_MS LOSS" lines on stdin
    python -m bench.link_emulator --tx-checksum-off IF...   # in each outer namespace, first

The outer veth ends must compute their checksums in software (``--tx-checksum-off``, what
``ethtool -K IF tx off`` does; ethtool is not installed here): a veth leaves UDP checksums to
"hardware", so a frame captured on its peer and sent on by this bridge would arrive with a
wrong checksum and be dropped.

Each stdin line changes the impairment at once (e.g. ``20 0.01``) and is acknowledged with
``ok DELAY_MS LOSS``; on EOF the bridge prints its counters as JSON and exits. Forwarding costs
this Python process a few microseconds per frame, a delay and a ceiling (some thousand frames a
second) of its own: compare rows measured through the same bridge.
"""
from __future__ import annotations

import heapq
import json
import random
import select
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4          # frames this host sends (AF_PACKET sees them too): never forwarded back
SO_RCVBUFFORCE, SO_SNDBUFFORCE = 33, 32


SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17


def tx_checksum_off(ifname: str) -> None:
    """``ethtool -K IFNAME tx off`` through the SIOCETHTOOL ioctl (struct ethtool_value {cmd, data})."""
    import array
    import fcntl
    import struct
    value = array.array('I', [ETHTOOL_STXCSUM, 0])
    ifreq = struct.pack('16sP', ifname.encode(), value.buffer_info()[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)


def _open(ifname: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    for opt in (SO_RCVBUFFORCE, SO_SNDBUFFORCE):          # root: past net.core.[rw]mem_max
        s.setsockopt(socket.SOL_SOCKET, opt, 16 << 20)
    s.bind((ifname, 0))
    return s


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['--tx-checksum-off']:
        for ifname in argv[1:]:
            tx_checksum_off(ifname)
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = _open(argv[0]), _open(argv[1])
    peer = {a: b, b: a}
    name = {a: argv[0], b: argv[1]}
    delay_s, loss = 0.0, 0.0
    rng = random.Random(0)
    queue: list = []                         # (due time, sequence, out socket, frame)
    seq = 0
    counts = {f'{n}_in': 0 for n in argv} | {f'{n}_dropped': 0 for n in argv} | {'forwarded': 0}
    stdin = sys.stdin.fileno()
    print('ready', flush=True)
    while True:
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else 0.5
        readable, _, _ = select.select([a, b, stdin], [], [], timeout)
        for s in readable:
            if s == stdin:
                line = sys.stdin.readline()
                if not line:
                    print(json.dumps(counts), flush=True)
                    return 0
                d, p = line.split()
                delay_s, loss = float(d) / 1000.0, float(p)
                print(f'ok {d} {p}', flush=True)
                continue
            now = time.monotonic()
            while True:
                try:
                    frame, addr = s.recvfrom(65536, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                counts[f'{name[s]}_in'] += 1
                if loss and rng.random() < loss:
                    counts[f'{name[s]}_dropped'] += 1
                    continue
                heapq.heappush(queue, (now + delay_s, seq, peer[s], frame))
                seq += 1
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(queue)
            out.send(frame)
            counts['forwarded'] += 1


if __name__ == '__main__':
    sys.exit(main())
