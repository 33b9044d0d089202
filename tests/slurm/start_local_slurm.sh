#!/usr/bin/env bash
# A real single-node SLURM on this machine, to run the suite through profiles/slurm (tests/test_slurm_profile.py,
# benchmarks/slurm-local.md). Idempotent: installs what is missing, (re)writes the configs, starts munged,
# slurmctld and slurmd where they are not running (restarts them when a config changed) and waits until the
# node 'localhost' accepts jobs. Needs root and Debian/Ubuntu packages; no systemd needed.
#
#   sudo tests/slurm/start_local_slurm.sh            # set up / start, then print sinfo
#   sudo tests/slurm/start_local_slurm.sh --check    # also run srun/sbatch smoke jobs with --gpus=1
#   sudo tests/slurm/start_local_slurm.sh --stop     # stop the three daemons
#
# The node: 'localhost' with CPUS (default: nproc) CPUs and REAL_MEMORY MB (default: 20000 or 80 % of the
# machine's memory, the smaller; must not exceed the
# machine's memory, or slurmd drains the node), two fake GPUs (gres gpu:2 on /dev/null and /dev/zero; jobs get
# CUDA_VISIBLE_DEVICES, torch finds no CUDA and the suite trains on CPU), one partition 'gpu' (Default=YES,
# the profile's default slurm_partition), no accounting (no slurmdbd; the profile queries squeue).
set -euo pipefail

CPUS="${CPUS:-$(nproc)}"
MACHINE_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
REAL_MEMORY="${REAL_MEMORY:-$(( MACHINE_MB * 8 / 10 < 20000 ? MACHINE_MB * 8 / 10 : 20000 ))}"
ETC=/etc/slurm
RUN=/run/slurm
LOG=/var/log/slurm
NODE=localhost

log() { printf '[start_local_slurm] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts daemons)"

pid_alive() {  # pid_alive <pidfile>
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

stop_daemon() {  # stop_daemon <name> <pidfile>
    if pid_alive "$2"; then
        log "stopping $1 (pid $(cat "$2"))"
        kill "$(cat "$2")"
        for _ in $(seq 1 50); do pid_alive "$2" || break; sleep 0.2; done
        pid_alive "$2" && die "$1 did not stop"
    fi
    rm -f "$2"
}

if [ "${1:-}" = "--stop" ]; then
    stop_daemon slurmd "$RUN/slurmd.pid"
    stop_daemon slurmctld "$RUN/slurmctld.pid"
    stop_daemon munged /run/munge/munged.pid
    exit 0
fi

# --- 1. packages --------------------------------------------------------------------------------------------
missing=()
for pkg in munge slurmctld slurmd slurm-client; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    # policy-rc.d/systemd-less containers: the packages' own service starts fail harmlessly; we start by hand.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. configs -----------------------------------------------------------------------------------------------
changed=0
write_if_changed() {  # write_if_changed <path> ; content on stdin
    local tmp
    tmp="$(mktemp)"
    cat >"$tmp"
    if ! cmp -s "$tmp" "$1"; then
        install -m 0644 "$tmp" "$1"
        log "wrote $1"
        changed=1
    fi
    rm -f "$tmp"
}

mkdir -p "$ETC" "$RUN" "$LOG" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
chown slurm:slurm "$RUN" "$LOG" /var/lib/slurm/slurmctld

write_if_changed "$ETC/slurm.conf" <<EOF
# Written by tests/slurm/start_local_slurm.sh: single-node test cluster, no accounting, fake GPUs.
ClusterName=localcluster
SlurmctldHost=$NODE
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
ReturnToService=2
# Finished jobs stay visible to squeue for 5 minutes: the profile's slurm-status-command is squeue.
MinJobAge=300
SlurmdTimeout=300
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MEMORY Gres=gpu:2 State=UNKNOWN
PartitionName=gpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

write_if_changed "$ETC/gres.conf" <<EOF
# Two fake GPUs: device files that exist; no CUDA behind them.
NodeName=$NODE Name=gpu File=/dev/null
NodeName=$NODE Name=gpu File=/dev/zero
EOF

# --- 3. munge -------------------------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge
chown munge:munge /run/munge
chmod 0755 /run/munge
if ! pid_alive /run/munge/munged.pid; then
    log "starting munged"
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged
fi
for _ in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
munge -n | unmunge >/dev/null || die "munge does not work"

# --- 4. slurmctld and slurmd ----------------------------------------------------------------------------------
if [ "$changed" -eq 1 ]; then
    stop_daemon slurmd "$RUN/slurmd.pid"
    stop_daemon slurmctld "$RUN/slurmctld.pid"
fi
if ! pid_alive "$RUN/slurmctld.pid"; then
    log "starting slurmctld"
    /usr/sbin/slurmctld
fi
for _ in $(seq 1 100); do scontrol ping 2>/dev/null | grep -q "is UP" && break; sleep 0.2; done
scontrol ping | grep -q "is UP" || die "slurmctld not answering; see $LOG/slurmctld.log"
if ! pid_alive "$RUN/slurmd.pid"; then
    log "starting slurmd -N $NODE"
    /usr/sbin/slurmd -N "$NODE"
fi

# --- 5. wait for the node -------------------------------------------------------------------------------------
state=""
for i in $(seq 1 120); do
    state="$(sinfo -h -N -n "$NODE" -o %t 2>/dev/null | head -1)"
    case "$state" in
        idle|mix|alloc|comp) break ;;
        down*|drain*|drng*|fail*)
            # e.g. left DOWN by an earlier unclean stop: resume it once slurmd registered.
            [ "$i" -gt 5 ] && scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
done
case "$state" in
    idle|mix|alloc|comp) ;;
    *) scontrol show node "$NODE" >&2 || true
       die "node $NODE is '$state', not idle; see $LOG/slurmd.log and $LOG/slurmctld.log" ;;
esac
sinfo
sinfo -N -o "%N %c %m %G %P %t"

if [ "${1:-}" = "--check" ]; then
    log "srun --gres=gpu:1 hostname"
    srun --gres=gpu:1 hostname
    log "sbatch --gpus=1 --wait (prints CUDA_VISIBLE_DEVICES)"
    out="$(mktemp)"
    sbatch --gpus=1 --wait --output="$out" --wrap 'echo "job $SLURM_JOB_ID on $(hostname): CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES $(scontrol -d show job $SLURM_JOB_ID | grep -o "GRES=[^ ]*" | paste -sd " ")"' >/dev/null
    cat "$out"
    rm -f "$out"
fi
