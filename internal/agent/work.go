package agent

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// WorkMountPoint is where the guest mounts its work disk.
const WorkMountPoint = "/root"

// workMounted says whether something is mounted on WorkMountPoint, from
// <procRoot>/mounts.
func workMounted(procRoot string) bool {
	f, err := os.Open(filepath.Join(procRoot, "mounts"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 1 && f[1] == WorkMountPoint {
			return true
		}
	}
	return false
}
