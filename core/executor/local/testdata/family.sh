#!/bin/sh
# A job with a child and a grandchild that both ignore SIGTERM, so only a SIGKILL to the
# whole process group stops them. Writes their PIDs to pids.txt, then waits.
sh -c 'trap "" TERM; echo "$$" >> pids.txt; exec sleep 300' &
sh -c 'trap "" TERM; sh -c "trap \"\" TERM; echo \$\$ >> pids.txt; exec sleep 300" & wait' &
echo "$$" >> pids.txt
echo started
wait
