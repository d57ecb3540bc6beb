package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestRereadSecurityNearMiss: on reload a near miss of a security key is
// an error naming the key and its suggestion (the old settings stay); a
// near miss of another key, or an unknown key, is not.
func TestRereadSecurityNearMiss(t *testing.T) {
	cases := []struct {
		name, line string
		want       string // "" = reload goes ahead
	}{
		{"allowlist typo", "manager_alow = 10.0.0.0/8", "t.conf:2: unknown key manager_alow, did you mean manager_allow?"},
		{"level typo", "manager_plain_levle = limited_read", "unknown key manager_plain_levle, did you mean manager_plain_level?"},
		{"unix levels typo", "manager_unix_level = 1001:full_read", "did you mean manager_unix_levels?"},
		{"security line without '=' (R2-3)", "manager_plain_level: limited_read", "t.conf:2: line ignored: no '=' in it (manager_plain_level?)"},
		{"misspelt security line without '='", "manager_alow 10.0.0.0/8", "(manager_allow?)"},
		{"other line without '='", "spooldir /var/spool", ""},
		{"correct key", "manager_allow = 10.0.0.0/8", ""},
		{"other key's near miss", "managerpot = 5029", ""},
		{"far from any key", "some_voipmonitor_key = 1", ""},
	}
	for _, tc := range cases {
		file := filepath.Join(t.TempDir(), "t.conf")
		if err := os.WriteFile(file, []byte("[general]\n"+tc.line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		addKeyFlags(fs)
		_, err := rereadConfig(file, fs)()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err %v, want it to name %q", tc.name, err, tc.want)
		}
	}
}
