#!/usr/bin/env bash
# A single-node SLURM cluster for the tests marked `slurm` (pytest -m slurm).
#
#   .ci/slurm.sh start   install Debian's slurmctld/slurmd/munge if missing (root, ~2 min),
#                        write a slurm.conf under $RUNNER_SLURM_DIR, start munged,
#                        slurmctld and slurmd, and wait until the node is idle
#   .ci/slurm.sh stop    stop the daemons this script started (by their pid files)
#   .ci/slurm.sh status  sinfo of the cluster
#
# Everything (config, state, spool, logs, pid files) lives in $RUNNER_SLURM_DIR
# (default /tmp/runner-slurm); tests find the cluster through $RUNNER_SLURM_DIR/slurm.conf.
# Non-default ports, so a site's own SLURM on this machine is left alone.
set -euo pipefail

DIR="${RUNNER_SLURM_DIR:-/tmp/runner-slurm}"
CONF="$DIR/slurm.conf"
CTLD_PORT="${RUNNER_SLURM_CTLD_PORT:-16817}"
SLURMD_PORT="${RUNNER_SLURM_SLURMD_PORT:-16818}"
export SLURM_CONF="$CONF"

log() { echo "slurm.sh: $*" >&2; }

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        log "SLURM is not installed and installing it needs root: apt-get install slurmctld slurmd slurm-client munge"
        exit 1
    fi
    log "installing slurmctld slurmd slurm-client munge (about 2 minutes)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
}

write_conf() {
    local host cpus mem
    host="$(hostname -s)"
    # The machine's cores (a node declaring more than it has is drained by slurmctld).
    cpus="${RUNNER_SLURM_CPUS:-$(nproc)}"
    # The machine's memory, so jobs asking for some (submitit's mem_gb) can be placed.
    mem="$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    cat >"$CONF" <<EOF
# Written by .ci/slurm.sh: a one-node cluster for runner's tests.
ClusterName=runner-test
SlurmctldHost=$host
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
    install
    write_conf
    if ! running /run/munge/munged.pid; then
        mkdir -p /run/munge
        [ -f /etc/munge/munge.key ] || /usr/sbin/mungekey --create >/dev/null 2>&1 || true
        chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null || true
        # As root with --force: the sandbox's folders do not pass munged's ownership checks.
        /usr/sbin/munged --force 2>/dev/null
        echo munged >"$DIR/munged.started"
        for _ in $(seq 1 20); do [ -S /run/munge/munge.socket.2 ] && break; sleep 0.5; done
    fi
    running "$DIR/slurmctld.pid" || slurmctld -c -f "$CONF"
    running "$DIR/slurmd.pid" || slurmd -c -f "$CONF"
    for _ in $(seq 1 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            log "cluster up: $(sinfo -h -o '%P %N %T' | tr '\n' ' ')(SLURM_CONF=$CONF)"
            return
        fi
        sleep 1
    done
    log "the node never became idle; logs in $DIR/log"
    tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    exit 1
}

stop() {
    local pidfile pid
    # Jobs first, so slurmd leaves none behind.
    if running "$DIR/slurmctld.pid"; then scancel --full -u "$(id -un)" 2>/dev/null || true; fi
    for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid"; do
        if running "$pidfile"; then
            pid="$(cat "$pidfile")"
            kill "$pid"
            for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    # munged only if this script started it (its pid file is munge's own).
    if [ -f "$DIR/munged.started" ] && running /run/munge/munged.pid; then
        pid="$(cat /run/munge/munged.pid)"
        kill "$pid"
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -f "$DIR/munged.started"
    log "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) sinfo ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
