#!/usr/bin/env bash
# Fetch the web UI's vendored JavaScript from the npm registry, at the
# pinned versions below, into internal/ui/assets/vendor (checked in; see
# docs/dependencies.md). Run by `make ui`; needs npm and tar.
#
# Usage: scripts/ui-vendor.sh
set -euo pipefail

readonly XTERM=@xterm/xterm@5.5.0
readonly XTERM_FIT=@xterm/addon-fit@0.10.0
readonly UPLOT=uplot@1.6.32

root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/internal/ui/assets/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# unpack SPEC DIR: npm pack SPEC and unpack its package/ into DIR.
unpack() {
	local spec=$1 dir=$2 tgz
	tgz=$(cd "$work" && npm pack --silent "$spec")
	mkdir -p "$work/$dir"
	tar -xzf "$work/$tgz" -C "$work/$dir" --strip-components=1
}

unpack "$XTERM" xterm
unpack "$XTERM_FIT" fit
unpack "$UPLOT" uplot

rm -rf "$dest.new"
mkdir -p "$dest.new/xterm" "$dest.new/uplot"
cp "$work/xterm/lib/xterm.js" "$work/xterm/css/xterm.css" "$dest.new/xterm/"
cp "$work/xterm/LICENSE" "$dest.new/xterm/LICENSE"
cp "$work/fit/lib/addon-fit.js" "$dest.new/xterm/"
cp "$work/fit/LICENSE" "$dest.new/xterm/LICENSE.addon-fit"
cp "$work/uplot/dist/uPlot.iife.min.js" "$work/uplot/dist/uPlot.min.css" "$dest.new/uplot/"
cp "$work/uplot/LICENSE" "$dest.new/uplot/LICENSE"
printf '%s\n' "$XTERM" "$XTERM_FIT" "$UPLOT" >"$dest.new/VERSIONS"
# No source maps: the files must not ask the browser for anything else.
sed -i '/sourceMappingURL=/d' "$dest.new"/xterm/*.js "$dest.new"/uplot/*.js
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "vendored into $dest:"
cat "$dest/VERSIONS"
