#!/usr/bin/env bash
# The GPU runs of bench/train_speed.py, as they were made on a lent H200 (results in bench/results/h200_*).
# The converted model does not travel to that machine, so the weights and tokens are random: same shapes,
# same computation, same speed. Usage: OUT=<folder> bash bench/device_run.sh
set -euo pipefail
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
OUT=${OUT:-bench/results}
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, torch.cuda.get_device_name(0))"
common=(--device cuda --random-init --warmup 5 --steps 20 --out "$OUT")
python3 bench/train_speed.py "${common[@]}" --name h200_fp32
python3 bench/train_speed.py "${common[@]}" --dtype bfloat16 --name h200_bf16
python3 bench/train_speed.py "${common[@]}" --dtype bfloat16 --batch-size 32 --seq-len 512 --name h200_bf16_32x512
