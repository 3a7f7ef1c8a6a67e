package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestUIAddr(t *testing.T) {
	tests := []struct{ file, want, wantErr string }{
		{"", DefaultUIAddr, ""},
		{`ui_addr = "off"`, "off", ""},
		{`ui_addr = "127.0.0.1:9000"`, "127.0.0.1:9000", ""},
		{`ui_addr = "[::1]:9000"`, "[::1]:9000", ""},
		{`ui_addr = "0.0.0.0:7878"`, "", "ui_addr"},
		{`ui_addr = "192.168.1.5:7878"`, "", "ui_addr"},
		{`ui_addr = "localhost:7878"`, "", "ui_addr"},
		{`ui_addr = "127.0.0.1"`, "", "ui_addr"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := writeFile(t, filepath.Join(t.TempDir(), "config.toml"), tt.file+"\n")
			c, _, err := LoadHost(p, userHost(t, nil), testRegistry(t))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || c.UIAddr != tt.want {
				t.Fatalf("ui_addr = %q (%v), want %q", c.UIAddr, err, tt.want)
			}
		})
	}
}
