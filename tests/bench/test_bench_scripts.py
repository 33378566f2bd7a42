"""Checks of the benchmark's scripts on small hand-made inputs (standard library only):
bench/demo_summary.py (speed-up, contention warnings, table), bench/report.py (the measured
commit) feeding bench/readme_figures.py (README figures), and docs/seed.md quoting the seed's
functions exactly as bench/seed_losses.py holds them. Expected values are written here from
the inputs, never taken from the scripts.

  python3 tests/bench/test_bench_scripts.py        (ctest: BenchScripts)
"""
import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "bench")
sys.path.insert(0, BENCH)
import demo_summary  # noqa: E402
import readme_figures  # noqa: E402

HEADER = ("backend,loss,dtype,B,K,threads,pass,median_ms,p20_ms,p80_ms,gelem_per_s,gb_per_s,"
          "peak_rss_mb,input_sets,working_set_mb")


def row(backend, loss, B, K, threads, pass_, ms, gelem=0.5):
    return f"{backend},{loss},fp32,{B},{K},{threads},{pass_},{ms},{ms},{ms},{gelem},1,1,1,1"


def write(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


class DemoSummary(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.tmp.name
        self.semcl = os.path.join(d, "semcl.csv")
        self.base = os.path.join(d, "baseline.csv")
        self.table = os.path.join(d, "table.txt")
        write(self.semcl, [HEADER,
                           row("cpu", "pos_neg", 4096, 1024, 1, "fwd_bwd", 8.0, 0.52),
                           row("cpu", "pos_neg", 4096, 1024, 2, "fwd_bwd", 5.0),
                           row("cpu", "pos_neg", 4096, 16, 1, "fwd_bwd", 0.5),
                           row("cpu", "pos_neg", 4096, 16, 1, "fwd", 0.25)])
        # PyTorch: 40 / 8 = 5.0x at K=1024, 2.0 / 0.5 = 4.0x at K=16
        write(self.base, [HEADER,
                          row("torch-cpu", "pos_neg", 4096, 1024, 1, "fwd_bwd", 40.0),
                          row("torch-cpu", "pos_neg", 4096, 16, 1, "fwd_bwd", 2.0)])

    def tearDown(self):
        self.tmp.cleanup()

    def run_summary(self, *extra):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = demo_summary.main(["--semcl", self.semcl, "--table", self.table, "--cores", "2",
                                    *extra])
        self.assertEqual(rc, 0)
        return out.getvalue()

    def test_speed_up_and_range(self):
        text = self.run_summary("--baseline", self.base, "--others-cpu", "0.05")
        self.assertIn("semcl 8 ms per call, 0.52 Gelem/s", text)
        self.assertIn("PyTorch eager, the same case: 40 ms -> semcl is 5.0x faster", text)
        self.assertIn("Over K = 16 ... 1024 (1 thread, forward+backward): 4.0x to 5.0x", text)
        self.assertIn("quiet", text)
        self.assertNotIn("WARNING", text)
        self.assertIn("Full table: " + self.table, text)
        self.assertIn("Next: ", text)

    def test_busy_core_marks_multi_thread_rows(self):
        text = self.run_summary("--baseline", self.base, "--others-cpu", "0.6")
        self.assertIn("the multi-thread rows are unreliable", text)
        self.assertNotIn("every timing is unreliable", text)
        with open(self.table) as f:
            lines = f.read().splitlines()
        two = [l for l in lines if re.search(r"\b1024\s+2\s+fwd_bwd", l)]
        one = [l for l in lines if re.search(r"\b1024\s+1\s+fwd_bwd", l)]
        self.assertEqual(len(two), 1)
        self.assertEqual(len(one), 1)
        self.assertIn("unreliable", two[0])
        self.assertNotIn("unreliable", one[0])
        self.assertIn("5.0x", one[0])

    def test_no_idle_core_marks_every_row(self):
        text = self.run_summary("--baseline", self.base, "--others-cpu", "1.5")
        self.assertIn("every timing is unreliable", text)
        with open(self.table) as f:
            body = f.read().splitlines()[1:]
        self.assertEqual(len(body), 4)
        self.assertTrue(all("unreliable" in l for l in body))

    def test_without_pytorch(self):
        text = self.run_summary()
        self.assertIn("No PyTorch comparison", text)
        self.assertNotIn("faster", text)


class ReportAndReadmeFigures(unittest.TestCase):
    COMMIT = "0123456789abcdef0123456789abcdef01234567"

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.out = self.tmp.name
        write(os.path.join(d, "env.txt"), [
            "date=Sun Nov 29 06:52:38 UTC 2026", "cpu_model=Test CPU", "cpus=2", "l3=32 MiB",
            "avx2=yes", "fma=yes", "avx512f=no", "cc=cc 12", "build_type=Release",
            "commit=0123456", f"commit_full={self.COMMIT}", "dirty=0", "bench_source=checkout",
            "date_end=Sun Nov 29 06:56:20 UTC 2026"])
        write(os.path.join(d, "semcl.csv"), [HEADER, row("cpu", "pos_neg", 4096, 1024, 1, "fwd_bwd", 8.0)])
        write(os.path.join(d, "baseline.csv"), [HEADER, row("torch-cpu", "pos_neg", 4096, 1024, 1, "fwd_bwd", 80.0)])
        goal_header = HEADER + ",others_cpu"
        # three quiet semcl runs (median 0.5 Gelem/s) and one PyTorch run (0.05): 10.0x
        write(os.path.join(d, "goal.csv"), [goal_header] + [
            row("cpu", "pos_neg", 4096, 1024, 1, "fwd_bwd", 8.0, g) + ",0.01" for g in (0.4, 0.6, 0.5)])
        write(os.path.join(d, "goal_torch.csv"), [goal_header,
              row("torch-cpu", "pos_neg", 4096, 1024, 1, "fwd_bwd", 80.0, 0.05) + ",0.01"])
        write(os.path.join(d, "baseline_info.json"),
              ['{"torch_version": "9.9", "python": "3", "torch_compile": "timed"}'])

    def tearDown(self):
        self.tmp.cleanup()

    def report(self):
        subprocess.run([sys.executable, os.path.join(BENCH, "report.py"), self.out], check=True,
                       capture_output=True)
        with open(os.path.join(self.out, "RESULTS.md")) as f:
            return f.read()

    def test_report_records_the_commit(self):
        text = self.report()
        self.assertIn(f"<!-- measured-commit: {self.COMMIT} -->", text)
        self.assertIn("Measured library: semcl commit `0123456` (clean)", text)

    def test_report_says_when_the_library_was_modified(self):
        path = os.path.join(self.out, "env.txt")
        with open(path) as f:
            env = f.read().replace("dirty=0\n", "dirty=3\n")
        with open(path, "w") as f:
            f.write(env)
        self.assertIn("(with 3 uncommitted change(s) to the library sources)", self.report())

    def test_plot_note(self):
        note = subprocess.run([sys.executable, os.path.join(BENCH, "report.py"), self.out,
                               "--plot-note"], check=True, capture_output=True, text=True).stdout
        self.assertIn("Test CPU (AVX2), 2 CPUs", note)
        self.assertIn("semcl commit 0123456", note)
        self.assertIn("PyTorch 9.9", note)
        self.assertNotIn("no torch.compile", note)

    def test_goal_checks(self):
        # copy fractions 0.95/0.85/0.92 (median 92 %: met); 0.5 Gelem/s on a machine without
        # AVX-512 (< 1.2: not met); 10x eager, but torch.compile (0.1) is what counts: 5x (not
        # met); shape goals from shapes.csv: K=1 0.45 (met), K=16 1.0 (not met), loss 1 absent.
        goal_header = HEADER + ",cpu_isa,copy_fraction,others_cpu"
        write(os.path.join(self.out, "goal.csv"), [goal_header] + [
            row("cpu", "pos_neg", 4096, 1024, 1, "fwd_bwd", 8.0, g) + f",avx2,{f},0.01"
            for g, f in ((0.4, 0.95), (0.6, 0.85), (0.5, 0.92))])
        write(os.path.join(self.out, "goal_torch.csv"), [HEADER + ",others_cpu",
              row("torch-cpu", "pos_neg", 4096, 1024, 1, "fwd_bwd", 80.0, 0.05) + ",0.01",
              row("torch-cpu-compile", "pos_neg", 4096, 1024, 1, "fwd_bwd", 40.0, 0.1) + ",0.01"])
        write(os.path.join(self.out, "shapes.csv"), [HEADER,
              row("cpu", "pos_neg", 65536, 1, 1, "fwd_bwd", 1.0, 0.45),
              row("cpu", "pos_neg", 65536, 16, 1, "fwd_bwd", 1.0, 1.0)])
        text = self.report()
        self.assertIn("one thread ≥ 90% of this machine's one-thread copy rate: **92%** → met", text)
        self.assertIn("one thread ≥ 1.2 Gelem/s (machine without AVX-512): **0.500** → NOT met",
                      text)
        self.assertIn("one thread ≥ 8× torch.compile: **5.0×** → NOT met", text)
        self.assertNotIn("× PyTorch eager:", text)
        self.assertIn("pos_neg B=65536 K=1 fwd+bwd, one thread (sweep) ≥ 0.4 Gelem/s: **0.450** → met",
                      text)
        self.assertIn("pos_neg B=65536 K=16 fwd+bwd, one thread (sweep) ≥ 1.2 Gelem/s: **1.000** → "
                      "NOT met", text)
        self.assertNotIn("positive_only B=1048576", text)

    def test_goal_checks_without_compile_use_eager(self):
        self.assertIn("one thread ≥ 8× PyTorch eager: **10.0×** → met", self.report())

    def test_figures_come_from_the_report(self):
        results = os.path.join(self.out, "RESULTS.md")
        with open(results, "w") as f:
            f.write(self.report())
        parsed = readme_figures.parse_results(open(results).read())
        self.assertEqual(parsed["commit"], self.COMMIT)
        self.assertEqual(parsed["goal"][1], ("0.500", "0.0500", "10.0"))
        readme = os.path.join(self.out, "README.md")
        write(readme, ["# x", "", readme_figures.BEGIN, "old figures", readme_figures.END, "tail"])
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            self.assertEqual(readme_figures.main(["--check", "--results", results, "--readme", readme]), 1)
            self.assertEqual(readme_figures.main(["--update", "--results", results, "--readme", readme]), 0)
            self.assertEqual(readme_figures.main(["--check", "--results", results, "--readme", readme]), 0)
        text = open(readme).read()
        self.assertIn("semcl 0.500 Gelem/s, **10.0× the original PyTorch code**", text)
        self.assertIn("PyTorch 9.9 eager: 0.0500 Gelem/s", text)
        self.assertIn("Measured 2026-11-29 at commit `0123456`", text)
        self.assertTrue(text.startswith("# x\n") and text.endswith("tail\n"))
        self.assertNotIn("old figures", text)

    def test_readme_without_markers_fails(self):
        results = os.path.join(self.out, "RESULTS.md")
        with open(results, "w") as f:
            f.write(self.report())
        readme = os.path.join(self.out, "README.md")
        write(readme, ["# no block"])
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(readme_figures.main(["--check", "--results", results, "--readme", readme]), 1)


class SeedQuotedInDocs(unittest.TestCase):
    @staticmethod
    def functions(text):
        """{name: source} of the top-level `def` blocks in the text."""
        out = {}
        for m in re.finditer(r"^def (\w+)\(.*?(?=^\S|\Z)", text, re.M | re.S):
            out[m.group(1)] = m.group(0).rstrip()
        return out

    def test_docs_quote_the_oracle_verbatim(self):
        with open(os.path.join(REPO, "docs", "seed.md")) as f:
            blocks = "\n".join(re.findall(r"^```python\n(.*?)^```", f.read(), re.M | re.S))
        with open(os.path.join(BENCH, "seed_losses.py")) as f:
            oracle = self.functions(f.read())
        quoted = self.functions(blocks)
        for name in ("loss_positive_only", "loss_pos_neg"):
            self.assertIn(name, quoted)
            self.assertEqual(quoted[name], oracle[name])


if __name__ == "__main__":
    unittest.main()
