#!/usr/bin/env bash
# Everything that needs a GPU, in one call from the repository root of a machine with CUDA (about 5-8
# minutes on an H100): the CUDA tests (bf16/channels_last, compile, the pinned stream, host waits per step,
# jobs on their own streams, the torch SVMs against scikit-learn), then the throughput benchmark with the
# study's VGG16 at 224 px at the thesis batch (32) and at 128.
#
#     bash perf/device_check.sh             # extra arguments go to throughput.py
#     GRID=1 bash perf/device_check.sh      # also time the end-to-end grid (a few minutes more)
#
# PYTHON picks the interpreter (default python3). Outputs are also written under $OUT when it is set
# (the device tool's result folder), so a run stopped at its time limit still leaves what it printed.
set -uo pipefail
export PYTHONUNBUFFERED=1
py="${PYTHON:-python3}"
out="${OUT:-$(mktemp -d)}"
# the plugins are found through the installed distribution's entry points, so it must be installed
"$py" -c "from importlib.metadata import version; version('tlbench')" 2>/dev/null \
    || "$py" -m pip install -q --no-deps --no-build-isolation -e . \
    || { echo "could not install tlbench ($py -m pip install --no-deps -e . failed)"; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
"$py" -c "import sys, torch, timm, sklearn; print('python', sys.version.split()[0], '| torch', torch.__version__,
          '| timm', timm.__version__, '| scikit-learn', sklearn.__version__)" | tee -a "$out/gpu.txt"
"$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/cuda_tests.txt"
tests=${PIPESTATUS[0]}
grid=(--no-grid)
[[ "${GRID:-0}" == 1 ]] && grid=()
"$py" perf/throughput.py --backbone vgg16 --image-size 224 --device cuda --images 4000 --compile \
    "${grid[@]}" "$@" 2>&1 | tee "$out/throughput.txt"
bench=${PIPESTATUS[0]}
echo "cuda tests exit $tests, benchmark exit $bench; outputs in $out"
exit $(( tests || bench ))
