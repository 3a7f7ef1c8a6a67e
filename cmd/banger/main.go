// Command banger is the banger CLI.
package main

import (
	"context"
	"os"

	"banger/internal/cli"
	"banger/internal/vmm/builtin"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], builtin.Registry()))
}
