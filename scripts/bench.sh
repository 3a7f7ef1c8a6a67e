#!/usr/bin/env bash
# make bench: compares, in one run, the wall time of
#   banger vm run --rm -- true
# with a plain QEMU boot of the same kernel and rootfs until sshd answers,
# and measures bangerd's resident memory while it manages 10 VMs.
#
# Needs root, the built binaries (make build) and the default image, which
# it builds when missing. Everything runs inside a network namespace this
# script creates; no traffic leaves it.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/build/bin}
RUNS=${RUNS:-3}
VMS=${VMS:-10}
WORK=${BENCH_DIR:-/var/cache/banger-bench}
NS=bgbench-$$
CIDR_NET=172.31.88
export LC_ALL=C

[[ $(id -u) -eq 0 ]] || { echo "bench: run as root" >&2; exit 1; }
mkdir -p "$WORK"
RUN_DIR=$(mktemp -d /tmp/banger-bench-XXXXXX)
CFG=$RUN_DIR/config.toml
cat >"$CFG" <<TOML
state_dir = "$WORK/state"
runtime_dir = "$RUN_DIR/run"
bridge_name = "br-bgbench"
cidr = "$CIDR_NET.0/24"
[vm_defaults]
vcpu = 1
memory_mib = 512
disk_size = "1G"
TOML

banger() { "$BIN/banger" --config "$CFG" "$@"; }
nsbanger() { ip netns exec "$NS" "$BIN/banger" --config "$CFG" "$@"; }

cleanup() {
	set +e
	nsbanger vm list --json 2>/dev/null | grep -o '"name": "[^"]*"' | cut -d'"' -f4 | while read -r vm; do
		nsbanger vm delete "$vm" >/dev/null 2>&1
	done
	nsbanger daemon stop >/dev/null 2>&1
	[[ -n ${QEMU_PID:-} ]] && kill -9 "$QEMU_PID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$RUN_DIR"
}
trap cleanup EXIT

# The image is built outside the namespace (debootstrap needs the archive).
if ! banger image show debian-bookworm >/dev/null 2>&1; then
	echo "bench: building the default image first (not timed)"
	banger image build debian-bookworm
fi
banger daemon stop >/dev/null

ip netns add "$NS"
ip -n "$NS" link set lo up
nsbanger daemon start >/dev/null

IMG=$(nsbanger image show debian-bookworm --json)
ROOTFS=$(sed -n 's/.*"rootfs": "\(.*\)".*/\1/p' <<<"$IMG")
KDIR=$WORK/state/kernels/debian-bookworm
KEY=$WORK/state/ssh/id_ed25519

now() { date +%s.%N; }

# A plain QEMU boot of the same kernel, rootfs (through a qcow2 overlay, as
# banger does) and work disk, on a tap of the same bridge, until sshd
# completes a key login.
plain_boot() {
	local dir=$RUN_DIR/plain ip=$CIDR_NET.250 accel=$1
	mkdir -p "$dir/seed/.ssh"
	cp "$KEY.pub" "$dir/seed/.ssh/authorized_keys"
	chmod 700 "$dir/seed" "$dir/seed/.ssh"
	rm -f "$dir/root.qcow2" "$dir/work.ext4"
	local t0
	t0=$(now)
	qemu-img create -q -f qcow2 -F raw -b "$ROOTFS" "$dir/root.qcow2"
	truncate -s 1G "$dir/work.ext4"
	mkfs.ext4 -q -F -E root_owner=0:0 -d "$dir/seed" "$dir/work.ext4"
	ip -n "$NS" tuntap add bgbenchtap mode tap
	ip -n "$NS" link set bgbenchtap master br-bgbench up
	local cpu=max extra=" tsc_early_khz=$TSC"
	[[ $accel == kvm ]] && { cpu=host; extra=""; }
	ip netns exec "$NS" qemu-system-x86_64 -M microvm,acpi=on,x-option-roms=off,rtc=on -accel "$accel" -cpu "$cpu" \
		-m 512 -smp 1 -nodefaults -no-user-config -display none -serial "file:$dir/console.log" \
		-kernel "$KDIR/vmlinuz" -initrd "$KDIR/initrd.img" \
		-append "console=ttyS0 root=/dev/vda rw net.ifnames=0 panic=-1 quiet banger.ip=$ip/24 banger.gw=$CIDR_NET.1 banger.hostname=plain$extra" \
		-drive "id=d0,file=$dir/root.qcow2,format=qcow2,if=none" -device virtio-blk-device,drive=d0 \
		-drive "id=d1,file=$dir/work.ext4,format=raw,if=none" -device virtio-blk-device,drive=d1 \
		-netdev tap,id=n0,ifname=bgbenchtap,script=no,downscript=no -device virtio-net-device,netdev=n0,mac=52:54:00:1f:58:fa \
		-no-reboot &
	QEMU_PID=$!
	until ip netns exec "$NS" ssh -q -i "$KEY" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o ConnectTimeout=2 -o BatchMode=yes "root@$ip" true 2>/dev/null; do
		kill -0 "$QEMU_PID" 2>/dev/null || { echo "bench: plain qemu exited" >&2; exit 1; }
		sleep 0.2
	done
	local t1
	t1=$(now)
	kill -9 "$QEMU_PID"
	wait "$QEMU_PID" 2>/dev/null || true
	QEMU_PID=
	ip -n "$NS" link del bgbenchtap
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f\n", b - a}'
}

banger_run() {
	local t0 t1
	t0=$(now)
	nsbanger vm run --rm --name bench-run -- true >/dev/null 2>&1
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f\n", b - a}'
}

TSC=$(awk -F: '/cpu MHz/ {printf "%d", $2*1000; exit}' /proc/cpuinfo)
ACCEL=$(sed -n 's/.*"ok": *\(true\|false\).*/\1/p' "$WORK/state/cache/kvm-probe.json" 2>/dev/null || true)
nsbanger vm run --rm --name bench-warm -- true >/dev/null # warms the page cache and the KVM probe
ACCEL=$(sed -n 's/.*"ok": *\(true\|false\).*/\1/p' "$WORK/state/cache/kvm-probe.json")
[[ $ACCEL == true ]] && ACCEL=kvm || ACCEL=tcg

plain=() ours=()
for ((i = 1; i <= RUNS; i++)); do
	plain+=("$(plain_boot "$ACCEL")")
	ours+=("$(banger_run)")
	echo "run $i: plain qemu ${plain[-1]}s, banger vm run ${ours[-1]}s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
P=$(median "${plain[@]}")
B=$(median "${ours[@]}")
RATIO=$(awk -v b="$B" -v p="$P" 'BEGIN {printf "%.3f", b / p}')

# bangerd's resident memory while it manages $VMS VMs (created and booted
# one after another, then all running at once).
for ((i = 1; i <= VMS; i++)); do
	nsbanger vm create --name "bench-$i" >/dev/null
done
DPID=$(cat "$RUN_DIR/run/bangerd.pid")
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$DPID/status")
RUNNING=$(nsbanger vm list | grep -c ' running ')
RSS_MIB=$(awk -v k="$RSS_KB" 'BEGIN {printf "%.1f", k / 1024}')

echo
echo "accelerator: $ACCEL   runs: $RUNS (median)"
printf '%-44s %8ss\n' "plain qemu boot to sshd-ready" "$P"
printf '%-44s %8ss\n' "banger vm run --rm -- true" "$B"
printf '%-44s %8s   (target <= 1.10) %s\n' "ratio" "$RATIO" "$(awk -v r="$RATIO" 'BEGIN {print (r <= 1.10) ? "MET" : "MISSED"}')"
printf '%-44s %6s MiB  (target <= 40 MiB) %s\n' "bangerd RSS managing $RUNNING running VMs" "$RSS_MIB" "$(awk -v m="$RSS_MIB" 'BEGIN {print (m <= 40) ? "MET" : "MISSED"}')"
