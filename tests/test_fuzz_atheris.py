"""The coverage-guided fuzz target (tests/fuzz_target.py, atheris) run for a
bounded time: any crash of the process, or an exception other than
ValueError/TypeError/MemoryError, fails the test with libFuzzer's report."""
import os
import re
import subprocess
import sys

import pytest

import convcore

pytest.importorskip("atheris", reason="atheris not installed (pip install '.[test]')")

SECONDS = int(os.environ.get("CONVCORE_ATHERIS_SECONDS", "30"))


@pytest.mark.slow
def test_atheris_target_runs_clean(tmp_path):
    target = os.path.join(os.path.dirname(__file__), "fuzz_target.py")
    # the convcore this test imports (installed or built in place)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(
        os.path.dirname(os.path.abspath(convcore.__file__))))
    r = subprocess.run(
        [sys.executable, target, f"-max_total_time={SECONDS}", "-seed=12345",
         "-rss_limit_mb=8192", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=SECONDS + 120, cwd=tmp_path,
        env=env)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]
    done = re.search(r"Done (\d+) runs in (\d+) second", log)
    assert done, log[-2000:]
    assert int(done.group(1)) > 1000, log[-2000:]
    print(f"\natheris: {done.group(1)} inputs in {done.group(2)} s, no finding")
