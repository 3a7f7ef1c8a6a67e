package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func checkTun(in Inputs) Check {
	c := Check{Name: "tun", Hard: true}
	dev := filepath.Join(in.DevRoot, "net", "tun")
	if exists(dev) {
		c.Status = StatusOK
		c.Detail = dev + " present"
		return c
	}
	c.Status = StatusFail
	if exists(filepath.Join(in.SysRoot, "class", "misc", "tun")) || exists(filepath.Join(in.SysRoot, "module", "tun")) {
		c.Detail = "the tun driver is loaded but " + dev + " is missing"
		c.Fix = "mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && chmod 0666 /dev/net/tun; in a container, pass --device /dev/net/tun"
		return c
	}
	c.Detail = dev + " is missing and the tun module is not loaded"
	c.Fix = "modprobe tun (the module ships with the kernel: apt-get install linux-image-amd64); in a container, pass --device /dev/net/tun"
	return c
}

func checkBridge(ctx context.Context, in Inputs) Check {
	c := Check{Name: "bridge"}
	if in.BridgeName != "" {
		iface := filepath.Join(in.SysRoot, "class", "net", in.BridgeName)
		if exists(iface) && !exists(filepath.Join(iface, "bridge")) {
			c.Status = StatusFail
			c.Hard = true
			c.Detail = fmt.Sprintf("interface %s exists and is not a bridge", in.BridgeName)
			c.Fix = fmt.Sprintf("set bridge_name to another name in the banger config, or remove the interface: ip link delete %s", in.BridgeName)
			return c
		}
	}
	var note string
	if in.BridgeName != "" {
		if exists(filepath.Join(in.SysRoot, "class", "net", in.BridgeName, "bridge")) {
			note = "; bridge " + in.BridgeName + " exists"
		} else {
			note = "; bangerd creates bridge " + in.BridgeName + " on start"
		}
	}
	if exists(filepath.Join(in.SysRoot, "module", "bridge")) || exists(filepath.Join(in.ProcRoot, "sys", "net", "bridge")) {
		c.Status = StatusOK
		c.Detail = "bridge module loaded" + note
		return c
	}
	c.Status = StatusWarn
	c.Fix = "modprobe bridge"
	if modinfo, err := in.LookPath("modinfo"); err == nil {
		if _, err := run(ctx, in, modinfo, "bridge"); err == nil {
			c.Detail = "bridge module not loaded yet; it is available and autoloads when the bridge is created" + note
			return c
		}
	}
	c.Detail = "bridge module not loaded and modinfo cannot find it; it may still autoload if built in" + note
	c.Fix = "modprobe bridge; if the module is missing, install the distribution kernel: apt-get install linux-image-amd64"
	return c
}

func checkVsock(in Inputs) Check {
	c := Check{Name: "vsock"}
	dev := filepath.Join(in.DevRoot, "vhost-vsock")
	switch {
	case exists(dev):
		c.Status = StatusOK
		c.Detail = dev + " present"
	case exists(filepath.Join(in.SysRoot, "module", "vhost_vsock")):
		c.Status = StatusWarn
		c.Detail = "vhost_vsock is loaded but " + dev + " is missing (not used yet; planned for the guest agent)"
		c.Fix = "in a container, pass --device /dev/vhost-vsock"
	default:
		c.Status = StatusInfo
		c.Detail = "vhost_vsock not loaded (not used yet; planned for the guest agent: modprobe vhost_vsock)"
	}
	return c
}

// nearestExisting returns path or its closest ancestor that exists.
func nearestExisting(path string) string {
	p := filepath.Clean(path)
	for {
		if exists(p) {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

func checkDisk(in Inputs) Check {
	c := Check{Name: "disk", Hard: true}
	if in.StateDir == "" {
		c.Status = StatusWarn
		c.Hard = false
		c.Detail = "no state directory configured; free space not checked"
		c.Fix = "set state_dir in the banger config"
		return c
	}
	dir := nearestExisting(in.StateDir)
	free, err := in.Statfs(dir)
	if err != nil {
		c.Status = StatusWarn
		c.Hard = false
		c.Detail = fmt.Sprintf("cannot read free space of %s: %v", dir, err)
		c.Fix = "check that " + dir + " is on a mounted file system"
		return c
	}
	c.Detail = fmt.Sprintf("%.1f GiB free on the file system holding %s", float64(free)/float64(gib), dir)
	fix := fmt.Sprintf("free space on the file system holding %s, or set state_dir in the banger config to a larger file system", dir)
	switch {
	case free < DiskFailBytes:
		c.Status = StatusFail
		c.Detail += fmt.Sprintf(" (below the %d GiB minimum)", DiskFailBytes/gib)
		c.Fix = fix
	case free < DiskWarnBytes:
		c.Status = StatusWarn
		c.Detail += fmt.Sprintf(" (below the recommended %d GiB)", DiskWarnBytes/gib)
		c.Fix = fix
	default:
		c.Status = StatusOK
	}
	return c
}

// checkDir checks a directory bangerd owns: it must be a directory that is
// not world-writable, or not exist yet under a writable parent.
func checkDir(in Inputs, name, key, path string) Check {
	c := Check{Name: name, Hard: true, Status: StatusFail}
	if path == "" {
		c.Detail = "not configured"
		c.Fix = "set " + key + " in the banger config"
		return c
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		parent := nearestExisting(path)
		pfi, perr := os.Stat(parent)
		switch {
		case perr != nil:
			c.Detail = fmt.Sprintf("%s does not exist and %s cannot be read: %v", path, parent, perr)
			c.Fix = "set " + key + " in the banger config to a path on a local file system"
		case !pfi.IsDir():
			c.Detail = fmt.Sprintf("%s cannot be created: %s is not a directory", path, parent)
			c.Fix = fmt.Sprintf("move %s away, or set %s in the banger config to another path", parent, key)
		case !in.Writable(parent):
			c.Detail = fmt.Sprintf("%s does not exist and %s is not writable", path, parent)
			c.Fix = fmt.Sprintf("as root: mkdir -p -m 0755 %s", path)
		default:
			c.Status = StatusOK
			c.Detail = fmt.Sprintf("%s does not exist yet; bangerd creates it (%s is writable)", path, parent)
		}
	case err != nil:
		c.Detail = fmt.Sprintf("cannot stat %s: %v", path, err)
		c.Fix = "check the permissions of " + path + " and its parents"
	case !fi.IsDir():
		c.Detail = path + " exists and is not a directory"
		c.Fix = fmt.Sprintf("move %s away, or set %s in the banger config to another path", path, key)
	case fi.Mode().Perm()&0o002 != 0:
		c.Detail = fmt.Sprintf("%s is world-writable (mode %04o); other users could tamper with VM state", path, fi.Mode().Perm())
		c.Fix = "chmod o-w " + path
	case !in.Writable(path):
		c.Detail = path + " is not writable"
		c.Fix = fmt.Sprintf("make %s writable by root (is the file system read-only?)", path)
	default:
		c.Status = StatusOK
		c.Detail = fmt.Sprintf("%s (mode %04o)", path, fi.Mode().Perm())
	}
	return c
}
