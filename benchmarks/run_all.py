"""Runs every benchmark and records the runs (`make bench`).

Each benchmark runs in its own Python process (a fresh TensorFlow), in this
order: `ops_bench`, `served_latency`, `overhead`, `zoom_kernels`,
`xla_training`, `accuracy`, `information_check`, `serving_load`. As soon as one ends, its section (the
machine line of `benchmarks.machine.describe()` beside its figures, the
command, the wall time) is appended to `benchmarks/runs/<name>.md`, and
its line in the "Latest `make bench` runs" block of
`benchmarks/results.md` (between the `run_all` markers) is replaced;
nothing else in either file changes, so no recorded run is ever erased.
A benchmark that fails is recorded with its output and the others still
run; the exit status is 1 if any failed.

    python -m benchmarks.run_all            # the full runs (hours on 2 CPUs)
    python -m benchmarks.run_all --quick    # short runs (~25 min on 2 CPUs)
    python -m benchmarks.run_all --only overhead accuracy
"""

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results.md")
RUNS = os.path.join(ROOT, "benchmarks", "runs")
BEGIN, END = "<!-- run_all:begin -->", "<!-- run_all:end -->"

# name -> (arguments of the full run, arguments of the quick run, writes
# its own markdown section via --markdown)
BENCHMARKS = {
    "ops_bench": ([], ["--repeats", "10"], True),
    "served_latency": ([], ["--repeats", "5"], True),
    "overhead": ([], ["--repeats", "5"], True),
    "zoom_kernels": ([], ["--repeats", "10"], True),
    "xla_training": (["--steps", "20"], ["--steps", "5"], True),
    "accuracy": ([], ["--quick"], True),
    "information_check": ([], ["--steps", "60", "--canvas", "512", "832",
                                "--train-images", "48", "--val-images", "12"],
                          True),
    "serving_load": (["--model", "retinanet", "--clients", "16",
                      "--seconds", "60"],
                     ["--model", "retinanet", "--clients", "4",
                      "--seconds", "10", "--requests", "200"], False),
}


def machine_line():
    sys.path.insert(0, ROOT)
    from benchmarks import machine

    return machine.describe()


def run_benchmark(name, arguments, markdown):
    """Runs `python -m benchmarks.<name>`; returns `(section, ok)`."""
    command = [sys.executable, "-m", f"benchmarks.{name}", *arguments]
    with tempfile.TemporaryDirectory() as work:
        table = os.path.join(work, "section.md")
        if markdown:
            command += ["--markdown", table]
        print(f"[bench] {' '.join(command[1:])}", flush=True)
        began = time.perf_counter()
        # stdout and stderr apart: TensorFlow's start-up logs and library
        # warnings go to stderr and belong in a section only on failure.
        process = subprocess.run(
            command, cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        seconds = time.perf_counter() - began
        ok = process.returncode == 0
        output = process.stdout if ok else (
            f"{process.stdout}\n--- stderr ---\n{process.stderr}")
        print(output[-4000:], flush=True)
        if markdown and ok and os.path.exists(table):
            with open(table) as f:
                section = f.read().strip()
        else:
            section = (f"## {name}\n\n{machine_line()}\n\n```\n"
                       f"{output.strip()[-6000:]}\n```")
    status = "" if ok else f" **FAILED (exit {process.returncode})**"
    command_text = "python -m " + " ".join(
        [f"benchmarks.{name}", *arguments])
    return (f"{section}\n\n*`{command_text}`, {seconds:.0f} s{status}*\n",
            ok)


def record_run(name, section, ok, stamp, results=RESULTS, runs_dir=RUNS):
    """Appends `section` to `runs_dir/<name>.md` and points the results page
    at it; returns the path of the runs file."""
    os.makedirs(runs_dir, exist_ok=True)
    path = os.path.join(runs_dir, f"{name}.md")
    previous = _read(path)
    if previous is None:
        previous = (f"# `{name}` runs\n\n"
                    "Sections appended by `benchmarks/run_all.py`.\n")
    _write_atomically(path, previous.rstrip("\n") + "\n\n"
                      + f"<!-- make bench, {stamp} -->\n" + section.strip()
                      + "\n")
    status = "ok" if ok else "**FAILED**"
    link = os.path.relpath(path, os.path.dirname(os.path.abspath(results)))
    line = f"- `{name}`: {stamp}, {status}, [{link}]({link}) (last section)"
    page = _read(results) or "# keras_lzu benchmark results\n"
    if BEGIN not in page or END not in page:
        page = page.rstrip("\n") + (
            "\n\n## Latest `make bench` runs\n\n" f"{BEGIN}\n{END}\n")
    head, rest = page.split(BEGIN, 1)
    block, tail = rest.split(END, 1)
    lines = [entry for entry in block.strip().splitlines()
             if entry and not entry.startswith(f"- `{name}`:")]
    block = "\n".join(sorted(lines + [line]))
    _write_atomically(results, f"{head}{BEGIN}\n{block}\n{END}{tail}")
    return path


def _read(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read()


def _write_atomically(path, text):
    handle, temporary = tempfile.mkstemp(
        dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short runs of every benchmark")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS),
                        help="run only these benchmarks")
    parser.add_argument("--results", default=RESULTS,
                        help="the results page whose latest-runs block is "
                             "updated")
    parser.add_argument("--runs-dir", default=RUNS,
                        help="where each benchmark's sections are appended")
    args = parser.parse_args(argv)

    failed = []
    for name, (full, quick, markdown) in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        section, ok = run_benchmark(name, quick if args.quick else full,
                                    markdown)
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        path = record_run(name, section, ok, stamp, args.results,
                          args.runs_dir)
        print(f"[bench] appended to {path}", flush=True)
        if not ok:
            failed.append(name)
    print(f"[bench] updated {args.results}"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
