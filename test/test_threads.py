"""One BLAS thread per process unless the environment says otherwise (core.common.threads): what the nodes, the
composed runner and the in-process pipeline set at start."""
import json
import os
import subprocess
import sys

PROBE = '''
import json, sys
import numpy, scipy.linalg
from threadpoolctl import threadpool_info
from onlinehmr_ros.core.common.threads import limit_blas_threads
before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
note = limit_blas_threads()
after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
print(json.dumps({"before": before, "after": after, "note": note}))
'''


def _run(env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS',
                                                              'MKL_NUM_THREADS')}
    env.update(env_extra)
    out = subprocess.run([sys.executable, '-c', PROBE], env=env, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_blas_library_runs_one_thread():
    got = _run({})
    assert got['before'] and all(n == 1 for n in got['after']), got     # numpy's and scipy's OpenBLAS
    assert os.cpu_count() == 1 or any(n > 1 for n in got['before']), got   # it did change something


def test_the_environment_setting_is_kept():
    got = _run({'OPENBLAS_NUM_THREADS': '2'})
    assert got['after'] == got['before'] and 'OPENBLAS_NUM_THREADS=2' in got['note'], got


def test_the_in_process_pipeline_limits_its_process(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits
    from onlinehmr_ros.core.pipeline import Pipeline
    for v in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):    # (make exports one)
        monkeypatch.delenv(v, raising=False)
    threadpool_limits(limits=2, user_api='blas')
    Pipeline()
    assert all(i['num_threads'] == 1 for i in threadpool_info() if i['user_api'] == 'blas')
