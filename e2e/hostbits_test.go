package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCIDRHostBits is attack report F8 against the real binary: a CIDR
// whose address has bits set beyond its length ("10.231.0.2/0", a typo
// for /30) used to be masked into a far wider range (0.0.0.0/0: every
// IPv4 address) without a word, by `allowlist add`, `tokens create
// --cidr` and manager_allow alike; and an empty --cidr ("--cidr="") made a token usable
// from any address. All are refused now, naming the masked form.
func TestCIDRHostBits(t *testing.T) {
	requireTools(t)
	s := startTestServer(t, serverConfig{})
	s.expectReply(t, "unix", "allowlist add 10.231.0.2/0\n",
		"error: allowlist add: the address has host bits set beyond the prefix length: \"10.231.0.2/0\" is a /0, which would admit every address (write 0.0.0.0/0 or ::/0 if that is meant)\n")
	s.expectReply(t, "unix", "allowlist list\n", "allowlist empty: every address may connect (subject to protected mode)\n")

	dir := t.TempDir()
	conf := writeConfig(t, dir, "tokens.conf", "manager_tokens_file = "+filepath.Join(dir, "tokens.json"))
	for _, c := range []struct{ cidr, want string }{
		{"127.0.0.2/0", "is a /0, which would admit every address"},
		{"192.0.2.9/24", "did you mean 192.0.2.0/24?"},
		{"", "omit --cidr for a token usable from any address"},
		{" , ", "omit --cidr for a token usable from any address"},
	} {
		out, errOut, code := runCLI(t, "tokens", "create", "-c", conf, "--level", "limited_read", "--cidr", c.cidr)
		if code != 2 || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("tokens create --cidr %q: exit %d stdout %q stderr %q; want exit 2 saying %q", c.cidr, code, out, errOut, c.want)
		}
	}
	if out, _, _ := runCLI(t, "tokens", "list", "-c", conf); strings.Contains(out, "limited_read") {
		t.Errorf("a refused create left a token behind:\n%s", out)
	}

	bad := writeConfig(t, dir, "allow.conf", "manager_allow = 127.0.0.1, 10.1.2.3/8")
	_, errOut, code := runCLI(t, "serve", "-c", bad, "--managerport", "0", "--managersocket", "", "--statedir", dir)
	if code == 0 || !strings.Contains(errOut, "did you mean 10.0.0.0/8?") {
		t.Errorf("serve with manager_allow 10.1.2.3/8: exit %d stderr %q; want a config error naming 10.0.0.0/8", code, errOut)
	}
}
