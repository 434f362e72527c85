#!/usr/bin/env bash
# The whole suite, as `make test` runs it: everything on the TensorFlow
# backend, and the ops and layers suite (with the checks of the private Keras
# APIs they use) and the checks of the KerasHub wrappers
# (tests/models/test_families.py) on JAX and then PyTorch. The JAX and
# PyTorch passes run beside the TensorFlow one (mostly one busy core each on
# a 2-core machine); their logs print when all are done. PyTorch runs on one
# thread: with its default of one OpenMP thread per core, its threads spin
# waiting for a core the TensorFlow pass holds (test_families.py took 97 s
# of CPU instead of 22 s, 313 s instead of 62 s on a busy machine). CPU
# time of the passes: JAX 385 s, PyTorch 34 s (21 s without the wrappers).
# Usage: tests/run_all_backends.sh PYTHON
set -u
python=${1:-python}
logs=$(mktemp -d)
others=
trap 'kill "$others" 2>/dev/null; rm -rf "$logs"' EXIT

(
    for backend in jax torch; do
        threads=
        [ "$backend" = torch ] && threads=OMP_NUM_THREADS=1
        env KERAS_BACKEND=$backend $threads \
            "$python" -m pytest -q -p no:cacheprovider \
            tests/ops tests/layers tests/test_keras_internals.py \
            tests/models/test_families.py \
            -m "not tensorflow_only" \
            >"$logs/$backend.log" 2>&1
        echo $? >"$logs/$backend.rc"
    done
) &
others=$!

KERAS_BACKEND=tensorflow "$python" -m pytest -q --durations=15 tests
status=$?
wait "$others"

for backend in jax torch; do
    echo
    echo "== KERAS_BACKEND=$backend: tests/ops tests/layers tests/test_keras_internals.py tests/models/test_families.py =="
    cat "$logs/$backend.log"
    rc=$(cat "$logs/$backend.rc" 2>/dev/null || echo 1)
    [ "$rc" -eq 0 ] || status=1
done
exit "$status"
