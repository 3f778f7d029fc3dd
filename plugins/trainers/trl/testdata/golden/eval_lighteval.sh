#!/usr/bin/env bash
# Rendered by polyglot's trl trainer: evaluates a model in language "de"
# with lighteval. Results are written under /scratch/eval/gemma-de.
set -euo pipefail

if ! python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo 'no GPU: the trl trainer needs CUDA; use trainer = "cpu" or run on a GPU node via executor "slurm"' >&2
  exit 3
fi

# lighteval takes the shot count inside each task spec (suite|task|shots).
lighteval accelerate \
  model_name=/scratch/students/gemma-de/merged,dtype=bfloat16 \
  'community|global_mmlu_lite_de|0,community|m_rewardbench_mc_de|0,lighteval|mgsm_deu|5' \
  --output-dir /scratch/eval/gemma-de \
  --custom-tasks /opt/polyglot/tasks/study_tasks.py
