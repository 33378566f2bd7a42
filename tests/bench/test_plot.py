"""bench/plot.py on hand-made CSVs: one figure legend with the labels a reader needs, and the
speed-up panels drawing PyTorch time / semcl time (expected ratios written here).
Needs matplotlib (ctest: BenchPlot, registered only where the interpreter has it).

  /usr/bin/python3 tests/bench/test_plot.py
"""
import importlib.util
import os
import sys
import tempfile
import unittest
from unittest import mock

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = ("backend,loss,dtype,B,K,threads,pass,median_ms,p20_ms,p80_ms,gelem_per_s,gb_per_s,"
          "peak_rss_mb,input_sets,working_set_mb")


def load_plot():
    spec = importlib.util.spec_from_file_location("semcl_plot", os.path.join(REPO, "bench", "plot.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Plot(unittest.TestCase):
    def test_legend_and_speed_up(self):
        rows = []
        # semcl: 1 ms at K=16 and 4 ms at K=1024 (1 thread), half that with 2 threads;
        # eager 10x and 20x slower; compile 2x and 5x slower (1 thread only); fwd rows ignored.
        for K, ms, eager, comp in ((16, 1.0, 10.0, 2.0), (1024, 4.0, 80.0, 20.0)):
            rows.append(f"cpu,pos_neg,fp32,4096,{K},1,fwd_bwd,{ms},{ms},{ms},1,1,1,1,1")
            rows.append(f"cpu,pos_neg,fp32,4096,{K},2,fwd_bwd,{ms / 2},{ms},{ms},1,1,1,1,1")
            rows.append(f"cpu,pos_neg,fp32,4096,{K},1,fwd,{ms / 9},{ms},{ms},1,1,1,1,1")
            rows.append(f"torch-cpu,pos_neg,fp32,4096,{K},1,fwd_bwd,{eager},{ms},{ms},1,1,1,1,1")
            rows.append(f"torch-cpu-compile,pos_neg,fp32,4096,{K},1,fwd_bwd,{comp},{ms},{ms},1,1,1,1,1")
        rows.append("cpu,positive_only,fp32,65536,1,1,fwd_bwd,0.5,0.5,0.5,1,1,1,1,1")
        rows.append("torch-cpu,positive_only,fp32,65536,1,1,fwd_bwd,1.5,0.5,0.5,1,1,1,1,1")
        with tempfile.TemporaryDirectory() as d:
            csv_path = os.path.join(d, "all.csv")
            with open(csv_path, "w") as f:
                f.write(HEADER + "\n" + "\n".join(rows) + "\n")
            out = os.path.join(d, "out.png")
            plot = load_plot()
            saved = []
            real_savefig = plot.plt.Figure.savefig

            def capture(fig, *a, **k):
                saved.append(fig)
                return real_savefig(fig, *a, **k)

            with mock.patch.object(sys, "argv", ["plot.py", out, csv_path, "--note", "NOTE"]), \
                 mock.patch.object(plot.plt.Figure, "savefig", capture):
                plot.main()
            self.assertTrue(os.path.getsize(out) > 10000)
        fig = saved[0]
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        self.assertEqual(labels, ["semcl (C, 1 thread)", "semcl (C, 2 threads)",
                                  "PyTorch eager (1 thread)", "torch.compile (1 thread)"])
        self.assertIn("NOTE", [t.get_text() for t in fig.texts])
        axes = fig.axes  # [pairwise throughput, pairwise speed-up, positive-only ..., ...]
        self.assertEqual(len(axes), 4)
        speed = {l.get_label(): (list(l.get_xdata()), [round(v, 9) for v in l.get_ydata()])
                 for l in axes[1].get_lines() if l.get_label().startswith("vs ")}
        self.assertEqual(speed["vs PyTorch eager (1 thread)"], ([16, 1024], [10.0, 20.0]))
        self.assertEqual(speed["vs torch.compile (1 thread)"], ([16, 1024], [2.0, 5.0]))
        self.assertEqual(len(speed), 2)  # no 2-thread PyTorch rows: no 2-thread speed-up line
        po = [l for l in axes[3].get_lines() if l.get_label().startswith("vs ")]
        self.assertEqual([round(v, 9) for v in po[0].get_ydata()], [3.0])
        # throughput from the median: B*K / time
        thr = {l.get_label(): list(l.get_ydata()) for l in axes[0].get_lines()}
        self.assertAlmostEqual(thr["semcl (C, 1 thread)"][0], 4096 * 16 / 1e-3 * 1e-9)
        self.assertAlmostEqual(thr["semcl (C, 1 thread)"][1], 4096 * 1024 / 4e-3 * 1e-9)


if __name__ == "__main__":
    unittest.main()
