package doctor

import (
	"fmt"
	"io"
)

// Default is one default of new VMs as the report shows it: its value,
// where it came from (config, host, builtin) and why it is what it is.
type Default struct {
	Name, Value, Source, Why string
}

// WriteDefaults prints the defaults of new VMs, one a line, each with its
// source and reason.
func WriteDefaults(w io.Writer, ds []Default) {
	width, vwidth := 0, 0
	for _, d := range ds {
		width, vwidth = max(width, len(d.Name)), max(vwidth, len(d.Value))
	}
	fmt.Fprintln(w, "\nVM defaults:")
	for _, d := range ds {
		fmt.Fprintf(w, "  %-*s  %-*s  (%s: %s)\n", width, d.Name, vwidth, d.Value, d.Source, d.Why)
	}
}
