#!/usr/bin/env python3
"""The GPU pack runner's result parsing (scripts/pack/pack_summary.py) on canned outputs in
tests/pack/data: GoogleTest XML and console logs (a crash included), pytest junit XML,
compute-sanitizer logs (clean, errors, race hazards, an unsupported device), the bandwidth
probe and semcl-bench CSV; then whole runs: verdicts, summary.md and summary.json. (The
numbers in the canned files are invented for the parser; they are no measurement.)

    python3 tests/pack/test_pack_summary.py [path/to/pack_summary.py]
"""
import contextlib
import importlib.util
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "pack", "pack_summary.py")


def load(path):
    spec = importlib.util.spec_from_file_location("pack_summary", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ps = None  # set in __main__ (or below when imported by a runner)


def data(name):
    return os.path.join(DATA, name)


def text(name):
    with open(data(name)) as f:
        return f.read()


class Parsers(unittest.TestCase):
    def test_gtest_xml_counts_every_outcome(self):
        r = ps.parse_gtest_xml(data("gtest_mixed.xml"))
        self.assertEqual((r["tests"], r["passed"], r["failed"], r["skipped"], r["disabled"]),
                         (5, 2, 1, 1, 1))
        self.assertEqual(r["failures"][0]["test"],
                         "CudaHost.LossOnANewStreamWaitsForUploadsOnThePreviousOne")
        # location and the message, not GoogleTest's bare "Failed"
        self.assertIn("test_cuda_host.cpp:144", r["failures"][0]["message"])
        self.assertIn("SEMCL_REQUIRE_CUDA=1", r["failures"][0]["message"])
        self.assertEqual(r["skips"], [{
            "test": "Backends/PointerChecks.SettingIsPerContextAndValidatedOnAnyBackend/CUDA",
            "reason": "CUDA backend: semcl_create returned SEMCL_STATUS_BACKEND_UNAVAILABLE "
                      "(no CUDA device is visible)"}])

    def test_gtest_xml_all_passing(self):
        r = ps.parse_gtest_xml(data("gtest_passing.xml"))
        self.assertEqual((r["tests"], r["passed"], r["failed"], r["skipped"]), (2, 2, 0, 0))

    def test_gtest_log_of_a_crashed_binary(self):
        r = ps.parse_gtest_text(text("gtest_crashed.log"))
        self.assertEqual((r["passed"], r["failed"], r["skipped"]), (1, 2, 1))
        self.assertEqual(r["crashed_in"], "CudaTest.RepeatedCallsGiveIdenticalBits")
        self.assertEqual([f["test"] for f in r["failures"]],
                         ["Backends/SeedCases.EveryCaseMatchesTheSeedCode/CUDA",
                          "CudaTest.RepeatedCallsGiveIdenticalBits"])
        self.assertEqual(r["skips"][0]["test"], "CudaTest.HugeParitySmallKPast2To31")

    def test_gtest_log_without_tests(self):
        r = ps.parse_gtest_text("Segmentation fault (core dumped)\n")
        self.assertEqual((r["tests"], r["failed"], r["crashed_in"]), (0, 0, None))

    def test_pytest_junit(self):
        r = ps.parse_junit(data("pytest_mixed.xml"))
        self.assertEqual((r["tests"], r["passed"], r["failed"], r["skipped"]), (4, 1, 2, 1))
        self.assertEqual(sorted(f["test"] for f in r["failures"]),
                         ["test_canned::test_bad", "test_canned::test_error"])
        self.assertIn("one is not two", r["failures"][0]["message"] + r["failures"][1]["message"])
        self.assertEqual(r["skips"][0]["reason"],
                         "torch.cuda.is_available() is False (no GPU here)")

    def test_sanitizer_clean(self):
        r = ps.parse_sanitizer(text("memcheck_clean.log"))
        self.assertEqual((r["errors"], r["unsupported"]), (0, False))
        self.assertEqual(r["gtest"]["passed"], 1)

    def test_sanitizer_errors(self):
        r = ps.parse_sanitizer(text("memcheck_errors.log"))
        self.assertEqual(r["errors"], 2)
        self.assertIn("ERROR SUMMARY: 2 errors", r["summary"])

    def test_racecheck_hazard(self):
        r = ps.parse_sanitizer(text("racecheck_hazard.log"))
        self.assertEqual(r["errors"], 1)
        self.assertIn("RACECHECK SUMMARY", r["summary"])

    def test_sanitizer_unsupported_device(self):
        r = ps.parse_sanitizer(text("sanitizer_unsupported.log"))
        self.assertTrue(r["unsupported"])
        self.assertIn("Device not supported", r["summary"])

    def test_sanitizer_log_cut_short(self):
        r = ps.parse_sanitizer("========= COMPUTE-SANITIZER\n[ RUN      ] A.B\n")
        self.assertIsNone(r["errors"])
        self.assertEqual(r["gtest"]["crashed_in"], "A.B")

    def test_bandwidth_and_bench(self):
        bw = ps.parse_bandwidth(text("copy-bandwidth.log"))
        self.assertEqual((bw["device"], bw["best_GBps"], bw["median_GBps"]),
                         ("NVIDIA H200", 4310.5, 4295.0))
        rows = ps.parse_bench_csv(text("bench.csv") + text("bench.csv"))  # repeated header
        self.assertEqual(len(rows), 6)
        self.assertEqual((rows[2]["K"], rows[2]["pass"], rows[2]["median_ms"]),
                         ("16384", "fwd", "0.02"))
        self.assertEqual(ps.parse_bench_csv(""), [])


class Runs(unittest.TestCase):
    """A run directory as run.sh leaves it, built from the canned files."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pack-summary-test.")
        self.logs = os.path.join(self.dir, "logs")
        os.makedirs(self.logs)
        self.lines = []
        with open(os.path.join(self.logs, "machine.txt"), "w") as f:
            f.write("mode: gpu\ndate: 2026-12-01 10:00:00 UTC\nhost: gpu-1\nglibc: 2.39\n"
                    "SEMCL_REQUIRE_CUDA: 1\ngpu: NVIDIA H200, 143771 MiB, 580.159.04, Default\n"
                    "gpu_present: 1\nlibraries: all found on this machine\ntotal: 301 s\n")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def step(self, name, kind, status, rc, canned=None, as_name=None, detail=""):
        log = ""
        if canned:
            dest = os.path.join(self.logs, as_name or canned)
            shutil.copy(data(canned), dest)
            log = dest if not dest.endswith(".xml") else os.path.join(self.logs, name + ".log")
        self.lines.append("\t".join([name, kind, status, str(rc), "3", log, detail]))

    def run_summary(self, mode="gpu"):
        with open(os.path.join(self.logs, "steps.tsv"), "w") as f:
            f.write("\n".join(self.lines) + "\n")
        out = os.path.join(self.dir, "out")
        with contextlib.redirect_stdout(io.StringIO()):
            ps.main(["--logs", self.logs, "--mode", mode, "--out", out])
        with open(os.path.join(out, "summary.md")) as f:
            md = f.read()
        with open(os.path.join(out, "summary.json")) as f:
            js = json.load(f)
        return md, js

    def add_passing_gpu_run(self):
        self.step("test_cuda_host", "gtest", "PASS", 0, "gtest_passing.xml",
                  as_name="test_cuda_host.xml")
        self.step("pytest", "pytest", "PASS", 0)
        self.step("memcheck.test_cuda_backend", "sanitizer", "PASS", 0, "memcheck_clean.log")
        self.step("copy-bandwidth", "bandwidth", "PASS", 0, "copy-bandwidth.log")
        self.step("bench", "bench", "PASS", 0, "bench.csv")
        self.step("bench-host-cost", "bench", "PASS", 0, "bench-host-cost.csv")

    def test_a_clean_gpu_run_passes_with_its_tables(self):
        self.add_passing_gpu_run()
        md, js = self.run_summary()
        self.assertEqual(js["verdict"], "PASS")
        self.assertTrue(md.startswith("verdict: PASS\n"), md[:200])
        self.assertIn("NVIDIA H200, 143771 MiB", md)
        self.assertIn("| test_cuda_host | PASS | 3 | 2 | 0 | 0 |", md)
        self.assertIn("| memcheck.test_cuda_backend | PASS | ERROR SUMMARY: 0 errors |", md)
        self.assertIn("best 4310.5 GB/s", md)
        # 2683.9 GB/s of 4310.5 is 62 %
        self.assertIn("| fwd | 1 | 16777216 | 16777216 | 0.1 | 0.099 | 0.101 | 167.8 | 2683.9 | 62% |",
                      md)
        self.assertIn("| on | 12.10 | 11.90 | 12.50 |", md)
        self.assertIn("| off | 8.20 | 8.00 | 8.50 |", md)

    def test_failures_of_every_kind_fail_the_run_and_are_named(self):
        self.add_passing_gpu_run()
        self.step("test_seed_cases", "gtest", "PASS", 0)  # no XML, no log: no test ran
        self.step("test_cuda_backend", "gtest", "FAIL", 1, "gtest_mixed.xml",
                  as_name="test_cuda_backend.xml")
        self.step("test_crashed", "gtest", "FAIL", 139, "gtest_crashed.log",
                  as_name="test_crashed.log")
        # exit code 0 (say, --error-exitcode lost): the log's summary still fails the step
        self.step("racecheck.test_cuda_backend", "sanitizer", "PASS", 0, "racecheck_hazard.log")
        self.step("memcheck.test_cuda_host", "sanitizer", "FAIL", 99, "memcheck_errors.log")
        self.step("test_slow", "gtest", "TIMEOUT", 124, detail="killed after 170 s")
        md, js = self.run_summary()
        v = js["verdict"]
        self.assertTrue(v.startswith("FAIL ("), v)
        for name in ("test_seed_cases FAIL", "test_cuda_backend FAIL", "test_crashed FAIL",
                     "racecheck.test_cuda_backend FAIL", "memcheck.test_cuda_host FAIL",
                     "test_slow TIMEOUT"):
            self.assertIn(name, v)
        self.assertNotIn("memcheck.test_cuda_backend", v)  # the clean one
        self.assertIn("| racecheck.test_cuda_backend | FAIL | RACECHECK SUMMARY: 1 hazard", md)
        self.assertIn("| test_seed_cases | FAIL | 3 | 0 | 0 | 0 | no test ran", md)
        self.assertIn("no XML: counted from the log", md)
        self.assertIn("## Failed tests", md)
        self.assertIn("test_crashed: CudaTest.RepeatedCallsGiveIdenticalBits did not finish", md)
        self.assertIn("## Skipped tests, by reason", md)
        self.assertIn("no CUDA device is visible", md)
        self.assertEqual(js["totals"]["failed"], 3)  # 1 in the XML, 2 in the crashed log

    def test_unsupported_sanitizer_makes_the_run_incomplete_not_failed(self):
        self.add_passing_gpu_run()
        self.step("synccheck.test_cuda_backend", "sanitizer", "FAIL", 1,
                  "sanitizer_unsupported.log")
        md, js = self.run_summary()
        self.assertEqual(js["verdict"],
                         "PASS (incomplete: synccheck.test_cuda_backend unsupported here)")
        self.assertIn("| synccheck.test_cuda_backend | UNSUPPORTED |", md)

    def test_missing_tools_fail_on_the_gpu_machine_but_not_locally(self):
        self.step("test_cuda_host", "gtest", "PASS", 0, "gtest_passing.xml",
                  as_name="test_cuda_host.xml")
        self.lines.append("compute-sanitizer\tsanitizer\tMISSING\t-1\t0\t\tcompute-sanitizer not found")
        _, js = self.run_summary("gpu")
        self.assertTrue(js["verdict"].startswith("FAIL (compute-sanitizer missing"), js["verdict"])
        self.lines[-1] = "compute-sanitizer\tsanitizer\tNA\t-1\t0\t\tcompute-sanitizer not found"
        _, js = self.run_summary("local")
        self.assertEqual(js["verdict"], "PASS (incomplete: compute-sanitizer not available)")

    def test_pytest_failures_fail_the_run(self):
        shutil.copy(data("pytest_mixed.xml"), os.path.join(self.logs, "pytest.xml"))
        self.step("pytest", "pytest", "FAIL", 1)
        md, js = self.run_summary()
        self.assertEqual(js["verdict"], "FAIL (pytest FAIL)")
        self.assertIn("pytest: 1 passed, 2 failed, 1 skipped", md)
        self.assertIn("pytest: test_canned::test_bad AssertionError: one is not two", md)

    def test_an_empty_run_fails(self):
        _, js = self.run_summary()
        self.assertEqual(js["verdict"], "FAIL (no step ran)")


FAKE_GTEST = """#!/usr/bin/env bash
# A stand-in for a GoogleTest binary: writes the canned XML where --gtest_output asks.
for a in "$@"; do
  case $a in --gtest_output=xml:*) cp "%(xml)s" "${a#--gtest_output=xml:}" ;; esac
done
echo "[  PASSED  ] canned"
exit %(rc)d
"""


class RunnerSmoke(unittest.TestCase):
    """run.sh --local end to end on a fake pack (stand-in test binaries, one trivial pytest
    file): steps recorded, GPU steps "not available", verdict and exit status, what lands in
    $OUT."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pack-runner-test.")
        self.pack = os.path.join(self.dir, "pack")
        scripts = os.path.dirname(os.path.abspath(ps.__file__))
        for sub in ("bin", "lib", "fallback-lib", "tests/python", "tests/data", "python"):
            os.makedirs(os.path.join(self.pack, sub))
        for f in ("run.sh", "pack_summary.py"):
            shutil.copy(os.path.join(scripts, f), self.pack)
        with open(os.path.join(self.pack, "BUILD-INFO.txt"), "w") as f:
            f.write("commit: abc1234\nglibc_needed: 2.34\n")
        with open(os.path.join(self.pack, "tests", "python", "test_trivial.py"), "w") as f:
            f.write("def test_one():\n    assert 1 + 1 == 2\n")
        self.fake("test_good", "gtest_passing.xml", 0)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def fake(self, name, xml, rc):
        path = os.path.join(self.pack, "bin", name)
        with open(path, "w") as f:
            f.write(FAKE_GTEST % {"xml": data(xml), "rc": rc})
        os.chmod(path, 0o755)

    def run_pack(self, budget=120):
        out = os.path.join(self.dir, "out")
        env = dict(os.environ, OUT=out, RUN_BUDGET_S=str(budget))
        env.pop("SEMCL_REQUIRE_CUDA", None)
        env["PATH"] = "/usr/bin:/bin"  # no nvidia-smi or compute-sanitizer from elsewhere
        import subprocess
        run = subprocess.run(["bash", os.path.join(self.pack, "run.sh"), "--local"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        with open(os.path.join(out, "summary.json")) as f:
            js = json.load(f)
        return run.returncode, js, sorted(os.listdir(out)), run.stdout.decode(errors="replace")

    def test_a_good_pack_passes_here_with_gpu_steps_not_available(self):
        rc, js, files, log = self.run_pack()
        self.assertEqual(rc, 0, log)
        self.assertTrue(js["verdict"].startswith("PASS (incomplete: "), js["verdict"])
        self.assertIn("bench not available", js["verdict"])
        steps = {s["name"]: s for s in js["steps"]}
        self.assertEqual(steps["test_good"]["status"], "PASS")
        self.assertEqual(steps["test_good"]["result"]["passed"], 2)
        self.assertEqual(steps["compute-sanitizer"]["status"], "NA")
        self.assertIn(steps["pytest"]["status"], ("PASS", "NA"))  # NA where no torch
        self.assertEqual(files, ["logs.tar.gz", "summary.json", "summary.md"])

    def test_a_failing_binary_fails_the_run(self):
        self.fake("test_bad", "gtest_mixed.xml", 1)
        rc, js, _, log = self.run_pack()
        self.assertEqual(rc, 1, log)
        self.assertTrue(js["verdict"].startswith("FAIL (test_bad FAIL"), js["verdict"])

    def test_a_hanging_binary_is_stopped_and_the_run_still_summarised(self):
        path = os.path.join(self.pack, "bin", "test_hangs")
        with open(path, "w") as f:
            f.write("#!/usr/bin/env bash\nsleep 120\n")
        os.chmod(path, 0o755)
        rc, js, files, log = self.run_pack(budget=15)
        self.assertEqual(rc, 1, log)
        steps = {s["name"]: s for s in js["steps"]}
        self.assertEqual(steps["test_hangs"]["status"], "TIMEOUT", log)
        self.assertIn("test_hangs TIMEOUT", js["verdict"])
        self.assertIn("summary.md", files)


if __name__ == "__main__":
    ps = load(sys.argv[1] if len(sys.argv) > 1 else SCRIPT)
    unittest.main(argv=[sys.argv[0]], verbosity=1)
