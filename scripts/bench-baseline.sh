#!/usr/bin/env bash
# Builds the baseline guest of make bench: a plain minimal Debian with no
# banger parts, the way a user would make one to boot under QEMU.
#
# Usage: scripts/bench-baseline.sh CACHE_DIR [MIRROR]
#
# The recipe: debootstrap --variant=minbase bookworm with systemd-sysv,
# openssh-server, linux-image-cloud-amd64 and initramfs-tools (so the guest
# boots Debian's own kernel with Debian's own initrd), a static address on
# the Ethernet link through systemd-networkd, and an ed25519 key for root.
# debootstrap checks the archive's signatures against Debian's keyring
# (package debian-archive-keyring) and fails without them, as banger's own
# build does. Nothing else is changed: no units masked, no banger agent, no banger init.
#
# The result is cached in CACHE_DIR/<key>, where the key is a digest of the
# recipe (the settings below, the mirror and the text of the build
# functions), so a changed recipe builds a new baseline. The script prints
# that directory, which holds rootfs.ext4, vmlinuz, initrd.img, id_ed25519
# (root's key) and recipe.txt. Needs root and the Debian archive, so it runs
# outside the bench's network namespace.
set -euo pipefail

readonly SUITE=bookworm
readonly PACKAGES=systemd-sysv,openssh-server,linux-image-cloud-amd64,initramfs-tools
# The guest's address on the bench bridge (scripts/bench.sh uses it).
readonly GUEST_ADDR=172.31.88.250/24
readonly ROOTFS_SIZE=2G
# Debian's archive keyring: debootstrap checks the Release signature with it.
readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() {
	printf 'bench-baseline.sh: %s\n' "$*" >&2
	exit 1
}

# step NAME CMD...: runs CMD with its output in the build log, and on failure
# shows the end of that log.
step() {
	local name=$1
	shift
	echo "bench-baseline.sh: $name" >&2
	if ! "$@" >>"$LOG" 2>&1; then
		tail -n 20 "$LOG" >&2
		die "$name failed (log above)"
	fi
}

# configure: what the owner of a fresh minimal install sets up before booting
# it: a hostname, an address (there is no DHCP server on the bench bridge)
# and a key for root.
configure() {
	echo baseline >"$TREE/etc/hostname"
	printf '[Match]\nType=ether\n\n[Network]\nAddress=%s\n' "$GUEST_ADDR" >"$TREE/etc/systemd/network/10-wired.network"
	step "enable systemd-networkd" chroot "$TREE" systemctl enable systemd-networkd
	ssh-keygen -q -t ed25519 -N '' -C bench-baseline -f "$BUILD/id_ed25519"
	install -d -m 700 "$TREE/root/.ssh"
	install -m 600 "$BUILD/id_ed25519.pub" "$TREE/root/.ssh/authorized_keys"
	if [[ ! -s $TREE/etc/machine-id ]]; then
		step "machine-id" chroot "$TREE" systemd-machine-id-setup
	fi
}

# build: debootstrap, configure, then Debian's kernel with the initrd Debian
# makes for it, and the root filesystem image.
build() {
	step "debootstrap $SUITE (minbase + $PACKAGES)" \
		debootstrap --variant=minbase --force-check-gpg --keyring="$KEYRING" \
		--include="$PACKAGES" --cache-dir="$CACHE/debs" "$SUITE" "$TREE" "$MIRROR"
	configure
	local kernels kver
	mapfile -t kernels < <(find "$TREE/boot" -maxdepth 1 -name 'vmlinuz-*' | sort)
	[[ ${#kernels[@]} -eq 1 ]] || die "expected one kernel in /boot, found ${#kernels[@]}"
	kver=${kernels[0]##*/vmlinuz-}
	if [[ ! -f $TREE/boot/initrd.img-$kver ]]; then
		step "update-initramfs" chroot "$TREE" update-initramfs -c -k "$kver"
	fi
	cp "$TREE/boot/vmlinuz-$kver" "$BUILD/vmlinuz"
	cp "$TREE/boot/initrd.img-$kver" "$BUILD/initrd.img"
	truncate -s "$ROOTFS_SIZE" "$BUILD/rootfs.ext4"
	step "mkfs.ext4" mkfs.ext4 -q -F -L baseline -d "$TREE" "$BUILD/rootfs.ext4"
	{
		echo "suite: $SUITE"
		echo "mirror: $MIRROR"
		echo "debootstrap: --variant=minbase --force-check-gpg --include=$PACKAGES"
		echo "kernel: $kver (Debian's, with its own initrd)"
		echo "network: systemd-networkd, $GUEST_ADDR on the Ethernet link"
		echo "login: root with id_ed25519"
		echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >"$BUILD/recipe.txt"
}

# cleanup unmounts whatever debootstrap left mounted in the tree (when it was
# interrupted) and removes the unfinished build.
cleanup() {
	local m
	findmnt -rn -o TARGET | grep -F "$TREE/" | sort -r | while read -r m; do
		umount -l "$m"
	done
	rm -rf "$BUILD"
}

[[ $# -ge 1 && $# -le 2 ]] || die "usage: scripts/bench-baseline.sh CACHE_DIR [MIRROR]"
[[ $(id -u) -eq 0 ]] || die "run as root"
[[ -f $KEYRING && -s $KEYRING ]] || die "the Debian archive keyring $KEYRING is missing, so the archive's signatures cannot be checked: install the package debian-archive-keyring (scripts/deps.sh does)"
CACHE=$1
MIRROR=${2:-https://deb.debian.org/debian}
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

KEY=$({
	echo "$SUITE $PACKAGES $GUEST_ADDR $ROOTFS_SIZE $MIRROR"
	declare -f configure build
} | sha256sum | cut -c1-16)
OUT=$CACHE/$KEY
if [[ -f $OUT/recipe.txt ]]; then
	echo "$OUT"
	exit 0
fi

mkdir -p "$CACHE/debs"
BUILD=$(mktemp -d "$CACHE/.build-$KEY-XXXXXX")
TREE=$BUILD/tree
LOG=$BUILD/build.log
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM
build
rm -rf "$TREE" "$LOG"
mv "$BUILD" "$OUT"
trap - EXIT
echo "$OUT"
