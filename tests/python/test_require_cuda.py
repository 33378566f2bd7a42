"""SEMCL_REQUIRE_CUDA=1 (conftest.py's hook): a test skipped for lack of a GPU or of a CUDA
build fails instead; other skips stay skips; without the variable nothing changes. Runs pytest
in a subprocess on a throw-away test file that uses this directory's conftest hook."""
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))

CONFTEST = textwrap.dedent("""
    import importlib.util, sys
    sys.path.insert(0, %r)
    _spec = importlib.util.spec_from_file_location("semcl_tests_conftest", %r)
    _real = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_real)
    pytest_runtest_makereport = _real.pytest_runtest_makereport
    """) % (HERE, os.path.join(HERE, "conftest.py"))

TESTS = textwrap.dedent("""
    import pytest

    @pytest.mark.skipif(True, reason="torch.cuda.is_available() is False (no GPU here)")
    def test_no_gpu():
        pass

    def test_no_cuda_build():
        pytest.skip("the loaded libsemcl (x) was built without the CUDA backend")

    @pytest.mark.skipif(True, reason="needs two GPUs")
    def test_two_gpus():
        pass

    def test_plain():
        pass
    """)


def _run(tmp_path, require):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_canned.py").write_text(TESTS)
    env = dict(os.environ)
    env.pop("SEMCL_REQUIRE_CUDA", None)
    if require is not None:
        env["SEMCL_REQUIRE_CUDA"] = require
    xml = tmp_path / "out.xml"
    # Same working directory and environment as this run, so that a relative PYTHONPATH or
    # SEMCL_LIBRARY still finds semcl.
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--junitxml", str(xml), str(tmp_path)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    assert xml.exists(), run.stdout.decode(errors="replace")
    outcome = {}
    for case in ET.parse(str(xml)).getroot().iter("testcase"):
        kinds = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        outcome[case.get("name")] = kinds[0] if kinds else "passed"
    return outcome


def test_without_the_variable_skips_stay_skips(tmp_path):
    assert _run(tmp_path, None) == {"test_no_gpu": "skipped", "test_no_cuda_build": "skipped",
                                    "test_two_gpus": "skipped", "test_plain": "passed"}


def test_other_values_change_nothing(tmp_path):
    assert _run(tmp_path, "0")["test_no_gpu"] == "skipped"


def test_required_cuda_turns_no_cuda_skips_into_failures(tmp_path):
    got = _run(tmp_path, "1")
    assert got["test_no_gpu"] in ("failure", "error"), got
    assert got["test_no_cuda_build"] in ("failure", "error"), got
    assert got["test_two_gpus"] == "skipped", got
    assert got["test_plain"] == "passed", got
