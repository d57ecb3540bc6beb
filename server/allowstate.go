package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"tapline/access"
)

// allowStateName is the file under statedir that remembers the runtime
// allowlist entries last applied from Redis, so a sensor restarted against
// a Redis that lost them (or that is down) keeps them in force instead of
// serving every address. Written only when Redis is configured: without it
// the runtime entries are memory only and documented as lost on restart.
const allowStateName = "allowlist.state"

// maxAllowState bounds what is read: 1024 entries of at most 43 bytes as
// JSON strings, and a little more.
const maxAllowState = 128 << 10

// allowStateData is the file's content.
type allowStateData struct {
	Entries []string  `json:"entries"`
	Updated time.Time `json:"updated"`
}

// allowStateFile reads and writes <statedir>/allowlist.state.
type allowStateFile struct{ dir string }

func (f allowStateFile) path() string { return filepath.Join(f.dir, allowStateName) }

// read returns the entries the file records; a missing file is none. The
// file is as hostile as any input: entries that do not parse are an error.
func (f allowStateFile) read() ([]netip.Prefix, error) {
	fh, err := os.Open(f.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxAllowState+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxAllowState {
		return nil, fmt.Errorf("larger than %d bytes", maxAllowState)
	}
	return parseAllowState(b)
}

// parseAllowState decodes the file's content: at most
// access.MaxRuntimeAllow entries, each one access.ParsePrefix accepts.
func parseAllowState(b []byte) ([]netip.Prefix, error) {
	var d allowStateData
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	if len(d.Entries) > access.MaxRuntimeAllow {
		return nil, access.ErrAllowlistFull
	}
	ps := make([]netip.Prefix, 0, len(d.Entries))
	for _, e := range d.Entries {
		p, err := access.ParsePrefix(e)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// write replaces the file atomically: a 0600 temporary file in statedir
// (created 0700 when missing), synced, renamed over the old one, and the
// directory synced, so a crash leaves the old or the new list.
func (f allowStateFile) write(ps []netip.Prefix) error {
	d := allowStateData{Entries: make([]string, 0, len(ps)), Updated: time.Now().UTC()}
	for _, p := range ps {
		d.Entries = append(d.Entries, p.String())
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.dir, "."+allowStateName+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err = errors.Join(err, tmp.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.path()); err != nil {
		return err
	}
	dir, err := os.Open(f.dir)
	if err != nil {
		return err
	}
	return errors.Join(dir.Sync(), dir.Close())
}
