#!/usr/bin/env bash
# make bench: in one run, alternating, the median of RUNS boots of each of
#   (a) the floor: the image's kernel booted by a plain QEMU into an
#       initramfs that prints one line on the serial console;
#   (b) the baseline: a plain minimal Debian (systemd, sshd, Debian's kernel
#       and initrd, no banger parts) booted by a plain QEMU, to its first
#       SSH login (scripts/bench-baseline.sh builds it);
#   (c) banger vm run --rm -- true, cold, at banger's default VM shape;
#   (d) the same, warm from a snapshot, when this build has snapshots;
# then bangerd's resident memory while it manages VMS running VMs. Each
# figure is printed beside its target. docs/bench.md explains them.
#
# Environment: RUNS (default 3), VMS (default 10), BIN (default build/bin),
# BENCH_DIR (default /var/cache/banger-bench: banger's state and the cached
# baseline), DEBIAN_MIRROR (for the baseline's debootstrap).
#
# Needs root. Builds what is missing first, untimed and outside the network
# namespace (the image and the baseline need the Debian archive). Everything
# else runs inside a network namespace this script creates, with no NAT; no
# traffic leaves it. On exit nothing is left behind but the caches.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/build/bin}
RUNS=${RUNS:-3}
VMS=${VMS:-10}
WORK=${BENCH_DIR:-/var/cache/banger-bench}
MIRROR=${DEBIAN_MIRROR:-https://deb.debian.org/debian}
NS=bgbench-$$
BRIDGE=br-bgbench
CIDR_NET=172.31.88
BASELINE_IP=$CIDR_NET.250 # set in the baseline's image, see bench-baseline.sh
IMAGE=debian-bookworm     # banger's default image
MARK=BANGER-BENCH-FLOOR-READY
MACHINE=microvm,acpi=on,x-option-roms=off,rtc=on
export LC_ALL=C

die() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "run as root"
[[ $RUNS =~ ^[1-9][0-9]*$ && $VMS =~ ^[0-9]+$ ]] || die "RUNS must be >= 1 and VMS >= 0"
mkdir -p "$WORK"
RUN_DIR=$(mktemp -d /tmp/banger-bench-XXXXXX)
CFG=$RUN_DIR/config.toml
# No [vm_defaults]: the VMs get the shape banger picks for this host.
cat >"$CFG" <<TOML
state_dir = "$WORK/state"
runtime_dir = "$RUN_DIR/run"
bridge_name = "$BRIDGE"
cidr = "$CIDR_NET.0/24"
debian_mirror = "$MIRROR"
TOML

banger() { "$BIN/banger" --config "$CFG" "$@"; }
nsbanger() { ip netns exec "$NS" "$BIN/banger" --config "$CFG" "$@"; }
QEMU_PID=

cleanup() {
	set +e
	if [[ -n $QEMU_PID ]]; then
		kill -9 "$QEMU_PID" 2>/dev/null
		wait "$QEMU_PID" 2>/dev/null
	fi
	if ip netns pids "$NS" >/dev/null 2>&1; then
		nsbanger vm list --json 2>/dev/null | grep -o '"name": "[^"]*"' | cut -d'"' -f4 | while read -r vm; do
			nsbanger vm delete "$vm" >/dev/null 2>&1
		done
		nsbanger daemon stop >/dev/null 2>&1
		local pid
		pid=$(cat "$RUN_DIR/run/bangerd.pid" 2>/dev/null)
		[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
		ip netns del "$NS" # takes its bridge and taps with it
	else
		banger daemon stop >/dev/null 2>&1 # the one that built the image
	fi
	rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM

# --- untimed preparation, outside the namespace -----------------------------

# busybox-static builds the floor's initramfs; `make bench` installs it
# (scripts/deps.sh --dev).
[[ -x /bin/busybox ]] || die "busybox-static is missing: run scripts/deps.sh --dev (make bench does)"
if ! banger image show "$IMAGE" >/dev/null 2>&1; then
	echo "bench: building the default image first (not timed)"
	banger image build "$IMAGE"
fi
banger daemon stop >/dev/null
BASE=$(bash scripts/bench-baseline.sh "$WORK/baseline" "$MIRROR")

# The floor's initramfs: busybox and an /init that prints the marker and
# powers the machine off.
floor_initramfs() {
	local root=$RUN_DIR/floor
	mkdir -p "$root/bin" "$root/dev"
	cp /bin/busybox "$root/bin/busybox"
	mknod -m 600 "$root/dev/console" c 5 1
	printf '#!/bin/busybox sh\n/bin/busybox echo %s\n/bin/busybox poweroff -f\n' "$MARK" >"$root/init"
	chmod 755 "$root/init"
	(cd "$root" && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null) >"$RUN_DIR/floor.cpio"
}
floor_initramfs

# --- inside the namespace ----------------------------------------------------

ip netns add "$NS"
ip -n "$NS" link set lo up
nsbanger daemon start >/dev/null

json_field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | awk "NR == 1"; }
# The floor boots the kernel of banger's default image.
KNAME=$(nsbanger image show "$IMAGE" --json | json_field kernel)
KERNEL=$(nsbanger kernel show "$KNAME" --json | json_field path)
[[ -f $KERNEL ]] || die "no kernel file for image $IMAGE (kernel $KNAME: '$KERNEL')"

# One untimed run warms the page cache for banger's image, makes banger probe
# KVM and create its bridge, and tells the default shape and the accelerator
# banger chose. The baseline's files get into the page cache by being read.
cat "$BASE/rootfs.ext4" "$BASE/vmlinuz" "$BASE/initrd.img" >/dev/null
echo "bench: untimed warm-up run"
nsbanger vm run --name bench-shape -- true >"$RUN_DIR/warmup.log" 2>&1 || {
	cat "$RUN_DIR/warmup.log" >&2
	die "warm-up run failed"
}
VM_JSON=$(nsbanger vm show bench-shape --json)
nsbanger vm delete bench-shape >/dev/null
VCPUS=$(json_field vcpus <<<"$VM_JSON")
MEM=$(json_field memory_mib <<<"$VM_JSON")
ACCEL=$(json_field accel <<<"$VM_JSON")
[[ -n $ACCEL ]] || ACCEL=$(sed -n 's/.*"ok": *true.*/kvm/p' "$WORK/state/cache/kvm-probe.json")
[[ $ACCEL == kvm ]] || ACCEL=tcg
CPU=max
[[ $ACCEL == kvm ]] && CPU=host

# Under TCG banger passes tsc_early_khz= tsc=reliable (see internal/vmm/qemu/tsc.go); the
# plain boots get the same hint, without which a microvm guest can hang on a
# busy host.
TSC_ARG=
FLAGS=" $(grep -m1 '^flags' /proc/cpuinfo) "
if [[ $ACCEL != kvm && $FLAGS == *" constant_tsc "* && $FLAGS != *" aperfmperf "* ]]; then
	TSC_ARG=" tsc_early_khz=$(awk -F: '/cpu MHz/ {printf "%d", $2 * 1000 + 0.5; exit}' /proc/cpuinfo) tsc=reliable"
fi

# What this build has: vm run --cold, and image warm (snapshots).
COLD=() WARM=0
RUN_HELP=$(banger vm run --help)
IMAGE_HELP=$(banger image --help)
if grep -q -- --cold <<<"$RUN_HELP"; then COLD=(--cold); fi
if grep -qE '^[[:space:]]+warm[[:space:]]' <<<"$IMAGE_HELP"; then WARM=1; fi

# plain_qemu ARGS...: the QEMU command line both plain boots share (the same
# machine, accelerator, 2 vCPUs and 1 GiB).
plain_qemu() {
	exec ip netns exec "$NS" qemu-system-x86_64 -M "$MACHINE" -accel "$ACCEL" -cpu "$CPU" \
		-m 1024 -smp 2 -nodefaults -no-user-config -display none -no-reboot "$@"
}

# stop_qemu: ends the plain QEMU (it may have powered off already).
stop_qemu() {
	kill -9 "$QEMU_PID" 2>/dev/null || true
	wait "$QEMU_PID" 2>/dev/null || true
	QEMU_PID=
}

secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

# floor_boot: sets T to the seconds from QEMU's start to the marker on the
# serial console.
floor_boot() {
	local fd line t0 t1=
	t0=$EPOCHREALTIME
	exec {fd}< <(plain_qemu -serial stdio -kernel "$KERNEL" -initrd "$RUN_DIR/floor.cpio" \
		-append "console=ttyS0 panic=-1 quiet$TSC_ARG" </dev/null 2>&1)
	QEMU_PID=$!
	while IFS= read -r -t 120 -u "$fd" line; do
		echo "$line" >>"$RUN_DIR/floor-console.log"
		if [[ $line == *"$MARK"* ]]; then
			t1=$EPOCHREALTIME
			break
		fi
	done
	exec {fd}<&-
	stop_qemu
	[[ -n $t1 ]] || die "floor: no marker on the console: $(tail -n 5 "$RUN_DIR/floor-console.log")"
	T=$(secs "$t0" "$t1")
}

# baseline_boot: sets T to the seconds from QEMU's start to the first SSH
# login into the baseline guest. Its root disk is a fresh qcow2 overlay each
# time, made before the clock starts, so every boot is the same.
baseline_boot() {
	local dir=$RUN_DIR/baseline t0 t1
	mkdir -p "$dir"
	rm -f "$dir/root.qcow2"
	qemu-img create -q -f qcow2 -F raw -b "$BASE/rootfs.ext4" "$dir/root.qcow2"
	ip -n "$NS" tuntap add bgbenchtap mode tap
	ip -n "$NS" link set bgbenchtap master "$BRIDGE" up
	t0=$EPOCHREALTIME
	plain_qemu -serial "file:$dir/console.log" \
		-kernel "$BASE/vmlinuz" -initrd "$BASE/initrd.img" \
		-append "console=ttyS0 root=/dev/vda rw panic=-1 quiet$TSC_ARG" \
		-drive "id=d0,file=$dir/root.qcow2,format=qcow2,if=none" -device virtio-blk-device,drive=d0 \
		-netdev tap,id=n0,ifname=bgbenchtap,script=no,downscript=no \
		-device virtio-net-device,netdev=n0,mac=52:54:00:1f:58:fa &
	QEMU_PID=$!
	until ip netns exec "$NS" ssh -q -i "$BASE/id_ed25519" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o ConnectTimeout=30 -o BatchMode=yes "root@$BASELINE_IP" true 2>/dev/null; do
		kill -0 "$QEMU_PID" 2>/dev/null || die "baseline: qemu exited: $(tail -n 5 "$dir/console.log")"
		(($(secs "$t0" "$EPOCHREALTIME" | cut -d. -f1) < 300)) || die "baseline: no SSH login after 300 s"
		sleep 0.2
	done
	t1=$EPOCHREALTIME
	stop_qemu
	ip -n "$NS" link del bgbenchtap
	T=$(secs "$t0" "$t1")
}

# banger_run ARGS...: sets T to the seconds banger vm run --rm ARGS -- true
# takes.
banger_run() {
	local t0 t1
	t0=$EPOCHREALTIME
	nsbanger vm run --rm --name bench-run "$@" -- true >"$RUN_DIR/run.log" 2>&1 || {
		cat "$RUN_DIR/run.log" >&2
		die "banger vm run $* failed"
	}
	t1=$EPOCHREALTIME
	T=$(secs "$t0" "$t1")
}

if ((WARM)); then
	echo "bench: banger image warm $IMAGE (not timed)"
	nsbanger image warm "$IMAGE" >/dev/null
fi

floor=() base=() cold=() warm=()
for ((i = 1; i <= RUNS; i++)); do
	floor_boot
	floor+=("$T")
	baseline_boot
	base+=("$T")
	banger_run "${COLD[@]}"
	cold+=("$T")
	line="run $i: (a) ${floor[-1]}s  (b) ${base[-1]}s  (c) ${cold[-1]}s"
	if ((WARM)); then
		banger_run
		warm+=("$T")
		line+="  (d) ${warm[-1]}s"
	fi
	echo "$line"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
A=$(median "${floor[@]}")
B=$(median "${base[@]}")
C=$(median "${cold[@]}")
D=
((WARM)) && D=$(median "${warm[@]}")

# bangerd's resident memory while it manages $VMS VMs, created and booted one
# after another, then all running at once. They are small (1 vCPU, 512 MiB):
# the daemon's memory does not depend on the guests' shape.
for ((i = 1; i <= VMS; i++)); do
	nsbanger vm create --name "bench-$i" --vcpu 1 --memory 512 >"$RUN_DIR/create.log" 2>&1 || {
		cat "$RUN_DIR/create.log" >&2
		die "vm create bench-$i failed"
	}
done
DPID=$(cat "$RUN_DIR/run/bangerd.pid")
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$DPID/status")
RUNNING=$(nsbanger vm list | grep -c ' running ' || true)
RSS=$(awk -v k="$RSS_KB" 'BEGIN {printf "%.1f", k / 1024}')

# --- the report ----------------------------------------------------------------

calc() { awk "BEGIN {printf \"%.2f\", $1}"; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v <= t) ? "MET" : "MISSED"}'; }
# row WHAT TIME RATIO TARGET RESULT
row() { printf '%-52s %9s %7s   %-30s %s\n' "$@" | sed 's/ *$//'; }

COLD_T=$(calc "0.5 * $B") COLD_TXT="<= 0.5 x (b) = $(calc "0.5 * $B")s"
WARM_T=$(calc "0.1 * $B") WARM_TXT="<= 0.1 x (b) = $(calc "0.1 * $B")s"
if [[ $ACCEL == kvm ]]; then
	COLD_T=$(calc "($COLD_T < 1) ? $COLD_T : 1") COLD_TXT="<= 0.5 x (b) and <= 1s = ${COLD_T}s"
	WARM_T=0.15 WARM_TXT="<= 0.15s"
fi

echo
echo "accelerator: $ACCEL   runs: $RUNS (alternating; medians)   host: $(nproc) cores"
echo "plain boots (a), (b): QEMU -M microvm, 2 vCPUs, 1024 MiB"
echo "banger (c), (d): its default VM shape on this host, $VCPUS vCPU(s), $MEM MiB${COLD[*]:+ (cold with ${COLD[*]})}"
row "" "time" "x (b)" "target" "result"
row "(a) floor: kernel + initramfs to a console line" "${A}s" "$(calc "$A / $B")" "" ""
row "(b) plain Debian (systemd, sshd) to first SSH login" "${B}s" "1.00" "" ""
row "(c) banger vm run --rm -- true, cold" "${C}s" "$(calc "$C / $B")" "$COLD_TXT" "$(verdict "$C" "$COLD_T")"
if [[ -n $D ]]; then
	row "(d) banger vm run --rm -- true, warm" "${D}s" "$(calc "$D / $B")" "$WARM_TXT" "$(verdict "$D" "$WARM_T")"
else
	printf '%-52s %s   %s   %s\n' "(d) banger vm run --rm -- true, warm" "n/a (no snapshots in this build)" \
		"$WARM_TXT" MISSED
fi
row "bangerd RSS managing $RUNNING running VMs" "$RSS MiB" "" "<= 40 MiB" "$(verdict "$RSS" 40)"
