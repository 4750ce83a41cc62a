#!/usr/bin/env bash
# Everything that needs a GPU, in one call of at most 10 minutes from the repository root of a machine with CUDA
# (planned for about 7 on one H100), each step under its own time limit so that a hung or failed step costs only
# itself:
#
#   1. preflight: GPU, versions, tlbench installed (else found through PYTHONPATH);
#   2. the CUDA tests (tests/test_cuda.py);
#   3. perf/throughput.py: plain loop, tuned trainer (compiled), feature extraction, the torch SVC at the study's
#      sizes, the full-grid estimate, a SUMMARY line with each target met or not;
#   4. perf/smoke_run.py: `tlbench run --device cuda --compile` through the local launcher on 200 JPEG files;
#   5. with GRID=1, an end-to-end grid on the synthetic datasets (after the estimate, so a time-out costs nothing).
#
#     bash perf/device_check.sh          # on the GPU machine
#     bash perf/device_check.sh --cpu    # the same steps on the CPU, small sizes (checks the script itself)
#
# PYTHON picks the interpreter (default python3); INSTALL=0 skips the pip install and uses the PYTHONPATH
# fallback. Each step's output is also written under $OUT when set (the device tool's result folder).
set -uo pipefail
export PYTHONUNBUFFERED=1
export TORCH_LOGS="${TORCH_LOGS:-recompiles}"  # every Dynamo recompilation, with its reason, in the output
py="${PYTHON:-python3}"
out="${OUT:-$(mktemp -d)}"
mode=gpu
if [[ "${1:-}" == --cpu ]]; then mode=cpu; shift; fi
started=$SECONDS
declare -A status

step() {  # step NAME LIMIT_SECONDS COMMAND...: run it under its limit, its output also in $out/NAME.txt
    local name=$1 limit=$2
    shift 2
    echo
    echo "==== [$name] (limit ${limit}s, $((SECONDS - started))s into the check) $*"
    timeout --kill-after=15 "$limit" "$@" 2>&1 | tee "$out/$name.txt"
    local rc=${PIPESTATUS[0]}
    if [[ $rc == 124 || $rc == 137 ]]; then status[$name]="TIMED OUT after ${limit}s"
    elif [[ $rc == 0 ]]; then status[$name]=ok
    else status[$name]="failed (exit $rc)"; fi
}

preflight() {
    date -u
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    else
        echo "nvidia-smi: not found"
    fi
    "$py" - <<'EOF'
import importlib.metadata as metadata, platform, sys
import torch
print("python", sys.version.split()[0], "|", platform.platform())
for name in ("torch", "torchvision", "timm", "scikit-learn", "numpy", "pluggy", "click", "rich", "pillow"):
    try:
        print(f"  {name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(f"  {name} MISSING")
print("CUDA available:", torch.cuda.is_available(), "| torch CUDA", torch.version.cuda, "| cuDNN",
      torch.backends.cudnn.version())
EOF
    if [[ "${INSTALL:-1}" == 1 ]] && "$py" -m pip install -q --no-deps --no-build-isolation -e . ; then
        echo "tlbench installed (editable, no dependencies)"
    else
        # no pip, or no setuptools to build with: the package and its entry points through PYTHONPATH
        local site
        site=$(mktemp -d)
        "$py" perf/devpath.py "$site" || return 1
        export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
        echo "tlbench not installed: found through PYTHONPATH=$PYTHONPATH"
    fi
    "$py" -c "from importlib.metadata import entry_points, version; import benchmark
print('tlbench', version('tlbench'), 'from', benchmark.__file__, '|', len(entry_points(group='tlbench')), 'plugins')"
}

# preflight runs in this shell (not under `step`), so that a PYTHONPATH fallback reaches the later steps
echo "==== [preflight]"
if preflight > >(tee "$out/preflight.txt") 2>&1; then status[preflight]=ok; else status[preflight]=failed; fi
sleep 0.2  # let tee finish writing before the next step prints

if [[ $mode == gpu ]]; then
    step cuda_tests 120 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py
    step throughput 270 "$py" perf/throughput.py --backbone vgg16 --image-size 224 --device cuda --images 3000 \
        --compile --json "$out/throughput.json" "$@"
    step smoke_run 100 "$py" perf/smoke_run.py --device cuda -- --compile --backbone vgg16 --image-size 224
    grid_args=(--device cuda --compile --backbone vgg16 --image-size 224)
else
    step cuda_tests 120 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py
    step throughput 400 "$py" perf/throughput.py --device cpu --images 256 --threads 1 --workers 1 \
        --json "$out/throughput.json" "$@"
    step smoke_run 300 env TLBENCH_FAKE_GPUS=2 "$py" perf/smoke_run.py --device cpu -- --backbone test_resnet \
        --image-size 32
    grid_args=(--device cpu --backbone test_resnet --image-size 32 --preset cpu-quick)
fi
if [[ "${GRID:-0}" == 1 ]]; then
    grid_dir=$(mktemp -d)
    step grid 240 "$py" -c "from benchmark.cli import main; main()" run -d synth_cells -d synth_xray -s synth_shapes -s none --seeds 2,5 \
        --max-epochs 3 --out "$grid_dir/run" --cache-dir "$grid_dir/cache" "${grid_args[@]}"
fi

echo
echo "==== device check done in $((SECONDS - started))s; outputs in $out"
for name in preflight cuda_tests throughput smoke_run grid; do
    [[ -n "${status[$name]:-}" ]] && echo "  $name: ${status[$name]}"
done
grep -h "passed\|failed\|skipped" "$out/cuda_tests.txt" 2>/dev/null | tail -n 1 | sed 's/^/  cuda tests: /'
grep -h "^smoke run:" "$out/smoke_run.txt" 2>/dev/null | sed 's/^/  /'
grep -h "^SUMMARY" "$out/throughput.txt" 2>/dev/null || echo "SUMMARY: the throughput step printed none (see above)"
for name in "${!status[@]}"; do [[ ${status[$name]} == ok ]] || exit 1; done
