"""Python side of onlinehmr_ros.

Used directly by the PyPI-only path (``pip install --no-deps .``, run by
``make setup``), and read by CMakeLists.txt for the colcon path, which turns
every ``console_scripts`` entry below into an executable in
``lib/onlinehmr_ros/`` for ``ros2 run`` and launch files. Keep one entry per
line in the form ``'name = module:function'``.
"""
from glob import glob

from setuptools import find_packages, setup

package_name = 'onlinehmr_ros'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(include=[package_name, package_name + '.*']),
    package_data={package_name: ['data/*.npz', 'data/*.pt', 'data/*.md', 'data/*.yaml']},
    data_files=[
        ('share/' + package_name + '/launch', glob('launch/*.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml') + glob('config/*.xml')),
        ('share/' + package_name + '/rviz', glob('rviz/*.rviz')),
    ],
    python_requires='>=3.10',
    zip_safe=False,
    maintainer='onlinehmr_ros developers',
    description='Online world-grounded human mesh recovery for ROS 2',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'camera_source = onlinehmr_ros.nodes.executables:camera_source',
            'mask_node = onlinehmr_ros.nodes.executables:mask_node',
            'hmr_node = onlinehmr_ros.nodes.executables:hmr_node',
            'slam_node = onlinehmr_ros.nodes.executables:slam_node',
            'fusion_node = onlinehmr_ros.nodes.executables:fusion_node',
            'hri_node = onlinehmr_ros.nodes.executables:hri_node',
            'onlinehmr_pipeline = onlinehmr_ros.nodes.executables:onlinehmr_pipeline',
            'onlinehmr = onlinehmr_ros.cli:main',
        ],
    },
)
