package sensor

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules keeps the capture pipeline's package graph as the
// packages' docs draw it: sip is a leaf, state and config know nothing of
// packet capture, capture does not know what it feeds, and the sensor does
// not know the manager side.
func TestImportRules(t *testing.T) {
	const gopacket = "github.com/gopacket/gopacket"
	rules := []struct {
		pkg       string
		forbidden []string // import paths, or prefixes ending in "/"
	}{
		{"tapline/sip", []string{"tapline/", gopacket}},
		{"tapline/state", []string{"tapline/capture", "tapline/sensor", "tapline/config", gopacket}},
		{"tapline/config", []string{"tapline/"}},
		{"tapline/capture", []string{"tapline/state", "tapline/sensor"}},
		{"tapline/sensor", []string{"tapline/server", "tapline/commands", "tapline/keyring"}},
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	for _, r := range rules {
		out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", r.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", r.pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == r.pkg {
				continue
			}
			for _, f := range r.forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f)) {
					t.Errorf("%s depends on %s (forbidden: %s)", r.pkg, dep, f)
				}
			}
		}
	}
}
