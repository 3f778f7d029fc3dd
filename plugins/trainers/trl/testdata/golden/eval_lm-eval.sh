#!/usr/bin/env bash
# Rendered by polyglot's trl trainer: evaluates a model in language "de"
# with lm-eval 0.4.12. Results are written under /scratch/eval/gemma-de.
set -euo pipefail

if ! python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo 'no GPU: the trl trainer needs CUDA; use trainer = "cpu" or run on a GPU node via executor "slurm"' >&2
  exit 3
fi

# global_mmlu_lite, m_rewardbench: 0-shot (lm-eval sets shots per run, so runs are grouped by shots;
# each run writes its own results_<time>.json under the output path).
lm_eval run \
  --model hf \
  --model_args pretrained=/scratch/students/gemma-de/merged,dtype=bfloat16 \
  --tasks global_mmlu_de,m_rewardbench_de \
  --num_fewshot 0 \
  --batch_size auto \
  --seed 1234 \
  --output_path /scratch/eval/gemma-de \
  --include_path /opt/polyglot/tasks/lm_eval

# mgsm: 5-shot (lm-eval sets shots per run, so runs are grouped by shots;
# each run writes its own results_<time>.json under the output path).
lm_eval run \
  --model hf \
  --model_args pretrained=/scratch/students/gemma-de/merged,dtype=bfloat16 \
  --tasks mgsm_direct_de \
  --num_fewshot 5 \
  --batch_size auto \
  --seed 1234 \
  --output_path /scratch/eval/gemma-de \
  --include_path /opt/polyglot/tasks/lm_eval
