#!/usr/bin/env bash
# The gpu profile on a lent GPU machine, as one prepared script: every chapter and solutions notebook run by
# tools/run_gpu_profile.py (fresh kernel each; time, peak GPU memory, pass/fail), and bench/train_speed.py's three
# loops (book, Trainer, SFTTrainer) in bf16 and fp32. Everything it writes goes to $OUT.
#
# Nothing can be fetched there and a call carries 64 MiB: the converted model (models/, 0.5 GB) cannot travel, so
# the notebooks run with FTLIB_MODEL_DIR=random (SmolLM2-135M's shapes, seeded random weights; the asserts of cells
# tagged real-weights become recorded skips) and the bench with --random-init (same shapes, same speed).
#
# 1. Here, once per checkout (no GPU, about 10 s): `bash bench/gpu_profile_run.sh prepare` writes, ignored by git,
#    .whl/          the Python packages the machine lacks (device README, KINDS.md's package list): nbclient,
#                   ipykernel and what they need, trl, datasets, rouge_score, nltk; Python 3.12 wheels pinned to
#                   requirements-lock.txt, about 18 MB;
#    .device_model/ the offline model's folder without its weights (config, tokenizer, marker; about 3.5 MB), which
#                   FTLIB_MODEL_DIR=random reads SmolLM2's configuration and tokenizer from.
# 2. Two `run` calls, the second at once after the first (the machine stays warm 30 s; a fresh start costs
#    minutes of the 15). Notebooks first: the chapters feed the instructor guide's gpu column. Each notebook's
#    record is written as soon as it ends, so a call cut short keeps what it finished; BUDGET (seconds from the
#    script's start) stops it starting another notebook.
#    Call 1, chapters then solutions while the budget lasts:
#      run(command="BUDGET=470 bash bench/gpu_profile_run.sh notebooks", carry=[".whl", ".device_model"],
#          timeout_s=590)
#    Then, here: cp <files_at>/gpu_profile.json bench/results/  (untracked files travel with the tree).
#    Call 2, the bench (bf16 first), then the notebooks call 1 did not reach; T = status's budget_left_s - 20:
#      run(command="RESUME=1 BUDGET=<T - 90> bash bench/gpu_profile_run.sh bench-bf16 bench-fp32 notebooks",
#          carry=[".whl", ".device_model"], timeout_s=<T>)
#    Then, here: cp <files_at>/gpu_profile.json <files_at>/*_loops_*.json <files_at>/*_loops_*.md bench/results/
#    (<files_at>/failed/ holds each failed notebook, executed up to its failing cell), and call give_back.
#    Estimated, not measured: a bench dtype about 2 min (6 jobs, mostly process start and imports); a chapter 0.5
#    to 1.5 min at the gpu profile's step counts; a solutions notebook under 30 s. If call 1 ends with every
#    notebook done, call 2 needs about 4 min.
# A dry run of the logic on a CPU (smoke profile, a tiny bench; nothing here is a measurement):
#   OUT=/tmp/dry PROFILE=smoke BENCH_DEVICE=cpu NO_WHEELS=1 PATH=$PWD/.venv/bin:$PATH \
#   BENCH_EXTRA="--model-config /tmp/tiny_llama_config.json" bash bench/gpu_profile_run.sh solutions bench-fp32
# Parts: notebooks (chapters, then solutions not yet recorded), chapters, solutions, bench (= bench-bf16 bench-fp32).
# Known to fail there: chapter 9 loads its sentence encoder from the Hub on the gpu profile (HF_HUB_OFFLINE=1 makes
# that fail fast). QLoRA cells skip themselves: bitsandbytes is not installed there.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = prepare ]; then
    set -e
    py312=""  # the machine's Python is 3.12: rouge_score's wheel is built with the same version
    for candidate in python3.12 /root/.pyenv/versions/3.12*/bin/python3.12; do
        if "$candidate" -c pass 2>/dev/null; then py312=$candidate; break; fi
    done
    [ -n "$py312" ] || { echo "prepare needs a python3.12 here (to build rouge_score's wheel)"; exit 1; }
    pin() { grep -i "^$1==" requirements-lock.txt | sed 's/ *;.*//'; }
    wanted=(nbclient nbformat jupyter_client jupyter_core traitlets ipykernel comm debugpy ipython matplotlib-inline
            pyzmq tornado ipython_pygments_lexers jedi parso stack-data executing asttokens pure_eval prompt_toolkit
            wcwidth pexpect ptyprocess fastjsonschema jsonschema jsonschema-specifications referencing rpds-py
            platformdirs trl datasets dill multiprocess nltk)
    specs=(); for name in "${wanted[@]}"; do specs+=("$(pin "$name")"); done
    rm -rf .whl && mkdir .whl
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${specs[@]}" 2>&1 | grep -v "is ignored" || true
    "$py312" -m pip wheel -q --no-deps "$(pin rouge_score)" -w .whl 2>&1 | grep -v "is ignored\|as the 'root'" || true
    [ "$(ls .whl | wc -l)" = $(( ${#wanted[@]} + 1 )) ] || { echo "expected $(( ${#wanted[@]} + 1 )) wheels in .whl"; exit 1; }
    rm -rf .device_model && mkdir -p .device_model/smollm2-135m-instruct
    find models/smollm2-135m-instruct -maxdepth 1 -type f ! -name '*.safetensors' \
        -exec cp {} .device_model/smollm2-135m-instruct/ \;
    exclude=$(git rev-parse --git-path info/exclude)
    mkdir -p "$(dirname "$exclude")"
    for path in /.whl/ /.device_model/; do grep -qxF "$path" "$exclude" || echo "$path" >> "$exclude"; done
    echo "ready: .whl $(du -sh .whl | cut -f1) ($(ls .whl | wc -l) wheels), .device_model $(du -sh .device_model | cut -f1)"
    exit 0
fi

: "${OUT:?OUT must name the folder for the results (the device machine sets it)}"
start=$SECONDS
if [ "${NO_WHEELS:-0}" != 1 ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "installing .whl failed: run 'bash bench/gpu_profile_run.sh prepare' here and carry .whl"; exit 1; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export FTLIB_MODELS=$PWD/.device_model FTLIB_MODEL_DIR=random FTLIB_ARTIFACTS=/tmp/ftlib-artifacts
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TQDM_DISABLE=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
python3 - <<'EOF'
import importlib.metadata as m, importlib.util, sys
names = "torch transformers peft accelerate trl datasets pyarrow fsspec nbclient ipykernel bitsandbytes".split()
print("python", sys.version.split()[0], *(f"{n} {m.version(n) if importlib.util.find_spec(n) else '-'}" for n in names))
for name in ("trl", "datasets", "nbclient", "ipykernel", "rouge_score"):  # carried: do they import there?
    try:
        __import__(name)
    except Exception as error:
        print(f"import {name} FAILED: {error!r}")
EOF
gpu=$(python3 -c "import torch; print(torch.cuda.get_device_name(0).split()[1].lower())" 2>/dev/null || echo gpu)
results=$OUT/gpu_profile.json
if [ "${RESUME:-0}" = 1 ] && [ -f bench/results/gpu_profile.json ]; then
    cp bench/results/gpu_profile.json "$results"  # call 1's records: call 2 adds to them and skips what they hold
fi
mkdir -p /tmp/ftlib-artifacts "$OUT"

notebooks() {  # the given notebooks not recorded yet (a rerun of call 1's work would waste the budget)
    python3 - "$results" "$@" <<'EOF'
import json, os, sys
done = json.load(open(sys.argv[1])) if os.path.exists(sys.argv[1]) else {}
print(" ".join(p for p in sys.argv[2:] if p not in done))
EOF
}
run_notebooks() {
    [ $# -gt 0 ] || { echo "(no notebook left to run)"; return 0; }
    local left=""; [ -n "${BUDGET:-}" ] && left="--budget $(( BUDGET - (SECONDS - start) ))"
    python3 tools/run_gpu_profile.py "$@" --profile "${PROFILE:-gpu}" --model-dir random --timeout 300 --out "$results" \
        --artifacts /tmp/ftlib-artifacts --save-failed "$OUT/failed" $left
}
bench() {  # $1: bfloat16 or float32
    local name=${gpu}_loops_$([ "$1" = bfloat16 ] && echo bf16 || echo fp32)
    # shellcheck disable=SC2086  # BENCH_EXTRA is a list of arguments
    python3 bench/train_speed.py --device "${BENCH_DEVICE:-cuda}" --random-init ${BENCH_EXTRA:-} --dtype "$1" --warmup 3 --steps 10 --keep-going \
        --loops book,trainer,sft_trainer --name "$name" --out "$OUT" || echo "bench $1: not every job ran"
}
status=0
for part in "$@"; do
    echo "=== $part ($(( SECONDS - start )) s in)"
    case $part in
        chapters) run_notebooks $(notebooks chapters/[0-9][0-9]_*.ipynb) || status=1 ;;
        solutions) run_notebooks $(notebooks chapters/solutions/[0-9][0-9]_*_solutions.ipynb) || status=1 ;;
        notebooks) run_notebooks $(notebooks chapters/[0-9][0-9]_*.ipynb chapters/solutions/[0-9][0-9]_*_solutions.ipynb) \
            || status=1 ;;
        bench) bench bfloat16; bench float32 ;;
        bench-bf16) bench bfloat16 ;;
        bench-fp32) bench float32 ;;
        *) echo "unknown part $part (chapters, solutions, notebooks, bench, bench-bf16, bench-fp32)"; exit 2 ;;
    esac
done
echo "=== done in $(( SECONDS - start )) s; results in $OUT"
exit $status
