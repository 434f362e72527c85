"""Runs every benchmark and writes `benchmarks/results.md` (`make bench`).

Each benchmark runs in its own Python process (a fresh TensorFlow), in this
order: `ops_bench`, `overhead`, `accuracy`, `information_check`,
`serving_load`. Every section of the results records the machine
(`benchmarks.machine.describe()`) beside its figures. A benchmark that
fails is reported in its section and the others still run; the exit status
is 1 if any failed.

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

# name -> (arguments of the full run, arguments of the quick run, writes
# its own markdown section via --markdown)
BENCHMARKS = {
    "ops_bench": ([], ["--repeats", "10"], True),
    "overhead": ([], ["--repeats", "5"], True),
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short runs of every benchmark")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS),
                        help="run only these benchmarks")
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args(argv)

    sections, failed = [], []
    for name, (full, quick, markdown) in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        section, ok = run_benchmark(name, quick if args.quick else full,
                                    markdown)
        sections.append(section)
        if not ok:
            failed.append(name)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    header = (
        "# keras_lzu benchmark results\n\n"
        f"Written by `python -m benchmarks.run_all"
        f"{' --quick' if args.quick else ''}` on {stamp}. See "
        "`benchmarks/README.md` for what each benchmark measures.\n\n"
        f"{machine_line()}\n"
    )
    with open(args.output, "w") as f:
        f.write(header + "\n" + "\n".join(sections))
    print(f"[bench] wrote {args.output}"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
