#!/usr/bin/env bash
# Data-parallel training across two "hosts" on one machine: two network namespaces joined by a veth pair, Open MPI
# between them over TCP only (no shared memory), its remote daemon started through `ip netns exec` instead of ssh.
# Needs root, iproute2 and openmpi-bin. Usage, from the project root after `swift build -c release`:
#   scripts/mpi-two-hosts.sh DATA OUT.safetensors [train flags…]
# Prints the run's output; removes the namespaces at the end.
set -euo pipefail
data=$1; out=$2; shift 2
bin="$(pwd)/.build/release/quill-train"
a=quill-a b=quill-b
cleanup() { ip netns del $a 2>/dev/null || true; ip netns del $b 2>/dev/null || true; sed -i '/ quill-[ab]$/d' /etc/hosts; }
trap cleanup EXIT
cleanup
ip netns add $a; ip netns add $b
ip link add qveth-a type veth peer name qveth-b
ip link set qveth-a netns $a; ip link set qveth-b netns $b
ip -n $a addr add 10.77.0.1/24 dev qveth-a; ip -n $b addr add 10.77.0.2/24 dev qveth-b
for n in $a $b; do ip -n $n link set lo up; done
ip -n $a link set qveth-a up; ip -n $b link set qveth-b up
printf '10.77.0.1 quill-a\n10.77.0.2 quill-b\n' >> /etc/hosts
# The "ssh" Open MPI uses to start its daemon on the other host: run the command inside that host's namespace.
agent=$(mktemp); trap 'rm -f "$agent"; cleanup' EXIT
cat > "$agent" <<'AGENT'
#!/usr/bin/env bash
host=$1; shift
exec ip netns exec "$host" env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 sh -c "$*"
AGENT
chmod +x "$agent"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ip netns exec $a bash -c "echo > /dev/tcp/10.77.0.2/1" 2>/dev/null || true  # the link is up (a refused connection is an answer)
ip netns exec $a mpirun -np 2 --host quill-a:1,quill-b:1 --bind-to none \
  --mca plm_rsh_agent "$agent" --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 \
  --mca oob_tcp_if_include 10.77.0.0/24 --mca routed direct \
  "$bin" train --data "$data" --out "$out" --threads 1 "$@"
# What crossed the "network": the veth pair's counters (the gradients of every step travel over it).
echo "veth between the hosts: $(ip -n $a -s link show qveth-a | awk '/RX:/{getline; rx=$1} /TX:/{getline; tx=$1} END{print "host a received " rx " bytes, sent " tx " bytes"}')"
