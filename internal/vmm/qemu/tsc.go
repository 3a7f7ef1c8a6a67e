package qemu

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// Under TCG the guest's TSC ticks at the host's TSC rate, and a Linux guest
// calibrates it against the emulated PIT in a tight timing loop. On a busy
// host that calibration fails ("tsc: Unable to calibrate against PIT"); on a
// microvm there is no HPET or ACPI PM timer to fall back on and the guest
// hangs. Passing tsc_early_khz= skips the calibration.
//
// With two or more vCPUs the guest then finds its TSCs "unsynchronized"
// (TCG's vCPU threads are too slow for the kernel's warp test) and falls
// back to the jiffies clock: no high-resolution timers and a boot about
// 0.3 s slower. TCG derives every vCPU's TSC from the host's constant,
// synchronized TSC, so tsc=reliable, which skips that test and the
// watchdog, tells the guest the truth.

// hostTSCKHz extracts the host TSC frequency from /proc/cpuinfo contents.
// "cpu MHz" is the TSC frequency only when the TSC is constant and the
// kernel cannot measure the actual clock (no aperfmperf), which is the case
// in virtual machines, where TCG is used; otherwise it reports 0.
func hostTSCKHz(cpuinfo []byte) int {
	var mhz string
	var flags []string
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "cpu MHz":
			if mhz == "" {
				mhz = v
			}
		case "flags":
			if flags == nil {
				flags = strings.Fields(v)
			}
		}
		if mhz != "" && flags != nil {
			break
		}
	}
	has := func(f string) bool {
		for _, x := range flags {
			if x == f {
				return true
			}
		}
		return false
	}
	if mhz == "" || !has("constant_tsc") || has("aperfmperf") {
		return 0
	}
	f, err := strconv.ParseFloat(mhz, 64)
	if err != nil || f <= 0 {
		return 0
	}
	return int(f*1000 + 0.5)
}

// withTSCHint adds tsc_early_khz=khz tsc=reliable to the kernel's part of cmdline unless
// khz is not positive or the command line already sets it.
func withTSCHint(cmdline string, khz int) string {
	if khz <= 0 {
		return cmdline
	}
	for _, w := range strings.Fields(cmdline) {
		if strings.HasPrefix(w, "tsc_early_khz=") {
			return cmdline
		}
	}
	hint := "tsc_early_khz=" + strconv.Itoa(khz) + " tsc=reliable"
	// Arguments after "--" belong to init; the hint must go before them.
	if i := strings.Index(" "+cmdline+" ", " -- "); i >= 0 {
		before := strings.TrimRight(cmdline[:i], " ")
		if before == "" {
			return hint + " " + cmdline[i:]
		}
		return before + " " + hint + " " + cmdline[i:]
	}
	if cmdline == "" {
		return hint
	}
	return cmdline + " " + hint
}
