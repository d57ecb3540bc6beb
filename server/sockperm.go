package server

import (
	"errors"
	"fmt"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// sockPerm is who may reach a socket file tapline creates: its permission
// bits and its group. It is applied inside the private 0700 directory,
// before the socket is renamed into place (unixSocket.publish), so the
// published path never has other permissions, not even for an instant.
// Connecting needs write permission on the file; what a peer that connects
// may do is still decided by its credentials (connectIdentity).
type sockPerm struct {
	mode uint32 // permission bits; always includes 0600, never execute bits
	gid  int    // group owner; -1 keeps the server's
}

// fileSockPerm is the permission of sockets made by `manager_file start`:
// always 0600 with the server's group. A socket opened at run time by a
// client is not a place to widen access; managersocket_mode and
// managersocket_group are the operator's choice for the configured socket.
var fileSockPerm = sockPerm{mode: 0o600, gid: -1}

// configuredSockPerm is the permission of the managersocket, from
// managersocket_mode and managersocket_group. An unknown group fails the
// start: a socket that silently stayed with the server's group would lock
// out the users the operator meant to let in, or worse, the reverse.
func (s *Server) configuredSockPerm() (sockPerm, error) {
	p := sockPerm{mode: s.cfg.SocketMode&0o666 | 0o600, gid: -1}
	if s.cfg.SocketGroup == "" {
		return p, nil
	}
	gid, err := lookupGroup(s.cfg.SocketGroup)
	if err != nil {
		return p, fmt.Errorf("managersocket_group: %w", err)
	}
	p.gid = gid
	return p, nil
}

// lookupGroup is the gid of a group given by name or number.
func lookupGroup(g string) (int, error) {
	if n, err := strconv.ParseUint(g, 10, 31); err == nil {
		return int(n), nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return 0, fmt.Errorf("no such group %q", g)
	}
	n, err := strconv.ParseUint(grp.Gid, 10, 31)
	if err != nil {
		return 0, fmt.Errorf("group %q has no numeric id", g)
	}
	return int(n), nil
}

// managerFileName is the socket `manager_file start` creates without a path.
const managerFileName = "tapline-manager.sock"

// fileDir is the directory manager_file sockets must lie in:
// manager_file_dir, else the directory of managersocket, else rundir.
func (s *Server) fileDir() (string, error) {
	switch {
	case s.cfg.FileDir != "":
		return filepath.Clean(s.cfg.FileDir), nil
	case s.cfg.ManagerSocket != "":
		p, err := configuredSocketPath(s.cfg.ManagerSocket)
		if err != nil {
			return "", err
		}
		return filepath.Dir(p), nil
	case s.cfg.RunDir != "":
		return filepath.Clean(s.cfg.RunDir), nil
	}
	return "", errors.New("no manager_file_dir, managersocket or rundir configured")
}

// managerFilePath is the socket path `manager_file start [path]` may use:
// path, or the default name, inside fileDir. The path must be canonical
// (checkSocketSyntax, so no ".." can leave the directory) and the walk that
// opens its directory follows no symlink (openDirNoFollow), so a prefix
// test is containment on the real file system. Subdirectories are allowed:
// they are the operator's, inside the operator's directory.
func (s *Server) managerFilePath(path string) (string, error) {
	dir, err := s.fileDir()
	if err != nil {
		return "", err
	}
	if path == "" {
		path = strings.TrimSuffix(dir, "/") + "/" + managerFileName
	}
	if err := checkSocketSyntax(path); err != nil {
		return "", err
	}
	if dir != "/" && !strings.HasPrefix(path, dir+"/") {
		return "", fmt.Errorf("outside manager_file_dir %s", dir)
	}
	return path, nil
}
