package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"banger/internal/api"
	"banger/internal/termtext"
)

// nameKind is the kind of object a command argument or a flag names; shell
// completion offers the names of that kind the running daemon knows.
type nameKind int

const (
	vmNames nameKind = iota + 1
	imageNames
	kernelNames
	snapshotKeys
)

// argNames says what a command's positional arguments name: the first one
// an object of kind (every one with many), and what the shell completes
// after it (rest; 0 is nothing, ShellCompDirectiveNoFileComp).
type argNames struct {
	kind nameKind
	many bool
	rest cobra.ShellCompDirective
}

// completedArgs lists, by command path under banger, the commands whose
// arguments name objects. A test checks that each path exists and that no
// command taking a NAME or VM is missing.
func completedArgs() map[string]argNames {
	vm, vms := argNames{kind: vmNames}, argNames{kind: vmNames, many: true}
	img, imgs := argNames{kind: imageNames}, argNames{kind: imageNames, many: true}
	kernel, kernels := argNames{kind: kernelNames}, argNames{kind: kernelNames, many: true}
	return map[string]argNames{
		"vm ssh": vm, "vm exec": vm, "vm show": vm, "vm logs": vm, "vm set": vm, "vm ports": vm, "vm stats": vm,
		"vm forward": vm, "vm connect": vm, "vm start": vm, "vm stop": vm, "vm restart": vm, "vm kill": vm,
		"vm delete":            vms,
		"vm workspace export":  vm,
		"vm workspace prepare": {kind: vmNames, rest: cobra.ShellCompDirectiveFilterDirs},
		"image show":           img,
		"image delete":         imgs,
		"image promote":        img,
		"image bundle":         img,
		"image warm":           img,
		"kernel show":          kernel,
		"kernel rm":            kernels,
		"kernel bundle":        kernel,
	}
}

// completedFlags lists, as "command path --flag", the flags whose values
// name objects.
func completedFlags() map[string]nameKind {
	return map[string]nameKind{
		"vm create --image":           imageNames,
		"vm run --image":              imageNames,
		"image pull --kernel":         kernelNames,
		"image register --kernel-ref": kernelNames,
		"image warm --delete":         snapshotKeys,
	}
}

// addCompletions gives the commands under root that completedArgs and
// completedFlags list their completion of names.
func (a *app) addCompletions(root *cobra.Command) {
	args, flags := completedArgs(), completedFlags()
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		path := strings.TrimPrefix(cmd.CommandPath(), root.Name()+" ")
		if spec, ok := args[path]; ok {
			cmd.ValidArgsFunction = a.completeArgs(spec)
		}
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if kind, ok := flags[path+" --"+f.Name]; ok {
				_ = cmd.RegisterFlagCompletionFunc(f.Name, a.completeFlag(kind))
			}
		})
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completeArgs completes the positional arguments spec describes.
func (a *app) completeArgs(spec argNames) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 && !spec.many {
			if spec.rest == 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, spec.rest
		}
		return a.completeNames(cmd.Context(), spec.kind, toComplete, args), cobra.ShellCompDirectiveNoFileComp
	}
}

func (a *app) completeFlag(kind nameKind) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return a.completeNames(cmd.Context(), kind, toComplete, nil), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNames is the names of kind starting with prefix and not in
// given, each with a short description ("name\tdescription", as cobra
// takes them). A daemon that is not running is not started, and one that
// does not answer within pingWait gives no names.
func (a *app) completeNames(ctx context.Context, kind nameKind, prefix string, given []string) []cobra.Completion {
	ctx, cancel := context.WithTimeout(ctx, pingWait)
	defer cancel()
	all, err := a.objectNames(ctx, kind)
	if err != nil {
		cobra.CompDebugln(fmt.Sprintf("list names: %v", err), false)
		return nil
	}
	var out []cobra.Completion
	for _, n := range all {
		if strings.HasPrefix(n[0], prefix) && !slices.Contains(given, n[0]) {
			c := termtext.Field(n[0])
			if n[1] != "" {
				c = cobra.CompletionWithDesc(c, termtext.Field(n[1]))
			}
			out = append(out, c)
		}
	}
	return out
}

// objectNames asks the running daemon for the names of kind, each with a
// description.
func (a *app) objectNames(ctx context.Context, kind nameKind) ([][2]string, error) {
	c, err := a.runningClient()
	if err != nil {
		return nil, err
	}
	switch kind {
	case vmNames:
		vms, err := c.ListVMs(ctx)
		return pairs(vms, err, func(v api.VM) [2]string { return [2]string{v.Name, v.State} })
	case imageNames:
		images, err := c.ListImages(ctx)
		return pairs(images, err, func(i api.Image) [2]string { return [2]string{i.Name, i.Source} })
	case kernelNames:
		kernels, err := c.ListKernels(ctx)
		return pairs(kernels, err, func(k api.Kernel) [2]string { return [2]string{k.Name, k.Version} })
	case snapshotKeys:
		snaps, err := c.ListSnapshots(ctx)
		return pairs(snaps, err, func(s api.Snapshot) [2]string { return [2]string{s.Key, s.Image} })
	}
	return nil, fmt.Errorf("no names of kind %d", kind)
}

// pairs maps a list the daemon answered to (name, description) pairs, or
// passes its error on.
func pairs[T any](items []T, err error, pair func(T) [2]string) ([][2]string, error) {
	if err != nil {
		return nil, err
	}
	out := make([][2]string, 0, len(items))
	for _, it := range items {
		out = append(out, pair(it))
	}
	return out, nil
}
