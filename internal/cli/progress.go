package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"banger/internal/api"
)

// progressPrinter shows a daemon's event stream: progress bars on a
// terminal, plain lines otherwise.
type progressPrinter struct {
	w    io.Writer
	tty  bool
	bar  *progressbar.ProgressBar
	step string
}

func newProgress(w io.Writer) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressPrinter{w: w, tty: tty}
}

func (p *progressPrinter) event(ev api.Event) {
	if ev.Type == api.EventOperation { // names the operation; nothing to draw
		return
	}
	if ev.Total > 0 {
		if !p.tty {
			fmt.Fprintf(p.w, "%s: %d/%d\n", ev.Step, ev.Done, ev.Total)
			return
		}
		if p.bar == nil || p.step != ev.Step {
			p.finish()
			p.step = ev.Step
			p.bar = progressbar.NewOptions64(ev.Total,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(ev.Step),
				progressbar.OptionShowCount(),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionSetWidth(30),
			)
		}
		_ = p.bar.Set64(ev.Done)
		if ev.Done >= ev.Total {
			p.finish()
		}
		return
	}
	p.finish()
	fmt.Fprintln(p.w, ev.Message)
}

func (p *progressPrinter) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
		p.bar = nil
		p.step = ""
	}
}
