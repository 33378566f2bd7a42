#!/usr/bin/env python3
"""pack_summary.py — turns the GPU pack runner's logs into summary.md and summary.json.

    python3 pack_summary.py --logs LOGS [--pack PACK] [--mode gpu|local] [--out OUT]

LOGS holds what run.sh wrote: steps.tsv (one line per step: name, kind, status, exit code,
seconds, log, detail), machine.txt, GoogleTest XML (<step>.xml) and logs, pytest.xml, the
sanitizer logs, copy-bandwidth.log, bench.csv, bench-host-cost.csv. Missing files are reported,
never fatal. Prints the summary, whose first line is "verdict: PASS|FAIL ...". Standard library
only (the GPU machine's python3 may be anything from 3.8 on).
"""
import argparse
import csv
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

# ---- parsers (each takes text or a path and returns plain dicts; unit-tested in tests/pack) ----


def _first_line(text, limit=200):
    """The first two non-empty lines of a failure message (GoogleTest: "file:line" and the
    start of the message), on one line."""
    lines = [l.strip() for l in (text or "").splitlines() if l.strip() and l.strip() != "Failed"]
    lines = lines[:2]
    line = " ".join(lines)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _one_line(text, limit=300):
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def parse_gtest_xml(path):
    """Counts and names from a GoogleTest XML report (--gtest_output=xml)."""
    root = ET.parse(path).getroot()
    r = {"tests": 0, "passed": 0, "failed": 0, "skipped": 0, "disabled": 0,
         "failures": [], "skips": [], "source": "xml"}
    for case in root.iter("testcase"):
        name = "%s.%s" % (case.get("classname", "?"), case.get("name", "?"))
        r["tests"] += 1
        failures = case.findall("failure") + case.findall("error")
        if failures:
            r["failed"] += 1
            r["failures"].append({"test": name, "message": _first_line(
                failures[0].get("message") or failures[0].text)})
        elif case.get("status") == "notrun":
            r["disabled"] += 1
        elif case.get("result") == "skipped" or case.find("skipped") is not None:
            r["skipped"] += 1
            sk = case.find("skipped")
            msg = sk.get("message") if sk is not None else ""
            # GoogleTest puts "file:line\n<message>" in the message; keep the message.
            lines = [l for l in (msg or "").splitlines() if l.strip()]
            reason = lines[-1] if lines else ""
            r["skips"].append({"test": name, "reason": _one_line(reason)})
        else:
            r["passed"] += 1
    return r


_RUN = re.compile(r"^\[ RUN      \] (\S+)")
_OK = re.compile(r"^\[       OK \] (\S+) \(")
_FAILED = re.compile(r"^\[  FAILED  \] (\S+?)(?:, where .*)? \(\d+ ms\)")
_SKIPPED = re.compile(r"^\[  SKIPPED \] (\S+) \(")


def parse_gtest_text(text):
    """Counts from GoogleTest's console output, for a binary that left no XML (it crashed, or
    was killed): the test that was running when the output stopped is reported as crashed."""
    r = {"tests": 0, "passed": 0, "failed": 0, "skipped": 0, "disabled": 0,
         "failures": [], "skips": [], "source": "text", "crashed_in": None}
    running = None
    for line in text.splitlines():
        m = _RUN.match(line)
        if m:
            running = m.group(1)
            continue
        for regex, key in ((_OK, "passed"), (_FAILED, "failed"), (_SKIPPED, "skipped")):
            m = regex.match(line)
            if m:
                r[key] += 1
                r["tests"] += 1
                if key == "failed":
                    r["failures"].append({"test": m.group(1), "message": ""})
                elif key == "skipped":
                    r["skips"].append({"test": m.group(1), "reason": ""})
                running = None
                break
    if running:
        r["crashed_in"] = running
        r["tests"] += 1
        r["failed"] += 1
        r["failures"].append({"test": running, "message": "did not finish (crash or kill)"})
    return r


def parse_junit(path):
    """pytest --junitxml: passed, failed (failures and errors), skipped, with names."""
    root = ET.parse(path).getroot()
    r = {"tests": 0, "passed": 0, "failed": 0, "skipped": 0, "failures": [], "skips": []}
    for case in root.iter("testcase"):
        name = "%s::%s" % (case.get("classname", "?"), case.get("name", "?"))
        r["tests"] += 1
        bad = case.findall("failure") + case.findall("error")
        sk = case.find("skipped")
        if bad:
            r["failed"] += 1
            r["failures"].append({"test": name, "message": _first_line(
                bad[0].get("message") or bad[0].text)})
        elif sk is not None:
            r["skipped"] += 1
            r["skips"].append({"test": name, "reason": _one_line(sk.get("message"))})
        else:
            r["passed"] += 1
    return r


_UNSUPPORTED = ("Device not supported", "is not supported on this", "Unsupported device",
                "Target application is not supported")


def parse_sanitizer(text):
    """A compute-sanitizer log: errors found (None when no summary line), whether the tool
    could not run on this machine, and the GoogleTest result of the run inside it."""
    r = {"errors": None, "summary": "", "unsupported": False, "gtest": parse_gtest_text(text)}
    unsupported_line = ""
    for line in text.splitlines():
        s = line.strip()
        m = re.search(r"ERROR SUMMARY: (\d+) error", s)
        if m:
            r["errors"] = int(m.group(1))
            r["summary"] = s.lstrip("= ").strip()
        m = re.search(r"RACECHECK SUMMARY: (\d+) hazards? displayed \((\d+) errors?, (\d+) warnings?\)",
                      s)
        if m:
            r["errors"] = int(m.group(2))
            r["summary"] = s.lstrip("= ").strip()
        if any(u in s for u in _UNSUPPORTED) and not unsupported_line:
            unsupported_line = s.lstrip("= ").strip()
    if unsupported_line:  # the tool could not run: its error count says nothing
        r["unsupported"] = True
        r["summary"] = unsupported_line
    return r


def parse_bandwidth(text):
    r = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            r[k.strip()] = v.strip()
    for k in ("best_GBps", "median_GBps"):
        if k in r:
            try:
                r[k] = float(r[k])
            except ValueError:
                del r[k]
    return r


def parse_bench_csv(text):
    """semcl-bench --format csv rows (header line first; repeated headers are skipped)."""
    rows = []
    header = None
    for rec in csv.reader(text.splitlines()):
        if not rec:
            continue
        if header is None or rec == header:
            if header is None and ("median_ms" in rec):
                header = rec
            continue
        if len(rec) != len(header):
            continue
        rows.append(dict(zip(header, rec)))
    return rows


def read_steps(path):
    steps = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 5:
                continue
            parts += [""] * (7 - len(parts))
            name, kind, status, rc, seconds, log, detail = parts[:7]
            steps.append({"name": name, "kind": kind, "status": status, "rc": int(rc),
                          "seconds": int(seconds), "log": log, "detail": detail})
    return steps


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _key_values(text):
    r = {}
    for line in (text or "").splitlines():
        if ": " in line:
            k, v = line.split(": ", 1)
            r.setdefault(k.strip(), v.strip())
    return r


# ---- the summary -----------------------------------------------------------------------------


def analyse(logs, mode):
    """Everything the summary says, as one dict (also written as summary.json)."""
    steps_path = os.path.join(logs, "steps.tsv")
    steps = read_steps(steps_path) if os.path.exists(steps_path) else []
    problems, incomplete = [], []
    for s in steps:
        kind = s["kind"]
        log_text = _read(s["log"]) if s["log"] else None
        if kind == "gtest":
            xml = os.path.join(logs, s["name"] + ".xml")
            res = None
            if os.path.exists(xml):
                try:
                    res = parse_gtest_xml(xml)
                except ET.ParseError:
                    res = None
            if res is None:
                res = parse_gtest_text(log_text or "")
            s["result"] = res
            if res["tests"] == 0 and s["status"] == "PASS":
                s["status"] = "FAIL"
                s["detail"] = "no test ran"
            if res["failed"] and s["status"] == "PASS":
                s["status"] = "FAIL"
        elif kind == "pytest":
            xml = os.path.join(logs, "pytest.xml")
            if os.path.exists(xml):
                try:
                    s["result"] = parse_junit(xml)
                except ET.ParseError:
                    pass
        elif kind == "sanitizer" and log_text is not None:
            res = parse_sanitizer(log_text)
            s["result"] = res
            if res["unsupported"]:
                s["status"] = "UNSUPPORTED"
                s["detail"] = res["summary"]
            elif res["errors"]:
                s["status"] = "FAIL"
                s["detail"] = res["summary"]
            elif res["errors"] is None and s["status"] == "PASS":
                s["status"] = "FAIL"
                s["detail"] = "no ERROR SUMMARY line in the log"
        elif kind == "bandwidth" and log_text is not None:
            s["result"] = parse_bandwidth(log_text)
        elif kind == "bench" and log_text is not None:
            s["result"] = parse_bench_csv(log_text)
        if s["status"] in ("FAIL", "TIMEOUT"):
            problems.append("%s %s" % (s["name"], s["status"]))
        elif s["status"] == "MISSING":
            problems.append("%s missing (%s)" % (s["name"], s["detail"]))
        elif s["status"] in ("NA", "UNSUPPORTED"):
            incomplete.append("%s %s" % (s["name"], "not available" if s["status"] == "NA"
                                         else "unsupported here"))
    if not steps:
        problems.append("no step ran")
    totals = {"passed": 0, "failed": 0, "skipped": 0, "binaries": 0,
              "py_passed": 0, "py_failed": 0, "py_skipped": 0}
    groups = {}
    for s in steps:
        r = s.get("result") if isinstance(s.get("result"), dict) else None
        if not r or s["kind"] not in ("gtest", "pytest"):
            continue
        prefix = "" if s["kind"] == "gtest" else "py_"
        for k in ("passed", "failed", "skipped"):
            totals[prefix + k] += r.get(k, 0)
        if s["kind"] == "gtest":
            totals["binaries"] += 1
        for k in r.get("skips", []):
            g = groups.setdefault(k["reason"], {"reason": k["reason"], "steps": [], "tests": []})
            if s["name"] not in g["steps"]:
                g["steps"].append(s["name"])
            g["tests"].append(k["test"])
    if problems:
        verdict = "FAIL (%s)" % "; ".join(problems)
    elif incomplete:
        verdict = "PASS (incomplete: %s)" % "; ".join(incomplete)
    else:
        verdict = "PASS"
    skip_groups = sorted(groups.values(), key=lambda g: -len(g["tests"]))
    return {"verdict": verdict, "mode": mode, "steps": steps, "totals": totals,
            "skip_groups": skip_groups}


def _md_escape(text):
    return (text or "").replace("|", "\\|")


def render(a, machine, build_info):
    out = []
    w = out.append
    w("verdict: %s" % a["verdict"])
    w("")
    w("# semcl GPU pack run")
    w("")
    m = _key_values(machine)
    b = _key_values(build_info)
    w("- mode: %s (SEMCL_REQUIRE_CUDA %s)" % (a["mode"], m.get("SEMCL_REQUIRE_CUDA", "?")))
    w("- date: %s; host: %s" % (m.get("date", "?"), m.get("host", "?")))
    w("- GPU: %s (gpu_present: %s)" % (m.get("gpu", "none"), m.get("gpu_present", "?")))
    w("- glibc here %s, pack needs %s; %s" % (m.get("glibc", "?"), b.get("glibc_needed", "?"),
                                            m.get("libraries", "libraries: ?")))
    for k in ("python", "torch", "pytest"):
        if k in m:
            w("- %s: %s" % (k, m[k]))
    w("- pack: commit %s, built %s, nvcc %s, sm_%s" % (
        b.get("commit", "?"), b.get("built", "?"), b.get("nvcc", "?"),
        b.get("cuda_architectures", "?")))
    if "total" in m:
        w("- run time: %s" % m["total"])
    w("")
    w("## Steps")
    w("")
    w("| step | status | s | passed | failed | skipped | detail |")
    w("|---|---|---|---|---|---|---|")
    for s in a["steps"]:
        r = s.get("result") if isinstance(s.get("result"), dict) else {}
        g = r.get("gtest") if s["kind"] == "sanitizer" else r
        counts = ("%s" % g.get("passed", ""), "%s" % g.get("failed", ""),
                  "%s" % g.get("skipped", "")) if g else ("", "", "")
        detail = s["detail"]
        if s["kind"] == "gtest" and r.get("source") == "text":
            detail = (detail + "; " if detail else "") + "no XML: counted from the log"
        w("| %s | %s | %s | %s | %s | %s | %s |" % (
            s["name"], s["status"], s["seconds"], counts[0], counts[1], counts[2],
            _md_escape(detail)))
    totals = a["totals"]
    w("")
    w("GoogleTest: %(passed)d passed, %(failed)d failed, %(skipped)d skipped in %(binaries)d "
      "runs; pytest: %(py_passed)d passed, %(py_failed)d failed, %(py_skipped)d skipped."
      % totals)
    fails = []
    for s in a["steps"]:
        r = s.get("result") if isinstance(s.get("result"), dict) else {}
        if s["kind"] == "sanitizer":
            r = r.get("gtest", {})
        for f in r.get("failures", []):
            fails.append("- %s: %s %s" % (s["name"], f["test"], _one_line(f["message"], 240)))
    if fails:
        w("")
        w("## Failed tests")
        w("")
        out.extend(fails[:60])
        if len(fails) > 60:
            w("- ... and %d more (logs.tar.gz)" % (len(fails) - 60))
    if a["skip_groups"]:
        w("")
        w("## Skipped tests, by reason")
        w("")
        for g in a["skip_groups"]:
            names = ", ".join(g["tests"][:4]) + (", ..." if len(g["tests"]) > 4 else "")
            w("- %d in %s: %s (%s)" % (len(g["tests"]), ", ".join(g["steps"]),
                                      g["reason"] or "(no reason given)", names))
    san = [s for s in a["steps"] if s["kind"] == "sanitizer"]
    if san:
        w("")
        w("## compute-sanitizer")
        w("")
        w("| run | verdict | summary |")
        w("|---|---|---|")
        for s in san:
            r = s.get("result") or {}
            w("| %s | %s | %s |" % (s["name"], s["status"],
                                    _md_escape(r.get("summary") or s["detail"])))
    bw = None
    for s in a["steps"]:
        if s["kind"] == "bandwidth" and s.get("result"):
            bw = s["result"]
            w("")
            w("## Device copy bandwidth (read + write)")
            w("")
            w("%s: best %s GB/s, median %s GB/s (%s bytes per run)" % (
                bw.get("device", "?"), bw.get("best_GBps", "?"), bw.get("median_GBps", "?"),
                bw.get("bytes_per_run", "?")))
    best = bw.get("best_GBps") if bw else None
    for s in a["steps"]:
        rows = s.get("result") if s["kind"] == "bench" else None
        if not rows:
            continue
        w("")
        if s["name"] == "bench":
            w("## semcl-bench --backend cuda (pos_neg, fp32, mean)")
            w("")
            w("| pass | K | B | B·K | median ms | p20 ms | p80 ms | Gelem/s | GB/s | % of copy bw |")
            w("|---|---|---|---|---|---|---|---|---|---|")
            for r in rows:
                try:
                    pct = "%.0f%%" % (100.0 * float(r["gb_per_s"]) / best) if best else "n/a"
                    bk = int(r["B"]) * int(r["K"])
                except (KeyError, ValueError):
                    pct, bk = "n/a", "?"
                w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    r.get("pass"), r.get("K"), r.get("B"), bk, r.get("median_ms"),
                    r.get("p20_ms"), r.get("p80_ms"), r.get("gelem_per_s"), r.get("gb_per_s"),
                    pct))
        else:
            w("## Host cost per call: B=1, K=1, fwd_bwd, pointer checks on/off")
            w("")
            w("| pointer checks | median µs per call | p20 µs | p80 µs |")
            w("|---|---|---|---|")
            for r in rows:
                try:
                    w("| %s | %.2f | %.2f | %.2f |" % (
                        r.get("pointer_checks"), 1e3 * float(r["median_ms"]),
                        1e3 * float(r["p20_ms"]), 1e3 * float(r["p80_ms"])))
                except (KeyError, ValueError):
                    continue
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--logs", required=True)
    ap.add_argument("--pack", default="")
    ap.add_argument("--mode", default="gpu", choices=["gpu", "local"])
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    a = analyse(args.logs, args.mode)
    machine = _read(os.path.join(args.logs, "machine.txt")) or ""
    build_info = _read(os.path.join(args.pack, "BUILD-INFO.txt")) if args.pack else ""
    text = render(a, machine, build_info or "")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "summary.md"), "w") as f:
            f.write(text)
        with open(os.path.join(args.out, "summary.json"), "w") as f:
            json.dump(a, f, indent=1)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
