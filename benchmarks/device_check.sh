#!/usr/bin/env bash
# Everything that needs a GPU, in one call from the repository root of a machine with CUDA:
# the CUDA tests (bf16/channels_last/compile/pinned stream/torch SVMs against their CPU references),
# then the throughput benchmark with the study's VGG16 at 224 px at the thesis batch (32) and at 128.
#
#     bash benchmarks/device_check.sh                 # extra arguments go to throughput.py, e.g. --no-grid
#
# Outputs are also written under $OUT when it is set (the device tool's result folder).
set -uo pipefail
out="${OUT:-$(mktemp -d)}"
# the plugins are found through the installed distribution's entry points, so it must be installed
python -c "from importlib.metadata import version; version('tlbench')" 2>/dev/null || pip install -q --no-deps --no-build-isolation -e . \
    || { echo "could not install tlbench (pip install --no-deps -e . failed)"; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/cuda_tests.txt"
tests=${PIPESTATUS[0]}
python benchmarks/throughput.py --backbone vgg16 --image-size 224 --device cuda --images 6000 --compile "$@" \
    2>&1 | tee "$out/throughput.txt"
bench=${PIPESTATUS[0]}
echo "cuda tests exit $tests, benchmark exit $bench; outputs in $out"
exit $(( tests || bench ))
