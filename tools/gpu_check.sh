#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, in one prepared run. For a machine with torch, jax (with
# CUDA), pytest, pytest-xdist and hypothesis installed; asv is not needed.
#
#   suite        the property suite with every torch and jax array on the GPU (--device cuda)
#   activations  python -m benchmarks.report --device cuda: the activations at 2^27 float32
#   losses       the same for the losses, at their GPU sizes
#   others       the same for the optimizers and the layers
#
# PART (comma-separated, default "suite,activations") picks the steps. Each step has its own
# time limit in seconds (SUITE_S 240, ACTIVATIONS_S 150, LOSSES_S 150, OTHERS_S 150), so a
# slow step cannot starve the next; the suite's log is written as it runs (-v), so a step
# stopped at its limit still shows what it judged. Logs and reports go to $OUT (./gpu-out).
#
#   OUT=/tmp/gpu bash tools/gpu_check.sh
#   PART=losses,others bash tools/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
PART=${PART:-suite,activations}
# the test workers share the GPU: jax must not take 75% of its memory in each of them
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false

$PY - <<'EOF' 2>&1 | tee "$OUT/env.txt"
import os, torch, jax
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
print("torch", torch.__version__, gpu, "| jax", jax.__version__, jax.devices(), "| cpus", os.cpu_count())
EOF

ids_of() {  # the benchmark case ids of the given families
    $PY -c "import sys; from benchmarks.cases import CASES; \
print(','.join(c.id for c in CASES if c.family in sys.argv[1:]))" "$@"
}

report() {  # report NAME LIMIT ARGS...: benchmarks.report on $DEVICE into $OUT/NAME.md
    local name=$1 limit=$2
    shift 2
    timeout "$limit" $PY -m benchmarks.report --device "$DEVICE" "$@" \
        >"$OUT/$name.md" 2>"$OUT/$name.log"
    echo "== $name report: rc=$? (124: stopped at its ${limit} s limit)"
    cat "$OUT/$name.md"
}

if [[ ,$PART, == *,suite,* ]]; then
    timeout "${SUITE_S:-240}" $PY -m pytest properties -n "${WORKERS:-16}" -p no:cacheprovider \
        --device "$DEVICE" --hypothesis-profile="${PROFILE:-dev}" --require-all-backends \
        -v --tb=short -rfE >"$OUT/suite.log" 2>&1
    echo "== suite: rc=$? (124: stopped at its limit; the log holds what ran)"
    grep -cE "(PASSED|XFAIL|SKIPPED|XPASS) " "$OUT/suite.log" | sed 's/^/judged without failing: /'
    grep -E "^(FAILED|ERROR) |\] (FAILED|ERROR) " "$OUT/suite.log" | sort -u | head -80
    tail -3 "$OUT/suite.log"
fi
if [[ ,$PART, == *,activations,* ]]; then
    report activations "${ACTIVATIONS_S:-150}" --size "${SIZE:-134217728}" --rounds 3 \
        --repeat 5 --cases "$(ids_of activations)"
fi
if [[ ,$PART, == *,losses,* ]]; then
    report losses "${LOSSES_S:-150}" --rounds 1 --repeat 5 --cases "$(ids_of losses)"
fi
if [[ ,$PART, == *,others,* ]]; then
    report others "${OTHERS_S:-150}" --rounds 1 --repeat 5 --cases "$(ids_of optimizers layers)"
fi
