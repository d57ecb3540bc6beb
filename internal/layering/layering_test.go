package layering

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules keeps the package graph as the packages' docs draw it:
// sip is a leaf, state and config know nothing of packet capture, capture
// does not know what it feeds, the sensor does not know the manager side,
// the pure packages (crypto, jsonobj, redisstore) import nothing of
// tapline, commands knows neither the transport nor the capture, and the
// server is a transport: it reaches the sensor's data only through the
// commands' environment, never by importing it (direct rules).
func TestImportRules(t *testing.T) {
	const gopacket = "github.com/gopacket/gopacket"
	rules := []struct {
		pkg       string
		forbidden []string // import paths, or prefixes ending in "/"
	}{
		{"tapline/sip", []string{"tapline/", gopacket}},
		{"tapline/state", []string{"tapline/capture", "tapline/sensor", "tapline/config", gopacket}},
		{"tapline/access", []string{"tapline/"}},
		{"tapline/tokens", []string{"tapline/server", "tapline/commands", "tapline/sensor", "tapline/keyring", "tapline/redisstore", "tapline/config"}},
		{"tapline/config", []string{"tapline/capture", "tapline/state", "tapline/sip", "tapline/crypto", "tapline/keyring", "tapline/redisstore", "tapline/server", "tapline/commands", "tapline/sensor"}},
		{"tapline/capture", []string{"tapline/state", "tapline/sensor"}},
		{"tapline/sensor", []string{"tapline/server", "tapline/commands", "tapline/keyring"}},
		{"tapline/crypto", []string{"tapline/"}},
		{"tapline/jsonobj", []string{"tapline/"}},
		{"tapline/redisstore", []string{"tapline/"}},
		{"tapline/keyring", []string{"tapline/server", "tapline/commands", "tapline/state", "tapline/sensor"}},
		{"tapline/clients", []string{"tapline/server", "tapline/commands", "tapline/state", "tapline/sensor", "tapline/keyring"}},
		{"tapline/commands", []string{"tapline/server", "tapline/sensor", "tapline/capture", "tapline/keyring", "tapline/redisstore", gopacket}},
	}
	direct := []struct {
		pkg       string
		forbidden []string
	}{
		{"tapline/server", []string{"tapline/sensor", "tapline/state", "tapline/capture", "tapline/sip", "tapline/redisstore"}},
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	for _, r := range direct {
		out, err := exec.Command(goBin, "list", "-f", "{{join .Imports \" \"}}", r.pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", r.pkg, err)
		}
		for _, imp := range strings.Fields(string(out)) {
			for _, f := range r.forbidden {
				if imp == f {
					t.Errorf("%s imports %s directly (forbidden)", r.pkg, imp)
				}
			}
		}
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
