"""What every framework worker shares: the workload shapes, timing, memory and the JSON hand-off.

A worker is started by ``benchmarks/run.py`` as its own process, once per workload, so that each
framework's thread pools live alone; it writes one JSON object to the path given by ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
import traceback

THREADS = 2
CHARS = "abcdefghijklmnopqrstuvwxyz"


def rss_mb() -> float:
    """The resident set size right now, in MB (from /proc/self/statm)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return float("nan")


def peak_rss_mb() -> float:
    """The peak resident set size of this process so far, in MB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summary(samples, scale: float = 1.0, unit: str = "ms") -> dict:
    """Median, min and max of ``samples`` (seconds) times ``scale``, plus the raw samples."""
    values = [s * scale for s in samples]
    return {"unit": unit, "median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values), "samples": [round(v, 6) for v in values]}


def timed(fn, *args):
    began = time.perf_counter()
    fn(*args)
    return time.perf_counter() - began


def time_steps(step, warmup: int, repeats: int) -> tuple[list[float], list[float]]:
    """Run ``step()`` ``warmup`` times (the first one compiles/traces) then ``repeats`` times;
    the seconds of each warm-up call and of each timed call."""
    warm = [timed(step) for _ in range(warmup)]
    return warm, [timed(step) for _ in range(repeats)]


def training_step_times(make_model, make_step, count_params, config: dict) -> dict:
    """Workload (b) in any framework: ``make_model()`` (timed apart as the build), then the training step
    that ``make_step(model)`` returns, timed after its warm-up, the first call reported apart."""
    began = time.perf_counter()
    model = make_model()
    build_s = time.perf_counter() - began
    warm, times = time_steps(make_step(model), config["warmup"], config["repeats"])
    return {"metrics": {"ms_per_step": summary(times, 1e3)}, "build_s": build_s,
            "compile_s": warm[0], "warmup_s": warm, "params": count_params(model)}


def per_cell_step_times(cells, make_step, warmup: int, repeats: int) -> dict:
    """Workload (c) in any framework: ``make_step(cell)`` builds that cell's model and returns one
    training step; each cell's steps are timed after its warm-up, the first call reported apart."""
    metrics, compile_s = {}, {}
    for cell in cells:
        warm, times = time_steps(make_step(cell), warmup, repeats)
        metrics[f"{cell}_ms_per_step"] = summary(times, 1e3)
        compile_s[cell] = warm[0]
    return {"metrics": metrics, "compile_s": compile_s}


def alphabet_data(np):
    """The alphabet tutorial's data: X (25, 1, 1) letter index / 26, y (25, 26) one-hot next letter."""
    x = np.arange(25, dtype=np.float32).reshape(25, 1, 1) / float(len(CHARS))
    y = np.zeros((25, len(CHARS)), dtype=np.float32)
    y[np.arange(25), np.arange(1, 26)] = 1.0
    return x, y


def one_hot_batch(np, batch: int, steps: int, vocab: int, seed: int = 0):
    """Random one-hot inputs (B, T, V) float32 and next-id targets: one-hot (B, T, V) and ids (B, T)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=(batch, steps + 1))
    eye = np.eye(vocab, dtype=np.float32)
    return eye[ids[:, :-1]], eye[ids[:, 1:]], ids[:, 1:].astype(np.int64)


def per_char_summary(per_char_s: list[float], unit_note: str = "") -> dict:
    """ms per generated char: overall, and the first vs the last k chars (k = min(50, n // 4))."""
    n = len(per_char_s)
    k = max(1, min(50, n // 4))
    first, last = per_char_s[:k], per_char_s[-k:]
    out = {"ms_per_char": summary(per_char_s, 1e3),
           "ms_per_char_first": summary(first, 1e3),
           "ms_per_char_last": summary(last, 1e3)}
    out["_constant"] = {"k": k, "chars": n,
                        "last_over_first": statistics.median(last) / statistics.median(first)}
    return out


def base_info() -> dict:
    return {"python": platform.python_version(), "pid": os.getpid(),
            "env_threads": {k: os.environ.get(k) for k in
                            ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                             "NUMBA_NUM_THREADS", "OPENBLAS_CORETYPE")}}


def main(framework: str, setup, workloads: dict) -> None:
    """Parse ``--workload --config --out``, run the workload, write its JSON (or its error)."""
    parser = argparse.ArgumentParser(description=f"{framework} benchmark worker")
    parser.add_argument("--workload", required=True, choices=sorted(workloads))
    parser.add_argument("--config", required=True, help="JSON with the workload's shapes and counts")
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    args = parser.parse_args()
    config = json.loads(args.config)
    result = {"framework": framework, "workload": args.workload, **base_info()}
    try:
        began = time.perf_counter()
        result.update(setup())  # imports the framework and sets its threads
        result["import_s"] = time.perf_counter() - began
        result["rss_after_import_mb"] = rss_mb()
        result["peak_rss_after_import_mb"] = peak_rss_mb()
        result.update(workloads[args.workload](config))
        result["peak_rss_mb"] = peak_rss_mb()
        result["status"] = "ok"
    except Exception as error:  # the runner shows the error string instead of crashing
        result["status"] = "error"
        result["error"] = f"{type(error).__name__}: {error}"
        result["traceback"] = traceback.format_exc()
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "traceback"})[:2000])
    sys.stdout.flush()
