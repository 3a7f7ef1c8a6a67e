package main

import (
	"fmt"
	"os"
	"strconv"

	"banger/internal/guestfs"
)

// put writes its standard input to PATH with octal MODE: `banger-agent put
// MODE PATH`, the daemon's file copy into a guest, which needs no tool but
// the agent in the image.
func put(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: banger-agent put MODE PATH")
	}
	mode, err := strconv.ParseUint(args[0], 8, 32)
	if err != nil || mode > 0o777 {
		return fmt.Errorf("put: mode %q: want octal permissions, e.g. 600", args[0])
	}
	return guestfs.Put(os.Stdin, args[1], os.FileMode(mode))
}
