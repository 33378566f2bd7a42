"""python/examples/two_tower.py runs as documented and its loss decreases with both shapes of
negatives (per-row and an in-batch pool)."""
import os
import re
import subprocess
import sys

from conftest import REPO

EXAMPLE = os.path.join(REPO, "python", "examples", "two_tower.py")


def test_two_tower_example_trains_with_both_shapes():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.dirname(os.path.dirname(
        os.path.abspath(sys.modules["semcl"].__file__))), env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, EXAMPLE, "--steps", "30"], env=env, check=True,
                         capture_output=True, text=True, timeout=300).stdout
    summary = re.findall(r"^(rows|shared)\s+mean loss of the first 5 steps ([\d.]+), of the "
                         r"last 5 ([\d.]+)$", out, re.M)
    assert [s[0] for s in summary] == ["rows", "shared"], out
    for shape, first, last in summary:
        assert float(last) < 0.85 * float(first), (shape, out)
