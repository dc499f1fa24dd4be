"""Start the OnlineHMR pipeline: camera_source (optional), mask, hmr, slam, fusion, hri (optional).

    ros2 launch onlinehmr_ros pipeline.launch.py input:=/path/video.mp4
    ros2 launch onlinehmr_ros pipeline.launch.py use_camera_source:=false \
        image_topic:=/my_camera/color/image_raw camera_info_topic:=/my_camera/color/camera_info
    ros2 launch onlinehmr_ros pipeline.launch.py input:=recording.mcap use_sim_time:=true publish_clock:=true

Without a ROS distro, `onlinehmr_pipeline` composes the same nodes in one
process with the same parameter file (test/test_launch.py keeps both in step).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ('params_file', PathJoinSubstitution([FindPackageShare('onlinehmr_ros'), 'config', 'pipeline.yaml']),
     'ROS parameter file of every node'),
    ('use_camera_source', 'true', 'Start camera_source (false: use your own camera driver)'),
    ('input', '', 'camera_source input: video file, image folder, rosbag2 (.mcap/.db3/folder) or webcam index'),
    ('rate_mode', 'recorded', 'camera_source rate: recorded | fixed | lockstep'),
    ('publish_clock', 'false', 'camera_source publishes /clock from the frame stamps (replays)'),
    ('camera_info_yaml', '', 'ROS camera_info YAML with the intrinsics (else hfov_deg from the params file)'),
    ('body_model_type', 'open', 'Body model: open | smpl | smplx'),
    ('body_model_path', '', 'Folder with the SMPL / SMPL-X files (for smpl, smplx)'),
    ('use_sim_time', 'false', 'Use /clock'),
    ('image_topic', '/camera/image_raw', 'Image topic the pipeline reads'),
    ('camera_info_topic', '/camera/camera_info', 'CameraInfo topic the pipeline reads'),
    ('world_frame', 'world', 'World frame id'),
    ('image_transport', 'raw', 'raw | compressed: how camera_source publishes images and mask, hmr, slam read '
     'them (compressed: <image_topic>/compressed, for a camera on another host)'),
    ('hri', 'false', 'Also start hri_node: the people as REP-155 (ros4hri) bodies under /humans/bodies'),
]


def generate_launch_description():
    cfg = {name: LaunchConfiguration(name) for name, _, _ in ARGUMENTS}
    common = {'use_sim_time': cfg['use_sim_time'], 'body_model.type': cfg['body_model_type'],
              'body_model.path': cfg['body_model_path']}
    remaps = [('/camera/image_raw', cfg['image_topic']), ('/camera/camera_info', cfg['camera_info_topic'])]

    def node(executable, name, extra=None, condition=None):
        return Node(package='onlinehmr_ros', executable=executable, name=name, output='screen',
                    parameters=[cfg['params_file'], {**common, **(extra or {})}], remappings=remaps,
                    condition=condition, additional_env={'OPENBLAS_NUM_THREADS': '1'})

    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=desc) for name, default, desc in ARGUMENTS]
        + [
            node('camera_source', 'camera_source',
                 {'input': cfg['input'], 'rate_mode': cfg['rate_mode'], 'publish_clock': cfg['publish_clock'],
                  'camera_info_yaml': cfg['camera_info_yaml'], 'transport': cfg['image_transport']},
                 condition=IfCondition(cfg['use_camera_source'])),
            node('mask_node', 'mask', {'image_transport': cfg['image_transport']}),
            node('hmr_node', 'hmr', {'image_transport': cfg['image_transport']}),
            node('slam_node', 'slam', {'world_frame': cfg['world_frame'], 'image_transport': cfg['image_transport']}),
            node('fusion_node', 'fusion', {'world_frame': cfg['world_frame']}),
            node('hri_node', 'hri', condition=IfCondition(cfg['hri'])),
        ])
