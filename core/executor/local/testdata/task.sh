#!/bin/sh
# Array task: prints its index; task 1 fails with exit code 7.
echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT"
echo "$SLURM_ARRAY_TASK_ID" >> runs.txt
[ "$SLURM_ARRAY_TASK_ID" = 1 ] && exit 7
exit 0
