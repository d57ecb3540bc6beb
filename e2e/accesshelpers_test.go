package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Helpers of the access tests: throwaway users and groups, commands run as
// them, a network namespace that reaches the server from a non-loopback
// address. All need root; each is removed in t.Cleanup.

// requireRootTools skips when the test cannot make users or namespaces:
// the peer-credential and protected-mode rules only mean something with a
// second uid and a second address, which only root can create here.
func requireRootTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create throwaway users, groups and network namespaces (we run as root here and in CI)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (%v): cannot create the second uid or address this test needs", tool, err)
		}
	}
	requireTools(t)
}

// uniqueName is a short name no other test run uses: prefix and 8 hex digits.
func uniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// runRoot runs a command as root for set-up and fails the test on error.
func runRoot(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// tempGroup creates a group and removes it at cleanup.
func tempGroup(t *testing.T) string {
	t.Helper()
	g := uniqueName("tlg")
	runRoot(t, "groupadd", g)
	t.Cleanup(func() { _ = exec.Command("groupdel", g).Run() })
	return g
}

// tempUser is a throwaway local user.
type tempUser struct {
	name string
	uid  string
}

// newTempUser creates a user without a home, with its own primary group and
// the supplementary groups given, and removes both at cleanup.
func newTempUser(t *testing.T, groups ...string) tempUser {
	t.Helper()
	name := uniqueName("tlu")
	args := []string{"useradd", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin"}
	if len(groups) > 0 {
		args = append(args, "--groups", strings.Join(groups, ","))
	}
	runRoot(t, append(args, name)...)
	t.Cleanup(func() {
		_ = exec.Command("userdel", name).Run()
		_ = exec.Command("groupdel", name).Run() // the user's own group, when userdel left it
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("lookup %s: %v", name, err)
	}
	return tempUser{name: name, uid: u.Uid}
}

// asUser is the shell prefix that runs a command as u with its groups
// (setpriv --init-groups reads them from the group database, like a login).
func (u tempUser) asUser() string {
	return "setpriv --reuid " + u.name + " --regid " + u.name + " --init-groups -- "
}

// ncAs runs `printf req | nc -N -U sock` as u and returns its stdout and
// whether nc failed (e.g. connect refused by the file's permissions).
func ncAs(t *testing.T, u tempUser, sock, req string) (string, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "nc.out")
	script := "printf %s " + shellQuote(req) + " | timeout 10 " + u.asUser() + "nc -N -U " + shellQuote(sock)
	stderr, err := runShell(20*time.Second, script, out)
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		return string(b), fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr))
	}
	return string(b), nil
}

// sharedSocketDir is a directory every user may traverse, for a socket that
// other users must reach (the test's private directories are 0700).
func sharedSocketDir(t *testing.T) string {
	t.Helper()
	dir := shortTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// farPeer is a network namespace joined to the host by a veth pair: a
// client run in it reaches the host at hostIP from peerIP, an address that
// is not loopback.
type farPeer struct {
	ns             string
	hostIP, peerIP string
}

// newFarPeer creates the namespace and veth pair (198.18.0.0/15 is reserved
// for such tests) and removes them at cleanup.
func newFarPeer(t *testing.T) farPeer {
	t.Helper()
	var b [2]byte
	_, _ = rand.Read(b[:])
	last := int(b[1] &^ 3) // a /30: .last+1 on the host, .last+2 in the namespace
	f := farPeer{ns: uniqueName("tln"),
		hostIP: fmt.Sprintf("198.18.%d.%d", b[0], last+1), peerIP: fmt.Sprintf("198.18.%d.%d", b[0], last+2)}
	host, peer := f.ns+"a", f.ns+"b"
	runRoot(t, "ip", "netns", "add", f.ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", f.ns).Run() })
	runRoot(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
	runRoot(t, "ip", "link", "set", peer, "netns", f.ns)
	runRoot(t, "ip", "addr", "add", f.hostIP+"/30", "dev", host)
	runRoot(t, "ip", "link", "set", host, "up")
	runRoot(t, "ip", "-n", f.ns, "addr", "add", f.peerIP+"/30", "dev", peer)
	runRoot(t, "ip", "-n", f.ns, "link", "set", peer, "up")
	runRoot(t, "ip", "-n", f.ns, "link", "set", "lo", "up")
	return f
}

// nc sends req from inside the namespace to the host's port with the real
// nc and returns the reply.
func (f farPeer) nc(t *testing.T, port int, req string) string {
	t.Helper()
	return shellOutput(t, fmt.Sprintf("printf %%s %s | timeout 10 ip netns exec %s nc -N -w 5 %s %d", shellQuote(req), f.ns, f.hostIP, port))
}
