"""hri_msgs (ros4hri, REP-155) as the set-up builds it: the upstream definitions, the upstream hashes.

The type hash (RIHS01, ROS 2 Iron and later) identifies a message definition in the ROS graph
(endpoint information, bags): equal hashes mean ours and a distro's hri_msgs are the same types,
so /humans/... topics interoperate with ros4hri nodes. Three checks:
1. the .msg files are byte-for-byte the upstream ones: their git blob ids equal those of
   ros4hri/hri_msgs tag 2.0.0 (commit 4e7c1765, branch humble-devel; `git ls-tree 2.0.0 msg/`);
2. the hashes rosidl computed when building them equal those that rosbags (an independent,
   pure-Python RIHS01 implementation) computes from the same upstream text;
3. both equal the values recorded here (computed from the upstream files of that commit with
   rosidl of the ROS 2 Kilted PyPI wheels and with rosbags 0.11.9).
No published hri_msgs hash could be found to compare with (none was in the sources searched),
and which hri_msgs release a given distro ships could not be checked here: a release with other
definitions of these four messages would hash differently.
"""
import hashlib
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MSG_DIR = ROOT / 'third_party' / 'hri_msgs' / 'msg'

#: git blob ids of the upstream files at ros4hri/hri_msgs 2.0.0 (4e7c1765216e7a60638a1f90fc85392688785e9a)
UPSTREAM_BLOBS = {
    'IdsList': 'cb80145624c949c1f1ffb52fa07b5aff12167674',
    'NormalizedPointOfInterest2D': '99911f946759ab9601e20b9e6deac58a162f45d9',
    'NormalizedRegionOfInterest2D': '5ba2cce36bf7eb816402b9c0d56cca1284d61422',
    'Skeleton2D': '9fa05ae0f937e1f7793bfe102df0d8e724a06b84',
}
#: RIHS01 of those definitions (rosidl and rosbags agree on them)
EXPECTED_RIHS01 = {
    'IdsList': 'RIHS01_7e0812d1ac945c98fd3e393568d581ad0ab567f37b24eff633eab778c1bfe62d',
    'NormalizedPointOfInterest2D': 'RIHS01_cc1d2f720c82afeb850ff1dbf66f41ecb7caf19f842987f1247e66160cf03953',
    'NormalizedRegionOfInterest2D': 'RIHS01_2e50c93f1ca166ee77af9a5424dc951ae4e452b740162a7f83c082d917dcaff5',
    'Skeleton2D': 'RIHS01_1cb61f012db6ca43c48fa0097ccab9a00108ea39323c13f01bb983323c1e3420',
}


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b'blob %d\0' % len(data) + data).hexdigest()


def test_definitions_are_the_upstream_files():
    for name, blob in UPSTREAM_BLOBS.items():
        assert _git_blob_id((MSG_DIR / f'{name}.msg').read_bytes()) == blob, \
            f'third_party/hri_msgs/msg/{name}.msg differs from ros4hri/hri_msgs 2.0.0'


def test_rosbags_hashes_the_upstream_text_like_recorded():
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    store = get_typestore(Stores.ROS2_KILTED)     # std_msgs/Header, builtin_interfaces/Time
    types = {}
    for name in UPSTREAM_BLOBS:
        types.update(get_types_from_msg((MSG_DIR / f'{name}.msg').read_text(), f'hri_msgs/msg/{name}'))
    store.register(types)
    assert {n: store.hash_rihs01(f'hri_msgs/msg/{n}') for n in UPSTREAM_BLOBS} == EXPECTED_RIHS01


def test_built_hri_msgs_have_the_upstream_hashes():
    pytest.importorskip('rclpy')
    from ament_index_python.packages import get_package_share_directory
    share = pathlib.Path(get_package_share_directory('hri_msgs'))
    for name, expected in EXPECTED_RIHS01.items():
        built = json.loads((share / 'msg' / f'{name}.json').read_text())
        ours = {h['type_name']: h['hash_string'] for h in built['type_hashes']}[f'hri_msgs/msg/{name}']
        assert ours == expected, f'hri_msgs/msg/{name}: built {ours}, upstream {expected}'


def test_skeleton2d_layout_is_openpose_coco18():
    """The constants the hri node indexes by: 18 points, OpenPose COCO order."""
    pytest.importorskip('rclpy')
    from hri_msgs.msg import Skeleton2D

    from onlinehmr_ros.core.fusion.hri import SKELETON2D_NAMES
    msg = Skeleton2D()
    assert len(msg.skeleton) == 18 == len(SKELETON2D_NAMES)
    for i, name in enumerate(SKELETON2D_NAMES):
        assert getattr(Skeleton2D, name.upper()) == i
