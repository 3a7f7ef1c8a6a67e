// Package dnsname checks the names banger puts into DNS: a VM's name is its
// guest hostname, its record under the VM zone and its ssh host NAME.vm.
package dnsname

// ValidLabel reports whether s can be one DNS label of those names: 1 to
// 63 lowercase ASCII letters, digits and hyphens.
func ValidLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
