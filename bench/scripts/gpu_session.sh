#!/usr/bin/env bash
# Everything the project still has to measure on a GPU, for a session lent one
# (the device machine: no network, its own python3 with torch/CUDA, onnx, a CPU-only
# onnxruntime, pillow, opencv, tqdm, pytest; no .venv). Run from the repository root:
#
#   bash bench/scripts/gpu_session.sh build test            # ~5 min: extension + CUDA tests
#   bash bench/scripts/gpu_session.sh build kernels inference   # the benchmark figures
#   bash bench/scripts/gpu_session.sh build masked-conv gatys training
#
# Stages run in the order given; each writes <stage>.log (and <stage>.json for the
# benchmarks) under $OUT (or ./out/gpu when OUT is unset) and the script goes on after a
# failed stage, exiting non-zero at the end if any failed. RESULTS.md's "NVIDIA H200"
# section lists the targets these figures are read against. onnxruntime-gpu is not
# installed there (and its wheel is too large to carry), so `inference` times PyTorch
# eager fp16 on CUDA and ONNX Runtime on the CPU only.
set -u
out="${OUT:-out/gpu}"
mkdir -p "$out"
python="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
status=0

run_stage() {  # name, command...
    local name=$1
    shift
    echo "== $name: $*"
    if "$@" >"$out/$name.log" 2>&1; then
        echo "   ok ($(tail -n 1 "$out/$name.log"))"
    else
        echo "   FAILED (exit $?), last lines of $out/$name.log:"
        tail -n 15 "$out/$name.log" | sed 's/^/     /'
        status=1
    fi
}

if [ $# -eq 0 ]; then
    echo "usage: $0 STAGE... (build test kernels inference training masked-conv gatys)" >&2
    exit 2
fi

for stage in "$@"; do
    case $stage in
        build)
            # nvidia-smi and the CUDA compiler first: a wrong machine fails here, not in a test.
            run_stage gpu nvidia-smi
            run_stage build "$python" -m pip install --no-build-isolation --no-deps --quiet . ;;
        test)
            # The kernels against their float64 CPU references, gradcheck and random shapes,
            # plus every CUDA-marked test elsewhere; -rs lists anything still skipped.
            run_stage test "$python" -m pytest -q -rs -p no:cacheprovider tests/ops tests/generate/test_pixelcnn.py ;;
        kernels | inference | training | masked-conv | gatys)
            run_stage "$stage" "$python" -m pyfast bench "$stage" --device cuda --no-progress \
                --json "$out/$stage.json" --markdown "$out/$stage.md" ;;
        *)
            echo "unknown stage '$stage' (build test kernels inference training masked-conv gatys)" >&2
            status=2 ;;
    esac
done
exit $status
