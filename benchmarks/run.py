"""Side-by-side benchmarks of scratchrnn, Keras 3 (TensorFlow) and PyTorch on a CPU.

    python benchmarks/run.py [--quick] [--only a,b,...] [--frameworks scratchrnn,keras,pytorch]
                             [--out benchmarks/results]

Workloads (float32), the same shapes in every framework (issue 3):
  (a) the alphabet tutorial: stateful LSTM(50) on (1, 1, 1), Dense(26, softmax), Adam, CE,
      300 epochs of fit(batch_size=1, shuffle=False) + reset_states (25 steps each)
  (b) char-gen training step: 3 x LSTM(700, return_sequences) + TimeDistributed(Dense(68)) + softmax,
      B 12, T 100, one-hot V 68, Adam, CE
  (c) LSTM(128) / GRU(128) / SimpleRNN(128) + TimeDistributed(Dense(65)) + softmax, B 32, T 50, V 65
  (d) generating 200 chars from the (b) model with random weights, one char at a time
  (e) the peak resident memory of the (b) process

Every (framework, workload) runs in its own process (benchmarks/workers/<framework>_worker.py) with
2 threads, so thread pools never share a process. Compile/trace time (first call) is reported apart
from the steady state (medians over repeated calls, min-max beside them). The script writes
<out>/results.json, <out>/chart.png and RESULTS.md (benchmarks/RESULTS.md for the default --out,
<out>/RESULTS.md otherwise). A framework that is not installed is reported as "not installed"; a
worker that fails is reported with its error string. ``--tiny`` shrinks every shape (for the tests).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = HERE / "results"
WORKLOADS = ("a", "b", "c", "d", "e")
FRAMEWORKS = {  # name -> (worker module file, modules that must be importable)
    "scratchrnn": ("scratchrnn_worker.py", ("numpy", "scratchrnn")),
    "keras": ("keras_worker.py", ("keras", "tensorflow")),
    "pytorch": ("pytorch_worker.py", ("torch",)),
}
PEERS = ("keras", "pytorch")
THREADS = 2
CELLS = ["lstm", "gru", "simple_rnn"]

CONFIGS = {
    "full": {
        "a": {"epochs": 300},
        "b": {"batch": 12, "steps": 100, "vocab": 68, "units": 700, "layers": 3, "warmup": 2, "repeats": 20},
        "c": {"batch": 32, "steps": 50, "vocab": 65, "units": 128, "cells": CELLS, "warmup": 3,
              "repeats": 50},
        "d": {"units": 700, "layers": 3, "vocab": 68, "chars": 200, "prefix_chars": 200},
    },
    "quick": {
        "a": {"epochs": 20},
        "b": {"batch": 12, "steps": 100, "vocab": 68, "units": 700, "layers": 3, "warmup": 1, "repeats": 3},
        "c": {"batch": 32, "steps": 50, "vocab": 65, "units": 128, "cells": CELLS, "warmup": 2,
              "repeats": 10},
        "d": {"units": 700, "layers": 3, "vocab": 68, "chars": 100, "prefix_chars": 20},
    },
    "tiny": {
        "a": {"epochs": 3},
        "b": {"batch": 2, "steps": 5, "vocab": 7, "units": 8, "layers": 2, "warmup": 1, "repeats": 2},
        "c": {"batch": 2, "steps": 4, "vocab": 7, "units": 8, "cells": CELLS, "warmup": 1, "repeats": 2},
        "d": {"units": 8, "layers": 2, "vocab": 7, "chars": 8, "prefix_chars": 4},
    },
}
# Sizes that take the same compiled paths as the full ones (more than 256 batch x units, 16 steps or
# more: the "blas" loops with MKL's packed products), small enough to run in seconds; ``fill_numba_cache``.
CACHE_FILL = {
    "a": {"epochs": 1},
    "b": {"batch": 4, "steps": 16, "vocab": 7, "units": 80, "layers": 2, "warmup": 1, "repeats": 1},
    "c": {"batch": 4, "steps": 16, "vocab": 7, "units": 80, "cells": CELLS, "warmup": 1, "repeats": 1},
    "d": {"units": 80, "layers": 2, "vocab": 7, "chars": 4, "prefix_chars": 2},
}
TIMEOUT_S = {"full": 1200, "quick": 300, "tiny": 120}

# (workload, metric) -> row label; the order of the tables
METRICS = {
    "a": [("train_300_epochs_s", "300 epochs, steady state (s) = median epoch x 300")],
    "b": [("ms_per_step", "training step (ms)")],
    "c": [(f"{cell}_ms_per_step", f"{name}(128) training step (ms)")
          for cell, name in zip(CELLS, ("LSTM", "GRU", "SimpleRNN"))],
    "d": [("ms_per_char", "ms per char (Keras: the tutorial's prefix re-run)"),
          ("ms_per_char_first", "ms per char, first k chars"),
          ("ms_per_char_last", "ms per char, last k chars"),
          ("ms_per_char_stateful", "ms per char, Keras stateful copy stepping 1 char"),
          ("ms_per_char_stateful_first", "  same, first k chars"),
          ("ms_per_char_stateful_last", "  same, last k chars")],
}
TITLES = {
    "a": "(a) Alphabet tutorial: stateful LSTM(50), batch 1, Adam, 300 epochs x 25 steps",
    "b": "(b) Char-gen training step: 3 x LSTM(700), B 12, T 100, V 68, Adam",
    "c": "(c) One recurrent layer of 128, B 32, T 50, V 65, training step",
    "d": "(d) Generating chars from the 3 x LSTM(700) model, state carried",
    "e": "(e) Peak resident memory of the (b) process",
}
TARGETS = {
    "a": "<= 1.0 s for 300 epochs and >= 5x faster than PyTorch",
    "b": "scratchrnn / PyTorch <= 1.0",
    "c": "each cell at or below PyTorch's time",
    "d": "<= 1.5 ms per char, constant in length (last-k / first-k median <= 1.25)",
    "e": "<= 400 MB peak resident memory",
}
CONSTANT_TOLERANCE = 1.25
BUSY_THRESHOLD = 0.15  # share of all CPUs busy before a worker starts that marks a run as noisy


# -- running the workers -----------------------------------------------------------------------------
def missing_modules(framework: str) -> list[str]:
    """The modules ``framework`` needs that cannot be imported (all of them for an unknown name).
    BENCH_PRETEND_MISSING=name1,name2 makes frameworks look uninstalled (for tests)."""
    pretend = {n.strip() for n in os.environ.get("BENCH_PRETEND_MISSING", "").split(",") if n.strip()}
    if framework not in FRAMEWORKS:
        return [framework]
    if framework in pretend:
        return list(FRAMEWORKS[framework][1])
    return [m for m in FRAMEWORKS[framework][1] if importlib.util.find_spec(m) is None]


def worker_env(threads: int) -> dict:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                 "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[name] = str(threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["KERAS_BACKEND"] = "tensorflow"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def cpu_busy(seconds: float = 0.5) -> float | None:
    """The fraction of all CPUs busy over ``seconds`` (from /proc/stat), while this script sleeps:
    other processes' load just before a worker starts; None where /proc/stat is missing."""
    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return None if total1 == total0 else 1.0 - (idle1 - idle0) / (total1 - total0)


def wait_idle(limit_s: float) -> float:
    """Wait (up to ``limit_s``) until other processes use at most BUSY_THRESHOLD of the CPUs; the
    seconds waited."""
    began = time.perf_counter()
    while limit_s > 0 and time.perf_counter() - began < limit_s:
        busy = cpu_busy(1.0)
        if busy is None or busy <= BUSY_THRESHOLD:
            break
    return time.perf_counter() - began


def run_worker(framework: str, workload: str, config: dict, timeout: float, threads: int,
               idle_wait_s: float = 0.0) -> dict:
    script = HERE / "workers" / FRAMEWORKS[framework][0]
    waited = wait_idle(idle_wait_s)
    load_before = os.getloadavg()[0]
    busy_before = cpu_busy()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, str(script), "--workload", workload, "--config", json.dumps(config),
                   "--out", str(out)]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  env=worker_env(threads), cwd=str(REPO))
        except subprocess.TimeoutExpired:
            return {"status": "error", "error": f"timed out after {timeout:.0f} s",
                    "wall_s": time.perf_counter() - began}
        if out.exists():
            result = json.loads(out.read_text())
        else:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
            result = {"status": "error",
                      "error": f"worker exited with code {proc.returncode}: " + " | ".join(tail)}
    result["wall_s"] = time.perf_counter() - began
    result["loadavg_1min_before"] = load_before
    result["cpu_busy_before"] = busy_before
    result["waited_for_idle_s"] = waited
    result["loadavg_1min_after"] = os.getloadavg()[0]
    return result


def fill_numba_cache(workloads, threads: int) -> float:
    """Run scratchrnn's workloads once at small sizes (``CACHE_FILL``), so that its Numba kernels are
    compiled and cached on disk before anything is timed: every timed process then loads them, as a
    user's second run would, and the peak memory of (e) is that of training rather than of compiling.
    Returns the wall seconds (shown in RESULTS.md; a few seconds when the cache was already full)."""
    began = time.perf_counter()
    for workload in workloads:
        run_worker("scratchrnn", workload, CACHE_FILL[workload], TIMEOUT_S["full"], threads)
    return time.perf_counter() - began


# -- reading the results -----------------------------------------------------------------------------
def metric(results: dict, framework: str, workload: str, name: str):
    """The summary dict of one metric, or None."""
    result = results.get(framework, {}).get(workload, {})
    if result.get("status") != "ok":
        return None
    return result.get("metrics", {}).get(name)


def median(results, framework, workload, name):
    m = metric(results, framework, workload, name)
    return None if m is None else m["median"]


def peak_memory(results, framework):
    result = results.get(framework, {}).get("b", {})
    return result.get("peak_rss_mb") if result.get("status") == "ok" else None


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def judge(results: dict) -> dict:
    """{workload: [(what, met: bool|None, detail)]} against the issue's targets."""
    out: dict = {}
    s = "scratchrnn"
    a = median(results, s, "a", "train_300_epochs_s")
    pa = median(results, "pytorch", "a", "train_300_epochs_s")
    out["a"] = [("<= 1.0 s", None if a is None else a <= 1.0, _fmt(a, "s")),
                (">= 5x faster than PyTorch", None if ratio(pa, a) is None else ratio(pa, a) >= 5.0,
                 _fmt(ratio(pa, a), "x"))]
    r = ratio(median(results, s, "b", "ms_per_step"), median(results, "pytorch", "b", "ms_per_step"))
    out["b"] = [("scratchrnn / PyTorch <= 1.0", None if r is None else r <= 1.0, _fmt(r, ""))]
    out["c"] = []
    for name, label in METRICS["c"]:
        r = ratio(median(results, s, "c", name), median(results, "pytorch", "c", name))
        out["c"].append((f"{label.split(' ')[0]} <= PyTorch", None if r is None else r <= 1.0, _fmt(r, "")))
    d = median(results, s, "d", "ms_per_char")
    flat = ratio(median(results, s, "d", "ms_per_char_last"), median(results, s, "d", "ms_per_char_first"))
    out["d"] = [("<= 1.5 ms/char", None if d is None else d <= 1.5, _fmt(d, "ms")),
                (f"constant (last/first <= {CONSTANT_TOLERANCE})",
                 None if flat is None else flat <= CONSTANT_TOLERANCE, _fmt(flat, ""))]
    e = peak_memory(results, s)
    out["e"] = [("<= 400 MB", None if e is None else e <= 400, _fmt(e, "MB"))]
    return out


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 0.1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def _met(flag) -> str:
    return {True: "met", False: "**missed**", None: "n/a"}[flag]


def _cell(results, framework, workload, name) -> str:
    result = results.get(framework, {}).get(workload)
    if result is None:
        return "not run"
    if result.get("status") == "not installed":
        return "not installed"
    if result.get("status") != "ok":
        return "error (see below)"
    m = result.get("metrics", {}).get(name)
    if m is None:
        return "-"
    return f"{_fmt(m['median'])} ({_fmt(m['min'])}-{_fmt(m['max'])}, n={m['n']})"


# -- writing -----------------------------------------------------------------------------------------
def environment(args, mode: str) -> dict:
    versions = {"python": platform.python_version()}
    for package in ("numpy", "numba", "mkl", "torch", "tensorflow", "tensorflow-cpu", "keras", "matplotlib",
                    "scratchrnn"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    if versions["tensorflow-cpu"] == "not installed" or versions["tensorflow"] == "not installed":
        versions.pop("tensorflow" if versions["tensorflow"] == "not installed" else "tensorflow-cpu")
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f" {f}" in text)
    except OSError:
        pass
    return {"mode": mode, "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable, REPO)
                                                          if sys.executable.startswith(str(REPO))
                                                          else sys.executable,
                                                          "benchmarks/run.py", *sys.argv[1:]]),
            "versions": versions, "cpu": cpu, "cpu_flags": flags, "cpu_count": os.cpu_count(),
            "platform": platform.platform(), "threads_requested": args.threads,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "scratchrnn_backend_forced": os.environ.get("BENCH_SCRATCHRNN_BACKEND"),
            "loadavg_at_start": list(os.getloadavg())}


def write_markdown(path: Path, data: dict) -> None:
    env, results, configs = data["environment"], data["results"], data["configs"]
    frameworks = data["frameworks"]
    peers = [p for p in PEERS if p in frameworks]
    lines = [f"# Benchmarks: scratchrnn vs Keras vs PyTorch ({env['mode']} run)", ""]
    if env["mode"] != "full":
        lines += [f"**This is a `--{env['mode']}` run**: fewer repeats/epochs/chars than the full run, "
                  "numbers scaled where noted; use it to check the script, not to quote.", ""]
    lines += ["Produced by `benchmarks/run.py`; each framework runs each workload in its own process "
              f"with {env['threads_requested']} threads. Times are medians over repeated calls after "
              "warm-up (min-max and the count beside them); compile/trace time (the first call) is "
              "reported apart. float32 everywhere.", ""]
    if "scratchrnn_cache_fill_s" in env:
        lines += [f"Before timing, scratchrnn ran its workloads once at small sizes to compile and cache its "
                  f"Numba kernels on disk ({env['scratchrnn_cache_fill_s']:.0f} s), so each timed process "
                  "loads them as a second run would.", ""]
    backends = {r.get("backend") for r in results.get("scratchrnn", {}).values() if r.get("backend")}
    products = {r.get("recurrent_products") for r in results.get("scratchrnn", {}).values()
                if r.get("recurrent_products")}
    lines += ["## Environment", "",
              f"- date: {env['date']}",
              f"- command: `{env['command']}`",
              f"- CPU: {env['cpu']} ({env['cpu_count']} logical CPUs; {env['cpu_flags']})",
              f"- platform: {env['platform']}",
              "- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
              f"- scratchrnn backend: {', '.join(sorted(backends)) or 'n/a'}",
              f"- scratchrnn per-step recurrent products: {', '.join(sorted(products)) or 'n/a'} "
              "(MKL when the optional `mkl` extra is installed; SCRATCHRNN_MKL=0 turns it off, "
              "SCRATCHRNN_THREADS=1 keeps scratchrnn's own work on one thread)",
              f"- OPENBLAS_CORETYPE: {env['OPENBLAS_CORETYPE'] or 'not set'}",
              f"- load average (1 min) at start: {env['loadavg_at_start'][0]:.2f}"]
    for fw in frameworks:
        first = next((r for r in results.get(fw, {}).values() if r.get("status") == "ok"), None)
        if first is not None:
            extra = f"; BLAS {first['blas']}" if first.get("blas") else ""
            lines.append(f"- threads, {fw}: {json.dumps(first.get('threads'))}; env "
                         f"{json.dumps({k: v for k, v in first['env_threads'].items() if v})}{extra}")
    busy = [(fw, w, r["cpu_busy_before"]) for fw, rs in results.items() for w, r in rs.items()
            if (r.get("cpu_busy_before") or 0) > BUSY_THRESHOLD]
    if busy:
        lines.append("- **the machine was busy**: share of all CPUs used by other processes just "
                     "before the worker started: " + ", ".join(f"{fw}/{w} {b:.0%}" for fw, w, b in busy)
                     + "; the workers shared the cores, so their times are inflated and noisy "
                     "(PyTorch's OpenMP pool suffers most); rerun on an idle machine before quoting")
    lines.append("")

    lines += ["## How each framework runs the workloads", "",
              "- same layer sizes everywhere; PyTorch counts one more bias vector per recurrent layer "
              "(b_ih and b_hh, which Keras and scratchrnn keep as one), so its parameter count is higher "
              "by 4H (LSTM) per layer; the arithmetic is the same",
              "- Keras and scratchrnn: the tutorials' code (`Sequential`, `fit(..., batch_size=1, "
              "shuffle=False)` + reset per epoch in (a), `train_on_batch` in (b)/(c), categorical "
              "cross-entropy on a softmax output, Adam with Keras defaults); Keras 3's Sequential has no "
              "`reset_states()`, so its stateful layers are reset one by one",
              "- PyTorch: `nn.LSTM/GRU/RNN(batch_first=True, num_layers=...)` + `nn.Linear`, "
              "`CrossEntropyLoss` on logits, `Adam(eps=1e-7)`; in (a) a hand loop of 25 steps of batch 1 "
              "per epoch with the state carried and detached, zeroed per epoch",
              "- (d): greedy choice of the next char; PyTorch and scratchrnn carry the state one char at a "
              "time; Keras runs the tutorial's `model.predict` on the whole growing prefix per char (and, "
              "as a second row, a stateful copy of the model stepping one char per `predict_on_batch`)",
              ""]
    verdicts = judge(results)
    for workload in data["workloads"]:
        lines += [f"## {TITLES[workload]}", ""]
        if workload == "e":
            lines += ["| framework | RSS after import (MB) | peak RSS of the (b) process (MB) |",
                      "|---|---|---|"]
            for fw in frameworks:
                r = results.get(fw, {}).get("b", {})
                if r.get("status") == "ok":
                    lines.append(f"| {fw} | {_fmt(r.get('rss_after_import_mb'))} | "
                                 f"{_fmt(r.get('peak_rss_mb'))} |")
                else:
                    lines.append(f"| {fw} | {_cell(results, fw, 'b', '')} | |")
            lines.append("")
        else:
            header = "| metric | " + " | ".join(frameworks) + " | " + " | ".join(
                f"scratchrnn / {p}" for p in peers) + " |"
            lines += [header, "|" + "---|" * (2 + len(frameworks) - 1 + len(peers))]
            for name, label in METRICS[workload]:
                if all(metric(results, fw, workload, name) is None for fw in frameworks) and any(
                        results.get(fw, {}).get(workload, {}).get("status") == "ok" for fw in frameworks):
                    continue
                if workload == "d" and name != "ms_per_char":
                    k = next((r.get("constant", {}).get("k") for r in results.get("scratchrnn", {})
                              .values() if r.get("constant")), None)
                    label = label.replace("first k", f"first {k}").replace("last k", f"last {k}")
                cells = [_cell(results, fw, workload, name) for fw in frameworks]
                mine = median(results, "scratchrnn", workload, name)
                ratios = [_fmt(ratio(mine, median(results, p, workload, name)), "x") for p in peers]
                lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
            lines.append("")
            lines += _details(results, frameworks, workload, configs)
        lines.append(f"Target (issue 3): {TARGETS[workload]}.")
        lines.append("")
        for what, flag, detail in verdicts.get(workload, []):
            lines.append(f"- {what}: {detail} -> {_met(flag)}")
        lines.append("")

    errors = [(fw, w, r) for fw, rs in results.items() for w, r in rs.items() if r.get("status") == "error"]
    missing = sorted({fw for fw, rs in results.items() for r in rs.values()
                      if r.get("status") == "not installed"})
    if missing or errors:
        lines += ["## Not installed / errors", ""]
        for fw in missing:
            lines.append(f"- {fw}: not installed")
        for fw, w, r in errors:
            lines.append(f"- {fw} ({w}): `{r.get('error')}`")
        lines.append("")
    lines += ["## Settings", "", "```", json.dumps(configs, indent=1), "```", ""]
    path.write_text("\n".join(lines))


def _details(results, frameworks, workload, configs) -> list[str]:
    """A line per framework with compile time and the other context numbers."""
    lines = []
    for fw in frameworks:
        r = results.get(fw, {}).get(workload, {})
        if r.get("status") != "ok":
            continue
        bits = [f"import {r.get('import_s', 0):.1f} s"]
        compile_s = r.get("compile_s")
        if isinstance(compile_s, dict):
            bits.append("first call " + ", ".join(f"{k} {_fmt(v, 's')}" for k, v in compile_s.items()))
        elif compile_s is not None:
            bits.append(f"first call / compile {_fmt(compile_s, 's')}")
        if workload == "a":
            epochs = r.get("epochs")
            bits.append(f"measured total for {epochs} epochs {_fmt(r.get('measured_total_s'), 's')} "
                        f"(first epoch {_fmt(r.get('first_epoch_s'), 's')})")
            if epochs and epochs != 300:
                bits.append(f"scaled to 300: {_fmt(r['measured_total_s'] * 300 / epochs, 's')}")
            if "final_accuracy" in r:
                bits.append(f"final loss {r['final_loss']:.3f}, accuracy {r['final_accuracy']:.2f}")
        if r.get("params"):
            bits.append(f"{r['params']:,} parameters")
        if r.get("method"):
            bits.append(r["method"])
        if workload == "d":
            for key in ("constant", "constant_stateful"):
                if r.get(key):
                    bits.append(f"{key.replace('_', ' ')}: last/first {r[key]['last_over_first']:.2f} "
                                f"over {r[key]['chars']} chars")
        if r.get("cpu_busy_before") is not None:
            bits.append(f"CPUs busy before start {r['cpu_busy_before']:.0%}")
        lines.append(f"- {fw}: " + "; ".join(bits))
    if lines:
        lines.append("")
    return lines


def write_chart(path: Path, data: dict) -> str | None:
    """Bars of each median (log scale) and of scratchrnn / peer ratios; None or why it was skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed"
    results, frameworks = data["results"], data["frameworks"]
    rows = []
    for workload in data["workloads"]:
        if workload == "e":
            values = {fw: peak_memory(results, fw) for fw in frameworks}
            if any(v is not None for v in values.values()):
                rows.append(("(e) peak MB", values))
            continue
        for name, _label in METRICS.get(workload, []):
            if name.endswith(("_first", "_last")) or name.startswith("ms_per_char_stateful"):
                continue
            values = {fw: median(results, fw, workload, name) for fw in frameworks}
            unit = (metric(results, next((f for f in frameworks if values[f] is not None), "x"),
                           workload, name) or {}).get("unit", "")
            if any(v is not None for v in values.values()):
                short = name.replace("_ms_per_step", "").replace("train_300_epochs_s", "300 epochs")
                rows.append((f"({workload}) {short} [{unit}]", values))
    if not rows:
        return "no results to plot"
    colors = {"scratchrnn": "#1f77b4", "keras": "#d62728", "pytorch": "#ff7f0e"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    width = 0.8 / max(1, len(frameworks))
    for i, fw in enumerate(frameworks):
        xs = [j + i * width for j in range(len(rows))]
        ys = [row[1].get(fw) or 0 for row in rows]
        left.bar(xs, ys, width, label=fw, color=colors.get(fw))
    left.set_yscale("log")
    left.set_xticks([j + width * (len(frameworks) - 1) / 2 for j in range(len(rows))])
    left.set_xticklabels([r[0] for r in rows], rotation=30, ha="right", fontsize=8)
    left.set_title("median per workload (log scale; lower is better)")
    left.legend()
    peers = [p for p in PEERS if p in frameworks]
    for i, peer in enumerate(peers):
        xs = [j + i * 0.4 for j in range(len(rows))]
        ys = [ratio(row[1].get("scratchrnn"), row[1].get(peer)) or 0 for row in rows]
        right.bar(xs, ys, 0.4, label=f"scratchrnn / {peer}", color=colors.get(peer))
    right.axhline(1.0, color="black", linewidth=0.8)
    right.set_yscale("log")
    right.set_xticks([j + 0.2 * (len(peers) - 1) for j in range(len(rows))])
    right.set_xticklabels([r[0] for r in rows], rotation=30, ha="right", fontsize=8)
    right.set_title("scratchrnn / peer (below 1: scratchrnn is faster / smaller)")
    if peers:
        right.legend()
    fig.suptitle(f"scratchrnn benchmarks ({data['environment']['mode']} run, "
                 f"{data['environment']['date']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats/epochs/chars (~3 minutes)")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes, for the tests only")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="workloads, e.g. a,c")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="e.g. scratchrnn,pytorch")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder for results.json and chart.png")
    parser.add_argument("--threads", type=int, default=THREADS, help="threads per framework")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each worker, wait up to SECONDS for other processes to leave the "
                             f"CPUs (at most {BUSY_THRESHOLD:.0%} busy); for shared machines")
    args = parser.parse_args(argv)

    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    workloads = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"--only: unknown workloads {unknown}; choose from {list(WORKLOADS)}")
    workloads = [w for w in WORKLOADS if w in workloads]
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    md_path = HERE / "RESULTS.md" if out == DEFAULT_OUT.resolve() else out / "RESULTS.md"

    configs = CONFIGS[mode]
    runs = [w for w in ("a", "b", "c", "d") if w in workloads or (w == "b" and "e" in workloads)]
    data = {"environment": environment(args, mode), "workloads": workloads, "frameworks": frameworks,
            "configs": {w: configs[w] for w in runs}, "results": {}}
    began = time.perf_counter()
    for fw in frameworks:
        data["results"][fw] = {}
        missing = missing_modules(fw)
        if fw == "scratchrnn" and not missing and mode != "tiny":
            data["environment"]["scratchrnn_cache_fill_s"] = fill_numba_cache(runs, args.threads)
        for workload in runs:
            if missing:
                data["results"][fw][workload] = {"status": "not installed", "missing": missing}
                continue
            print(f"[{time.perf_counter() - began:6.1f} s] {fw} ({workload}) ...", flush=True)
            result = run_worker(fw, workload, configs[workload], TIMEOUT_S[mode], args.threads,
                                args.wait_idle)
            data["results"][fw][workload] = result
            shown = {k: _fmt(v["median"], v["unit"]) for k, v in result.get("metrics", {}).items()}
            print(f"           {result.get('status')} in {result.get('wall_s', 0):.1f} s: "
                  f"{shown or result.get('error')}", flush=True)
        if missing:
            print(f"{fw}: not installed (missing {', '.join(missing)})", flush=True)
    data["environment"]["total_wall_s"] = time.perf_counter() - began
    data["verdicts"] = {w: [{"target": t, "met": m, "value": d} for t, m, d in v]
                        for w, v in judge(data["results"]).items() if w in workloads}

    (out / "results.json").write_text(json.dumps(data, indent=1))
    write_markdown(md_path, data)
    skipped = write_chart(out / "chart.png", data)
    print(f"wrote {out / 'results.json'}, {md_path}" + (f" (chart skipped: {skipped})" if skipped
                                                         else f", {out / 'chart.png'}"))
    print(f"total {data['environment']['total_wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
