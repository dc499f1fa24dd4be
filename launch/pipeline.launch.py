"""Start the OnlineHMR pipeline: camera_source (optional), mask, hmr, slam, fusion, hri (optional).

    ros2 launch onlinehmr_ros pipeline.launch.py input:=/path/video.mp4
    ros2 launch onlinehmr_ros pipeline.launch.py namespace:=front input:=/dev/video0 ...   # topics in /front/
    ros2 launch onlinehmr_ros pipeline.launch.py use_camera_source:=false \
        image_topic:=/my_camera/color/image_raw camera_info_topic:=/my_camera/color/camera_info
    ros2 launch onlinehmr_ros pipeline.launch.py input:=recording.mcap use_sim_time:=true publish_clock:=true
    ros2 launch onlinehmr_ros pipeline.launch.py use_camera_source:=false world_frame:=map   # on a robot (REP-105)

Every topic name is relative, so `namespace` puts a whole pipeline under one namespace (two
cameras: two launches, two namespaces, one ROS domain); frame names then default to
`<namespace>/world` etc. (see config/pipeline.yaml).

A launch argument that sets a parameter is passed under each node's own fully qualified name,
after `params_file`, so it wins over the file (a Node without a namespace would get it under
`/**`, which loses to the file's node sections); left empty, the file's value holds.

Without a ROS distro, `onlinehmr_pipeline` composes the same nodes in one process with the same
parameter file (test/test_launch.py keeps both in step).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

#: node name -> executable (the same set as onlinehmr_ros.nodes.compose.NODES)
NODES = {'camera_source': 'camera_source', 'mask': 'mask_node', 'hmr': 'hmr_node', 'slam': 'slam_node',
         'fusion': 'fusion_node', 'hri': 'hri_node'}
#: nodes started only when their launch argument is true
OPTIONAL = {'camera_source': 'use_camera_source', 'hri': 'hri'}
#: nodes that read the camera images (camera_source waits for them before its first frame)
IMAGE_READERS = ('mask', 'hmr', 'slam')
#: the pipeline's connections downstream of the images: topic -> (publisher, subscribers); camera_source's
#: first image also waits for these (wait_for_graph), so that no node misses the first images' results
CONNECTIONS = {'human/soft_mask': ('mask', ('slam',)), 'human/camera_humans': ('hmr', ('slam', 'fusion', 'hri')),
               'slam/camera_pose_state': ('slam', ('fusion',)), 'human/world_humans': ('fusion', ('hri',))}

ARGUMENTS = [
    ('namespace', '', 'Namespace of every node and topic (e.g. the camera name; empty: the root namespace)'),
    ('params_file', PathJoinSubstitution([FindPackageShare('onlinehmr_ros'), 'config', 'pipeline.yaml']),
     'ROS parameter file of every node'),
    ('use_camera_source', 'true', 'Start camera_source (false: use your own camera driver)'),
    ('input', '', 'camera_source input: video file, image folder, rosbag2 (.mcap/.db3/folder) or webcam index'),
    ('rate_mode', '', 'camera_source rate: recorded | fixed | lockstep'),
    ('max_frames', '', 'camera_source stops after this many frames'),
    ('publish_clock', '', 'camera_source publishes /clock from the frame stamps (replays): true | false'),
    ('camera_info_yaml', '', 'ROS camera_info YAML with the intrinsics (else hfov_deg from the params file)'),
    ('camera_frame', '', "frame_id of camera_source's images (default: <namespace>/camera_optical_frame)"),
    ('body_model_type', '', 'Body model: open | smpl | smplx'),
    ('body_model_path', '', 'Folder with the SMPL / SMPL-X files (for smpl, smplx)'),
    ('use_sim_time', '', 'Use /clock: true | false'),
    ('world_frame', '', "World frame of poses, meshes and TF (default: <namespace>/world; 'map' on a robot)"),
    ('odom_frame', '', "The robot's odometry frame that the map correction moves (REP-105; default odom)"),
    ('tf_mode', '', 'Camera pose in TF: auto | world_to_camera | world_to_odom | none'),
    ('image_topic', '', 'Image topic the pipeline reads (default: camera/image_raw in the namespace)'),
    ('camera_info_topic', '', 'CameraInfo topic the pipeline reads (default: camera/camera_info)'),
    ('image_reliability', '', 'QoS reliability of the image and CameraInfo subscriptions: reliable (default) | '
     'best_effort (for a camera driver that publishes best-effort)'),
    ('image_transport', '', 'raw | compressed: how camera_source publishes images and mask, hmr, slam read '
     'them (compressed: <image_topic>/compressed, for a camera on another host)'),
    ('hri', 'false', 'Also start hri_node: the people as REP-155 (ros4hri) bodies under /humans/bodies'),
]

#: launch argument -> (parameter, nodes it goes to, type); empty arguments are not passed
PARAMETERS = {
    'input': ('input', ('camera_source',), str),
    'rate_mode': ('rate_mode', ('camera_source',), str),
    'max_frames': ('max_frames', ('camera_source',), int),
    'publish_clock': ('publish_clock', ('camera_source',), bool),
    'camera_info_yaml': ('camera_info_yaml', ('camera_source',), str),
    'camera_frame': ('frame_id', ('camera_source',), str),
    'body_model_type': ('body_model.type', tuple(NODES), str),
    'body_model_path': ('body_model.path', tuple(NODES), str),
    'use_sim_time': ('use_sim_time', tuple(NODES), bool),
    'world_frame': ('world_frame', ('slam', 'fusion'), str),
    'odom_frame': ('odom_frame', ('slam',), str),
    'tf_mode': ('tf.mode', ('slam',), str),
}
#: launch argument -> {node: parameter} (the same value under different names)
PER_NODE_NAMES = {'image_transport': {'camera_source': 'transport', 'mask': 'image_transport',
                                      'hmr': 'image_transport', 'slam': 'image_transport'}}


def _typed(arg: str, text: str, kind: type):
    if kind is bool:
        if text.lower() not in ('true', 'false'):
            raise ValueError(f"launch argument {arg}:={text}: use true or false")
        return text.lower() == 'true'
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f'launch argument {arg}:={text}: not an integer') from None
    return text


def _resolved(topic: str, namespace: str) -> str:
    return topic if topic.startswith('/') else '/'.join(['', *[p for p in namespace.split('/') if p], topic])


def wait_for_graph(started: dict) -> list:
    """camera_source's wait_for_graph entries for the nodes started ('<topic>: <publisher> -> <subscribers>')."""
    out = []
    for topic, (publisher, subscribers) in CONNECTIONS.items():
        subs = [s for s in subscribers if started[s]]
        if started[publisher] and subs:
            out.append(f'{topic}: {publisher} -> {", ".join(subs)}')
    return out


def _nodes(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    namespace = arg['namespace'].strip('/')
    per_node = {name: {} for name in NODES}
    for name, (param, nodes, kind) in PARAMETERS.items():
        if arg[name] != '':
            for n in nodes:
                per_node[n][param] = _typed(name, arg[name], kind)
    for name, params in PER_NODE_NAMES.items():
        if arg[name] != '':
            for n, param in params.items():
                per_node[n][param] = arg[name]
    from onlinehmr_ros.ros.qos import replay_parameters    # a lockstep replay loses nothing
    for n, params in replay_parameters(arg['rate_mode']).items():
        per_node[n] = {**params, **per_node[n]}
    per_node['camera_source']['wait_for_nodes'] = list(IMAGE_READERS)
    started = {name: name not in OPTIONAL or _typed(OPTIONAL[name], arg[OPTIONAL[name]], bool) for name in NODES}
    per_node['camera_source']['wait_for_graph'] = wait_for_graph(started)
    topics = {'camera/image_raw': arg['image_topic'], 'camera/camera_info': arg['camera_info_topic']}
    remaps = [(default, given) for default, given in topics.items() if given]
    if arg['image_reliability']:
        if arg['image_reliability'] not in ('reliable', 'best_effort'):
            raise ValueError(f"launch argument image_reliability:={arg['image_reliability']}: use reliable or "
                             'best_effort')
        for n in IMAGE_READERS:
            for default, given in topics.items():
                per_node[n][f'qos_overrides.{_resolved(given or default, namespace)}.subscription.reliability'] = \
                    arg['image_reliability']
    return [Node(package='onlinehmr_ros', executable=exe, name=name, namespace=namespace, output='screen',
                 parameters=[arg['params_file'], per_node[name]], remappings=remaps)
            for name, exe in NODES.items() if started[name]]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=desc) for name, default, desc in ARGUMENTS]
        + [OpaqueFunction(function=_nodes)])
