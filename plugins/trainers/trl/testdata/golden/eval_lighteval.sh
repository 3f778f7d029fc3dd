#!/usr/bin/env bash
# Rendered by polyglot's trl trainer: evaluates a model in language "de"
# with lighteval 0.13.0 (vLLM back end). Results are written under /scratch/eval/gemma-de.
set -euo pipefail

if ! python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo 'no GPU: the trl trainer needs CUDA; use trainer = "cpu" or run on a GPU node via executor "slurm"' >&2
  exit 3
fi

# Each task spec is task|shots; results are keyed the same way.
lighteval vllm \
  model_name=/scratch/students/gemma-de/merged,dtype=bfloat16,max_model_length=8192,seed=1234 \
  'global_mmlu_lite_de|0,m_rewardbench_de|0,mgsm_num_de|5' \
  --custom-tasks /opt/polyglot/tasks/study_tasks.py \
  --output-dir /scratch/eval/gemma-de
