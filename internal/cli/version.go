package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/buildinfo"
	"banger/internal/termtext"
)

// pingWait bounds the commands that ask a running daemon a quick question
// and never start one: `version` and shell completion.
const pingWait = 2 * time.Second

// clientVersion is the CLI's own build and the API version it speaks.
type clientVersion struct {
	buildinfo.Info
	APIVersion string `json:"api_version"`
}

// versionReport is what `banger version --json` prints.
type versionReport struct {
	Client clientVersion `json:"client"`
	Server *api.Ping     `json:"server"` // null when no daemon answered
}

// versionCmd is `banger version`: the CLI's build, then the daemon's, as
// `docker version` prints them. A daemon that does not answer is not
// started: the client part is printed, then the error, and the exit code
// is 1.
func (a *app) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the versions of banger and of the running bangerd",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := versionReport{Client: clientVersion{Info: buildinfo.Read(buildinfo.Version), APIVersion: api.Version}}
			server, serr := a.pingRunning(cmd.Context())
			if serr == nil {
				r.Server = &server
			}
			if asJSON {
				if err := writeJSONOut(a.stdout, r); err != nil {
					return err
				}
			} else if err := printVersions(a.stdout, r); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("cannot reach bangerd for its version: %w", serr)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"client\": {...}, \"server\": {...} or null}")
	return cmd
}

// runningClient is a client of the daemon the config names, which is not
// started when it does not run.
func (a *app) runningClient() (*api.Client, error) {
	c, _, err := a.configuredClient()
	return c, err
}

// configuredClient is a client of the daemon the flags, environment and
// config name: the remote one (remote is true) or the local socket's.
func (a *app) configuredClient() (c *api.Client, remote bool, err error) {
	if err := a.loadConfig(); err != nil {
		return nil, false, err
	}
	if h, ok, err := a.remoteHost(); err != nil {
		return nil, false, err
	} else if ok {
		return a.remoteClient(h), true, nil
	}
	c, err = newClient(a.cfg.SocketPath())
	return c, false, err
}

// pingRunning pings the running daemon, waiting at most pingWait.
func (a *app) pingRunning(ctx context.Context) (api.Ping, error) {
	c, err := a.runningClient()
	if err != nil {
		return api.Ping{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, pingWait)
	defer cancel()
	p, err := c.Ping(ctx)
	if errors.Is(err, fs.ErrPermission) {
		return api.Ping{}, socketDenied(a.cfg.SocketPath())
	}
	return p, err
}

// printVersions prints r as `docker version` does: a "Client:" block, then
// a "Server:" block when a daemon answered, leaving out what is unknown.
func printVersions(w io.Writer, r versionReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	c := r.Client
	fmt.Fprintln(tw, "Client:")
	versionRows(tw, [][2]string{{"Version", c.Version}, {"API version", c.APIVersion}, {"Git commit", commitText(c.Commit, c.Modified)},
		{"Go version", c.GoVersion}, {"OS/Arch", osArch(c.OS, c.Arch)}})
	if s := r.Server; s != nil {
		fmt.Fprintln(tw, "\nServer: bangerd")
		versionRows(tw, [][2]string{{"Version", s.Version}, {"API version", s.APIVersion}, {"Git commit", commitText(s.Commit, s.Modified)},
			{"Go version", s.GoVersion}, {"OS/Arch", osArch(s.OS, s.Arch)}, {"PID", fmt.Sprint(s.PID)}, {"Socket", s.Socket}})
	}
	return tw.Flush()
}

func versionRows(w io.Writer, rows [][2]string) {
	for _, r := range rows {
		if r[1] != "" {
			fmt.Fprintf(w, " %s:\t%s\n", r[0], termtext.Field(r[1]))
		}
	}
}

// commitText is a commit as `git describe` shortens it, marked when the
// tree it was built from had changes.
func commitText(commit string, modified bool) string {
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit != "" && modified {
		commit += " (modified)"
	}
	return commit
}

func osArch(goos, arch string) string {
	if goos == "" {
		return ""
	}
	return goos + "/" + arch
}
