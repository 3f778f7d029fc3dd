#!/bin/sh
# Writes to both streams, reads a file and an env var given by the job, exits with $1.
echo "out: $(cat input.txt)"
echo "err: $GREETING" >&2
printf 'no newline at end'
exit "$1"
