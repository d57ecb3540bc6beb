package server

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Unix socket files are created by tapline itself, never by handing a path
// to gnet. gnet takes a listener as "unix://"+path, re-parses it as a URL
// ("?" and "#" cut it, "@x" and relative paths resolve against the working
// directory, "a/missing/../x" becomes "a/x") and runs os.RemoveAll on the
// result before binding and again when the engine stops: a path checked here
// is not the path gnet would use, and a directory there would be deleted with
// everything in it.
//
// So a path is first made canonical and verified (checkSocketSyntax), its
// directory is opened component by component without following symlinks
// (openDirNoFollow), and gnet only ever sees /proc/self/fd/<n>/s, where <n>
// is a private 0700 directory that tapline created next to the target and
// keeps open until the engine has exited. The socket is then moved into
// place with renameat2(RENAME_NOREPLACE), which never replaces anything, and
// the private directory is removed at once (its descriptor stays open, so
// gnet's RemoveAll at stop finds nothing to delete). At stop the file is
// unlinked only if it is still the inode tapline created.

// maxSunPath is the longest path a sockaddr_un can hold (108 bytes with the
// terminating NUL).
const maxSunPath = 107

// errRefusedPath is the one reply for every manager_file path that cannot be
// used, whatever the reason: different texts would tell a remote client what
// exists on the sensor's file system. The reason goes to the log only.
var errRefusedPath = errors.New("manager_file start: refused socket path")

// checkSocketSyntax refuses a path that is not absolute and canonical, or
// that a URL parser would read differently.
func checkSocketSyntax(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case len(p) > maxSunPath:
		return fmt.Errorf("longer than %d bytes", maxSunPath)
	case p[0] == '@':
		return errors.New("leading @ (abstract namespace)")
	case p[0] != '/':
		return errors.New("relative path")
	case p == "/":
		return errors.New("root directory")
	case !utf8.ValidString(p):
		return errors.New("not valid UTF-8")
	}
	for i := 0; i < len(p); i++ {
		switch b := p[i]; {
		case b < 0x20 || b == 0x7f:
			return fmt.Errorf("control byte 0x%02x", b)
		case b == '?' || b == '#':
			return fmt.Errorf("%q in path", b)
		}
	}
	for _, el := range strings.Split(p[1:], "/") {
		if el == ".." || el == "." || el == "" {
			return fmt.Errorf("path element %q", el)
		}
	}
	if filepath.Clean(p) != p {
		return errors.New("not canonical")
	}
	if got, ok := gnetUnixPath(p); !ok || got != p {
		return fmt.Errorf("a URL parser reads it as %q", got)
	}
	return nil
}

// gnetUnixPath is what gnet v2.9.7 (parseProtoAddr) makes of "unix://"+p.
// Checked although tapline never gives gnet a client path: should a later
// change do so, a path that survives this check at least means the same.
func gnetUnixPath(p string) (string, bool) {
	u, err := url.Parse("unix://" + strings.ReplaceAll(p, "%", "%25"))
	if err != nil || u.Scheme != "unix" {
		return "", false
	}
	return path.Join(u.Host, u.Path), true
}

// openDirNoFollow opens dir (absolute, canonical) as an O_PATH descriptor,
// walking it one component at a time with O_NOFOLLOW|O_DIRECTORY: a
// symlinked or non-directory component fails, and later renames of the
// ancestors cannot redirect what is done through the descriptor.
func openDirNoFollow(dir string) (int, error) {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /: %w", err)
	}
	for _, name := range strings.Split(strings.Trim(dir, "/"), "/") {
		if name == "" {
			continue
		}
		nfd, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		_ = unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("component %q: %w", name, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(nfd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			_ = unix.Close(nfd)
			return -1, fmt.Errorf("component %q is not a directory", name)
		}
		fd = nfd
	}
	return fd, nil
}

// unixSocket is one socket file tapline creates, publishes and removes.
type unixSocket struct {
	path      string // the published path
	parent    int    // O_PATH descriptor of path's directory
	base      string // last element of path
	priv      int    // O_PATH descriptor of the private directory gnet binds in
	privName  string // its name in parent
	privDev   uint64
	privIno   uint64
	published bool
	dev, ino  uint64   // the socket file, once bound
	perm      sockPerm // applied before it is published
}

// prepareSocket verifies path and readies a private directory beside it.
// A stale socket at path (a socket file no socket of this network namespace
// is bound to, owned by this user) is removed with a plain unlink; anything
// else there is refused and left alone.
func prepareSocket(p string, perm sockPerm) (*unixSocket, error) {
	if err := checkSocketSyntax(p); err != nil {
		return nil, err
	}
	dir, base := filepath.Split(p)
	parent, err := openDirNoFollow(dir)
	if err != nil {
		return nil, err
	}
	u := &unixSocket{path: p, parent: parent, base: base, priv: -1, perm: perm}
	if err := u.clearStale(); err != nil {
		u.closeFDs()
		return nil, err
	}
	if err := u.makePrivate(); err != nil {
		u.closeFDs()
		return nil, err
	}
	return u, nil
}

// clearStale removes a socket file at the target that nothing holds.
func (u *unixSocket) clearStale() error {
	var st unix.Stat_t
	err := unix.Fstatat(u.parent, u.base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return errors.New("exists and is not a socket")
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("socket owned by uid %d, not by this process", st.Uid)
	}
	held, err := socketHeld(u.path, &st)
	if err != nil {
		return fmt.Errorf("cannot tell whether the socket is in use: %w", err)
	}
	if held {
		return errors.New("socket is bound by a running process")
	}
	// Unlink only the inode that was checked. Between this stat and the
	// unlink only someone who may write the directory can swap the file,
	// and that someone could delete it anyway.
	var again unix.Stat_t
	if err := unix.Fstatat(u.parent, u.base, &again, unix.AT_SYMLINK_NOFOLLOW); err != nil ||
		again.Dev != st.Dev || again.Ino != st.Ino {
		return errors.New("socket changed while checked")
	}
	if err := unix.Unlinkat(u.parent, u.base, 0); err != nil {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// makePrivate creates the 0700 directory gnet binds in, next to the target
// so the socket can be renamed into place (rename does not cross file
// systems).
func (u *unixSocket) makePrivate() error {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	u.privName = ".tapline-" + hex.EncodeToString(rnd[:])
	if err := unix.Mkdirat(u.parent, u.privName, 0o700); err != nil {
		u.privName = ""
		return fmt.Errorf("create private directory: %w", err)
	}
	fd, err := unix.Openat(u.parent, u.privName, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open private directory: %w", err)
	}
	u.priv = fd
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || int(st.Uid) != os.Geteuid() || st.Mode&0o7777 != 0o700 {
		return errors.New("private directory is not ours")
	}
	u.privDev, u.privIno = st.Dev, st.Ino
	// gnet must reach the directory through /proc/self/fd; make sure that
	// is the real procfs link to it.
	var via unix.Stat_t
	if err := unix.Stat(u.procDir(), &via); err != nil || via.Dev != st.Dev || via.Ino != st.Ino {
		return errors.New("/proc/self/fd does not lead to the private directory (is /proc mounted?)")
	}
	return nil
}

func (u *unixSocket) procDir() string { return "/proc/self/fd/" + strconv.Itoa(u.priv) }

// gnetAddr is the only address gnet sees: inside the private directory,
// reached through its descriptor, so neither its parse nor its RemoveAll
// can reach anything else.
func (u *unixSocket) gnetAddr() string { return "unix://" + u.procDir() + "/s" }

// publish sets the socket's group and mode while it is still inside the
// private 0700 directory, then moves it into place. It never replaces
// anything: a file that appeared at the path meanwhile makes it fail.
func (u *unixSocket) publish() error {
	if u.perm.gid >= 0 {
		if err := unix.Fchownat(u.priv, "s", -1, u.perm.gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chgrp %d: %w", u.perm.gid, err)
		}
	}
	// fchmodat cannot refuse symlinks (AT_SYMLINK_NOFOLLOW is not supported
	// for it), but "s" is in a directory only this process can write.
	if err := unix.Fchmodat(u.priv, "s", u.perm.mode&0o666|0o600, 0); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(u.priv, "s", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("bound socket missing (err %v)", err)
	}
	if err := unix.Renameat2(u.priv, "s", u.parent, u.base, unix.RENAME_NOREPLACE); err != nil {
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("move into place: %w", err)
		}
		// A file system without RENAME_NOREPLACE: link(2) never replaces either.
		if err := unix.Linkat(u.priv, "s", u.parent, u.base, 0); err != nil {
			return fmt.Errorf("link into place: %w", err)
		}
		_ = unix.Unlinkat(u.priv, "s", 0)
	}
	u.dev, u.ino, u.published = st.Dev, st.Ino, true
	u.removePrivate()
	return nil
}

// removePrivate removes the private directory if it is still the one made.
// Its descriptor stays open: gnet's RemoveAll at stop goes through it and
// finds a deleted, empty directory.
func (u *unixSocket) removePrivate() {
	if u.privName == "" {
		return
	}
	_ = unix.Unlinkat(u.priv, "s", 0) // not published: gnet's RemoveAll normally did it
	var st unix.Stat_t
	if err := unix.Fstatat(u.parent, u.privName, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil &&
		st.Dev == u.privDev && st.Ino == u.privIno {
		_ = unix.Unlinkat(u.parent, u.privName, unix.AT_REMOVEDIR)
	}
	u.privName = ""
}

// release runs once the engine has exited (gnet is done with the path): it
// unlinks the published file only if it is still the socket created here,
// and closes the descriptors. It reports whether a file was left alone.
func (u *unixSocket) release() (leftAlone bool) {
	u.removePrivate()
	if u.published {
		var st unix.Stat_t
		err := unix.Fstatat(u.parent, u.base, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == nil && st.Dev == u.dev && st.Ino == u.ino:
			_ = unix.Unlinkat(u.parent, u.base, 0)
		case err == nil:
			leftAlone = true
		}
		u.published = false
	}
	u.closeFDs()
	return leftAlone
}

func (u *unixSocket) closeFDs() {
	if u.privName != "" {
		u.removePrivate()
	}
	for _, fd := range []*int{&u.priv, &u.parent} {
		if *fd >= 0 {
			_ = unix.Close(*fd)
			*fd = -1
		}
	}
}

// socketHeld reports whether any socket in this network namespace is bound
// to the socket file st (at p), as the kernel sees it: sock_diag matches the
// file's device and inode (which follow renames), /proc/net/unix the path it
// was bound with. A connect probe cannot tell: it fails on DGRAM and
// SEQPACKET sockets and on a listener whose backlog is full.
func socketHeld(p string, st *unix.Stat_t) (bool, error) {
	held, err := diagHoldsInode(st)
	if err != nil || held {
		return held, err
	}
	return procNetUnixNames(p)
}

// Kernel ABI of unix_diag (linux/unix_diag.h), not in x/sys/unix.
const (
	udiagShowVFS = 0x2
	unixDiagVFS  = 1
)

// diagTimeout bounds one sock_diag dump; past it the socket counts as held.
const diagTimeout = 5 * time.Second

// diagHoldsInode dumps the Unix sockets of this network namespace with
// sock_diag and looks for one bound to the file's (device, inode).
func diagHoldsInode(st *unix.Stat_t) (bool, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return false, fmt.Errorf("sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return false, err
	}
	// nlmsghdr (16) + unix_diag_req (24)
	req := make([]byte, 40)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], 40)
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1)
	req[16] = unix.AF_UNIX
	ne.PutUint32(req[20:], 0xffffffff) // every state
	ne.PutUint32(req[28:], udiagShowVFS)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false, fmt.Errorf("sock_diag request: %w", err)
	}
	wantIno := uint32(st.Ino)                                              // unix_diag_vfs holds 32 bits: a collision only errs towards "held"
	wantDev := uint32(unix.Major(st.Dev))<<20 | uint32(unix.Minor(st.Dev)) // kernel dev_t encoding
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(diagTimeout) // a namespace with very many sockets must not hold manager_file
	for {
		if time.Now().After(deadline) {
			return false, errors.New("sock_diag: dump took too long")
		}
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return false, fmt.Errorf("sock_diag read: %w", err)
		}
		if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
			continue // not from the kernel
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return false, fmt.Errorf("sock_diag parse: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return false, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if e := int32(ne.Uint32(m.Data)); e != 0 {
						return false, fmt.Errorf("sock_diag: %w", unix.Errno(-e))
					}
				}
				return false, errors.New("sock_diag: error reply")
			}
			if diagMsgVFS(m.Data, wantDev, wantIno) {
				return true, nil
			}
		}
	}
}

// diagMsgVFS reads one unix_diag_msg (16 bytes) and its attributes, and
// reports whether its UNIX_DIAG_VFS names (dev, ino).
func diagMsgVFS(b []byte, dev, ino uint32) bool {
	if len(b) < 16 {
		return false
	}
	ne := binary.NativeEndian
	for a := b[16:]; len(a) >= 4; {
		l := int(ne.Uint16(a[0:]))
		if l < 4 || l > len(a) {
			return false
		}
		if ne.Uint16(a[2:]) == unixDiagVFS && l >= 12 {
			if ne.Uint32(a[4:]) == ino && ne.Uint32(a[8:]) == dev {
				return true
			}
		}
		a = a[min((l+3)&^3, len(a)):]
	}
	return false
}

// procNetUnixNames reports whether /proc/net/unix lists a socket bound with
// path p (the path is the last column; a path with blanks that merely ends
// the same way errs towards "held").
func procNetUnixNames(p string) (bool, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 4096) // paths are at most 108 bytes
	for sc.Scan() {
		if strings.HasSuffix(sc.Text(), " "+p) {
			return true, nil
		}
	}
	return false, sc.Err()
}
