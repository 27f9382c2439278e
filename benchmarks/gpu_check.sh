#!/usr/bin/env bash
# The GPU checks of diffmem in one run: the CuPy half of the test suite (`-m gpu`), then the GPU benchmarks.
# Runs unchanged on any CUDA machine with CuPy (and, for the SDPA comparison, PyTorch); needs no registry: the
# package is used from the tree. Everything it prints is also written under OUTDIR.
#
#     bash benchmarks/gpu_check.sh OUTDIR [--quick]
#
# --quick: smaller benchmark shapes (a minute); without it the issue's shapes (P = 2^20), a few minutes on an H200.
set -uo pipefail
out=${1:?usage: bash benchmarks/gpu_check.sh OUTDIR [--quick]}
quick=${2:-}
cd "$(dirname "$0")/.."
mkdir -p "$out"
export PYTHONPATH="$PWD/lib${PYTHONPATH:+:$PYTHONPATH}" DIFFMEM_BACKEND=cupy MPLBACKEND=Agg PYTHONUNBUFFERED=1
status=0

run() {  # name, command...: tee the output to OUTDIR/name.txt, remember a failure, go on
    local name=$1; shift
    echo "::: $name"
    local start=$SECONDS
    "$@" 2>&1 | tee "$out/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "::: $name: exit $rc, $((SECONDS - start)) s" | tee -a "$out/summary.txt"
    [ "$rc" -eq 0 ] || status=1
}

run info python -c "import diffmem, json; print(json.dumps(diffmem.backend.info()))"
run nvidia-smi nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
# test_widgets and test_book need ipywidgets / PyYAML, which a bare GPU machine may lack; they hold no GPU test
run gpu-tests python -m pytest -m gpu -q -p no:cacheprovider --ignore=tests/test_widgets.py \
    --ignore=tests/test_book.py tests
run bench-score python benchmarks/bench_score.py $quick --json "$out/bench_score.json"
run bench-entropy python benchmarks/bench_entropy.py $quick --json "$out/bench_entropy.json"
echo "::: all done, exit $status" | tee -a "$out/summary.txt"
exit $status
