package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/units"
)

// lifetimeFlags are --auto-stop and --ttl of vm create and vm run.
type lifetimeFlags struct {
	autoStop, ttl string
}

const (
	autoStopHelp = "stop the VM once it has been idle this long (no ssh or exec session, no port forward in use, guest CPU quiet), e.g. 30m; 0 or off never (default: auto_stop_stale_after from the config, off)"
	ttlHelp      = "delete the VM at this age, whatever it is doing, e.g. 2h (default: never)"
)

func (f *lifetimeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.autoStop, "auto-stop", "", autoStopHelp)
	cmd.Flags().StringVar(&f.ttl, "ttl", "", ttlHelp)
}

// apply checks the flags and puts them in req.
func (f *lifetimeFlags) apply(req *api.CreateVM) error {
	if _, err := units.ParseLifetime("--auto-stop", f.autoStop); err != nil {
		return err
	}
	if _, err := units.ParseLifetime("--ttl", f.ttl); err != nil {
		return err
	}
	req.AutoStop, req.TTL = f.autoStop, f.ttl
	return nil
}

// setLifetime puts vm set's --ttl and --auto-stop, when given, in req.
func setLifetime(cmd *cobra.Command, f *lifetimeFlags, req *api.SetVM) error {
	if cmd.Flags().Changed("ttl") {
		if _, err := units.ParseLifetime("--ttl", f.ttl); err != nil {
			return err
		}
		req.TTL = &f.ttl
	}
	if cmd.Flags().Changed("auto-stop") {
		if _, err := units.ParseLifetime("--auto-stop", f.autoStop); err != nil {
			return err
		}
		req.AutoStop = &f.autoStop
	}
	return nil
}

// stateLabel is a VM's state as vm list shows it: "stopped (idle)" for a
// VM stopped for idleness.
func stateLabel(v api.VM) string {
	if v.StoppedReason != "" && v.State == "stopped" {
		return fmt.Sprintf("%s (%s)", v.State, v.StoppedReason)
	}
	return v.State
}

// lifetimeRows are vm show's lines about when the VM stops or goes away,
// as of now.
func lifetimeRows(v api.VM, now time.Time) [][2]string {
	var rows [][2]string
	if v.AutoStopSeconds > 0 {
		rows = append(rows, [2]string{"auto-stop", autoStopText(v.AutoStopSeconds)})
	}
	if v.IdleSince != nil {
		rows = append(rows, [2]string{"idle", "for " + roundDur(now.Sub(*v.IdleSince))})
	}
	if v.StopsAt != nil {
		rows = append(rows, [2]string{"stops", untilText(*v.StopsAt, now) + " if it stays idle"})
	}
	if v.StoppedReason != "" {
		rows = append(rows, [2]string{"stopped because", v.StoppedReason})
	}
	if v.ExpiresAt != nil {
		rows = append(rows, [2]string{"ttl", untilText(*v.ExpiresAt, now) + " it is deleted"})
	}
	return rows
}

// untilText says when t is, seen from now: "in 4m10s (at 15:04:05)".
func untilText(t, now time.Time) string {
	at := t.Local().Format(time.DateTime)
	if d := t.Sub(now); d > 0 {
		return fmt.Sprintf("in %s (at %s)", roundDur(d), at)
	}
	return fmt.Sprintf("now (due at %s)", at)
}

func roundDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String()
}

// printSetLifetime says what vm set made of v's time to live and
// auto-stop, when it changed them.
func printSetLifetime(w io.Writer, v api.VM, req api.SetVM) {
	if req.TTL != nil {
		if v.ExpiresAt == nil {
			fmt.Fprintf(w, "%s: no time to live\n", v.Name)
		} else {
			fmt.Fprintf(w, "%s: deleted %s\n", v.Name, untilText(*v.ExpiresAt, time.Now()))
		}
	}
	if req.AutoStop != nil {
		fmt.Fprintf(w, "%s: auto-stop %s\n", v.Name, autoStopText(v.AutoStopSeconds))
	}
}

func autoStopText(secs int64) string {
	if secs <= 0 {
		return "off"
	}
	return "after " + (time.Duration(secs) * time.Second).String() + " idle"
}
