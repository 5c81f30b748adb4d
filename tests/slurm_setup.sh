#!/bin/bash
# Start a one-node SLURM cluster on this machine (munge, slurmctld, slurmd) for the SLURM test; needs root and
# Debian's slurm-wlm + munge (.ci/run installs them). Prints SKIP and exits 0 where it cannot.
set -u
command -v slurmctld > /dev/null && command -v munged > /dev/null || { echo "SKIP: slurm-wlm / munge not installed"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "SKIP: starting SLURM needs root"; exit 0; }
if sinfo -h -o %t 2>/dev/null | grep -q idle; then echo "SLURM already running"; exit 0; fi
H=$(hostname -s); CPUS=$(nproc); MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null; chmod 400 /etc/munge/munge.key
pgrep -x munged > /dev/null || runuser -u munge -- /usr/sbin/munged || /usr/sbin/munged --force
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=decar
SlurmctldHost=$H
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$H CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF
pgrep -x slurmctld > /dev/null || slurmctld
pgrep -x slurmd > /dev/null || slurmd
for i in $(seq 30); do sinfo -h -o %t 2>/dev/null | grep -q idle && { echo "SLURM: one node ($H, $CPUS CPUs) idle"; exit 0; }; sleep 1; done
echo "SKIP: SLURM did not come up (see /var/log/slurm/)"; exit 0
