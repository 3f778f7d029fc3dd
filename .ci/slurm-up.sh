#!/usr/bin/env bash
# slurm-up.sh — install and start a single-node Slurm cluster on loopback, for the
# executor tests in core/executor/slurm (CI runs it, then sets POLYGLOT_REQUIRE_SLURM=1).
#
# Idempotent: packages are installed only when missing, the config is rewritten only when it
# changes, daemons are (re)started only when they are down or the config changed. Needs root
# (apt-get, daemons). No systemd is assumed: the daemons are started directly, which also
# works in containers and micro-VMs.
#
# Choices that matter to the tests (see core/executor/slurm/doc.go):
#   - accounting_storage/none: no slurmdbd/MySQL; finished-job state is read from
#     `scontrol show job`, kept for MinJobAge seconds (set to 1 hour here).
#   - OverTimeLimit=0, KillWait=2: a job past its --time is killed promptly, so the
#     TIMEOUT test finishes within ~2 minutes (Slurm's smallest time limit is 1 minute).
#   - proctrack/linuxproc + task/none: no cgroup setup needed.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
STATE=/var/lib/polyglot-slurm
LOGS=/var/log/polyglot-slurm
PARTITION=${POLYGLOT_SLURM_PARTITION:-debug}

log() { echo "slurm-up: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  log "must run as root (installs packages and starts daemons); try: sudo $0"
  exit 1
fi

# 1. Packages. The dpkg lock timeout lets the script wait for another apt-get instead of failing.
need=()
command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
command -v munged >/dev/null 2>&1 || need+=(munge)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${need[@]}" slurm-wlm >&2
fi

# 2. Munge: the key is normally created by the package; create it if it is not.
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
  log "creating /etc/munge/munge.key"
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  runuser -u munge -- munged --force
  for _ in $(seq 1 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
fi

# 3. slurm.conf for this machine: its CPU count and most of its memory.
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {printf "%d", $2/1024}' /proc/meminfo)
real_mem=$((mem_mb * 9 / 10))
install -d -m 0755 "$CONF_DIR" "$STATE" "$STATE/ctld" "$STATE/d" "$LOGS"
new_conf=$(cat <<CONF
# Written by .ci/slurm-up.sh — single-node test cluster on loopback.
ClusterName=polyglot
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=256
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGS/jobcomp.log
MinJobAge=3600
OverTimeLimit=0
KillWait=2
InactiveLimit=0
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
)
changed=0
if [[ ! -f $CONF ]] || [[ "$(cat "$CONF")" != "$new_conf" ]]; then
  log "writing $CONF"
  printf '%s\n' "$new_conf" >"$CONF"
  changed=1
fi

# 4. Daemons. A pid file whose process is alive means "running".
alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop() {
  if alive "$1"; then
    kill "$(cat "$1")"
    for _ in $(seq 1 50); do alive "$1" || break; sleep 0.1; done
  fi
}
if ((changed)); then
  stop "$STATE/slurmd.pid"
  stop "$STATE/slurmctld.pid"
fi
if ! alive "$STATE/slurmctld.pid"; then
  log "starting slurmctld"
  slurmctld
fi
if ! alive "$STATE/slurmd.pid"; then
  log "starting slurmd"
  slurmd
fi

# 5. Wait until the node is idle (or mixed/allocated when jobs already run).
for _ in $(seq 1 120); do
  st=$(sinfo -h -N -n localhost -o '%T' 2>/dev/null || true)
  case "$st" in
    idle|mixed|allocated|completing)
      log "ready: node localhost is $st, partition $PARTITION"
      exit 0 ;;
    down*|drain*)
      # A node left down by an earlier, unclean run: bring it back.
      scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
log "node did not become idle within 60s; sinfo says: $(sinfo -N 2>&1 || true)"
log "see $LOGS/slurmctld.log and $LOGS/slurmd.log"
exit 1
