#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine (munged, slurmctld, slurmd; no systemd, no cgroups, no accounting
# daemon) so that the Slurm trial runner's tests run against real Slurm. Idempotent: a cluster that is already up with
# the same configuration is left alone; a changed configuration restarts the daemons. Needs root (uses sudo otherwise)
# and Debian's slurm-wlm and munge (build/setup.sh installs them).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then exec sudo -n "$0" "$@"; fi
for tool in munged slurmctld slurmd sinfo; do
  command -v "$tool" >/dev/null || { echo "slurm: $tool is missing; install slurm-wlm and munge (./build/setup.sh)" >&2; exit 1; }
done

node="$(hostname -s)"
conf=/etc/slurm/slurm.conf
log=/var/log/slurm
mkdir -p /etc/slurm "$log" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /run/munge
chown slurm:slurm "$log" /var/lib/slurm/slurmctld
chown munge:munge /run/munge
chmod 0755 /run/munge

# munge: one key shared by the daemons and the client commands (the package's postinst usually made it).
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  rm -f /run/munge/munged.pid /run/munge/munge.socket.2*
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { echo "slurm: munged did not start (see /var/log/munge/munged.log)" >&2; exit 1; }
fi

# The node as slurmd sees it (CPUs, sockets, cores, threads), with 90 % of its memory so that a slightly smaller
# reading later does not drain the node.
hw="$(slurmd -C | head -n 1 | sed -E 's/^NodeName=[^ ]+ //; s/ RealMemory=[0-9]+//')"
mem_mb=$(( $(slurmd -C | head -n 1 | sed -E 's/.*RealMemory=([0-9]+).*/\1/') * 9 / 10 ))
new_conf="$(cat <<CONF
# Written by build/slurm/start-single-node.sh: one node, no cgroups, no accounting daemon.
ClusterName=trainer
SlurmctldHost=$node(127.0.0.1)
AuthType=auth/munge
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$log/slurmctld.log
SlurmdLogFile=$log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MaxArraySize=1001
MinJobAge=300
SlurmdTimeout=60
NodeName=$node NodeAddr=127.0.0.1 $hw RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
)"

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop() { if running "$1"; then kill "$(cat "$1")"; for _ in $(seq 50); do running "$1" || break; sleep 0.1; done; fi; rm -f "$1"; }

if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$new_conf" ]; then
  stop /run/slurmd.pid
  stop /run/slurmctld.pid
  printf '%s\n' "$new_conf" > "$conf.tmp" && mv "$conf.tmp" "$conf"
  chmod 0644 "$conf"
fi
running /run/slurmctld.pid || slurmctld
running /run/slurmd.pid || slurmd -N "$node"

# Wait for the node to register; a node left down or drained by an earlier run is resumed.
for _ in $(seq 120); do
  state="$(sinfo -h -n "$node" -o %T 2>/dev/null | head -n 1 || true)"
  case "$state" in
    idle|mixed|allocated|completing) echo "slurm: node $node is $state"; exit 0 ;;
    down*|drain*|fail*) scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
echo "slurm: node $node did not become idle (state: ${state:-none}); see $log/slurmctld.log and $log/slurmd.log" >&2
exit 1
