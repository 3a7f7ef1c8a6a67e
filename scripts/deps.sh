#!/usr/bin/env bash
# Install the host packages banger needs (see docs/host-requirements.md).
#
# Usage: scripts/deps.sh [--dev]
#   --dev   also install development and test tools (shellcheck, busybox-static, chromium, openssh-server)
#
# Debian and Ubuntu (and their derivatives) are supported. On other
# distributions the script prints the equivalent package names and exits 1.
# Reruns are fast: nothing is installed when every package is present.
#
# Environment (for tests): OS_RELEASE overrides /etc/os-release.
set -euo pipefail

readonly RUNTIME_PKGS=(
	qemu-system-x86 # qemu-system-x86_64 with -M microvm
	qemu-utils      # qemu-img
	debootstrap     # builds the default guest image
	debian-archive-keyring # debootstrap checks the archive's signatures with it
	e2fsprogs       # mkfs.ext4, debugfs
	openssh-client  # ssh into guests
	iproute2        # ip: taps and the bridge
	nftables        # nft: only needed for --nat
	zstd            # image compression
	ca-certificates # https downloads
	git             # workspaces: listing and bundling your checkout
)
readonly DEV_PKGS=(
	shellcheck     # make lint
	busybox-static # tests and bench: a busybox-only image, the floor's initramfs
	procps         # e2e: pgrep checks that no VMM process is left
	chromium       # e2e: the web UI's browser test (headless, driven by chromedp)
	openssh-server # e2e: the remote daemon test runs its own sshd (the host's ssh service is not started)
)

# Equivalent names elsewhere, in the same order as RUNTIME_PKGS and DEV_PKGS.
readonly FEDORA_PKGS="qemu-system-x86-core qemu-img debootstrap debian-keyring e2fsprogs openssh-clients iproute nftables zstd ca-certificates git"
readonly FEDORA_DEV_PKGS="ShellCheck busybox procps-ng chromium openssh-server"
readonly ARCH_PKGS="qemu-system-x86 qemu-img debootstrap debian-archive-keyring e2fsprogs openssh iproute2 nftables zstd ca-certificates git"
readonly ARCH_DEV_PKGS="shellcheck busybox procps-ng chromium" # sshd comes with openssh

# POLICY_RC refuses service starts while deps.sh installs openssh-server.
readonly POLICY_RC=/usr/sbin/policy-rc.d

die() {
	printf 'deps.sh: %s\n' "$*" >&2
	exit 1
}

usage() {
	sed -n '2,11s/^# \{0,1\}//p' "$0"
}

# is_debian_like FILE: true when os-release FILE names debian or ubuntu in
# ID or ID_LIKE.
is_debian_like() {
	local file=$1 id="" id_like="" key value
	[[ -r $file ]] || return 1
	while IFS='=' read -r key value; do
		value=${value#\"}
		value=${value%\"}
		value=${value#\'}
		value=${value%\'}
		case $key in
		ID) id=$value ;;
		ID_LIKE) id_like=$value ;;
		esac
	done <"$file"
	local word
	for word in $id $id_like; do
		case $word in
		debian | ubuntu) return 0 ;;
		esac
	done
	return 1
}

# is_installed PKG: true when dpkg considers PKG installed.
is_installed() {
	local status
	status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
	[[ $status == *" installed" ]]
}

main() {
	local dev=0 arg
	for arg in "$@"; do
		case $arg in
		--dev) dev=1 ;;
		-h | --help)
			usage
			return 0
			;;
		*) die "unknown argument: $arg (usage: scripts/deps.sh [--dev])" ;;
		esac
	done

	local os_release=${OS_RELEASE:-/etc/os-release}
	if ! is_debian_like "$os_release"; then
		{
			echo "deps.sh: only Debian and Ubuntu are supported (checked ID and ID_LIKE in $os_release)."
			echo "Install the equivalent packages yourself, then run: banger doctor"
			echo "  Fedora: dnf install $FEDORA_PKGS"
			echo "          (with --dev also: $FEDORA_DEV_PKGS)"
			echo "  Arch:   pacman -S --needed $ARCH_PKGS"
			echo "          (with --dev also: $ARCH_DEV_PKGS)"
		} >&2
		return 1
	fi

	if [[ $(id -u) -ne 0 ]]; then
		die "must run as root to install packages: sudo $0${*:+ $*}"
	fi

	local pkgs=("${RUNTIME_PKGS[@]}")
	if ((dev)); then
		pkgs+=("${DEV_PKGS[@]}")
	fi

	local missing=() pkg
	for pkg in "${pkgs[@]}"; do
		is_installed "$pkg" || missing+=("$pkg")
	done
	if ((${#missing[@]} == 0)); then
		echo "deps.sh: all ${#pkgs[@]} packages already installed: ${pkgs[*]}"
		return 0
	fi

	echo "deps.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	# Installing openssh-server must not start the host's ssh service: a
	# policy-rc.d that refuses starts, only when none is there already.
	if [[ " ${missing[*]} " == *" openssh-server "* && ! -e $POLICY_RC ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
		chmod 755 "$POLICY_RC"
		trap 'rm -f "$POLICY_RC"' EXIT
	fi
	apt-get install -y --no-install-recommends "${missing[@]}"
	echo "deps.sh: done; run banger doctor to check the rest of the host (KVM, tun, disk space)"
}

main "$@"
