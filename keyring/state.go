package keyring

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stateFileName is the file under statedir that records that this sensor
// enforced a manager key from Redis.
const stateFileName = "keys.state"

// maxStateFile bounds what ReadState reads: the file holds a few dozen
// bytes, so anything larger is not one of ours.
const maxStateFile = 4096

// ErrStateCorrupt means the state file exists but is not one tapline wrote.
var ErrStateCorrupt = errors.New("keyring: state file is corrupt")

// Enforced is the content of the state file: only the fact that a key was
// enforced, which key (its fingerprint, a hash, never the secret) and since
// when. Its presence is what keeps a restarted sensor closed when Redis has
// lost the key.
type Enforced struct {
	Enforced    bool      `json:"enforced"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Since       time.Time `json:"since"`
}

// StateFile is the sensor's memory across restarts of whether it enforced
// a key. The zero value is unusable; use NewStateFile.
type StateFile struct {
	dir string
}

// NewStateFile returns the state file under dir (statedir). Nothing is
// touched until Read or Write.
func NewStateFile(dir string) *StateFile { return &StateFile{dir: dir} }

// Path is the file's path, for logs.
func (f *StateFile) Path() string { return filepath.Join(f.dir, stateFileName) }

// Read returns what the file records. A missing file (or statedir) means
// "never enforced" (ok false, err nil). Any other failure is an error the
// caller must treat as "enforced": a file that cannot be read may well say so.
func (f *StateFile) Read() (e Enforced, ok bool, err error) {
	fh, err := os.Open(f.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return Enforced{}, false, nil
	}
	if err != nil {
		return Enforced{}, false, fmt.Errorf("keyring: read state file: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxStateFile+1))
	if err != nil {
		return Enforced{}, false, fmt.Errorf("keyring: read state file %s: %w", f.Path(), err)
	}
	if len(b) > maxStateFile {
		return Enforced{}, false, fmt.Errorf("%w: %s is larger than %d bytes", ErrStateCorrupt, f.Path(), maxStateFile)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return Enforced{}, false, fmt.Errorf("%w: %s: %v", ErrStateCorrupt, f.Path(), err)
	}
	return e, true, nil
}

// Write replaces the file with e atomically: a temporary file in the same
// directory (0600), synced, renamed over the old one, and the directory
// synced, so a crash leaves either the old or the new content. statedir is
// created (0700) when missing.
func (f *StateFile) Write(e Enforced) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("keyring: encode state: %w", err)
	}
	if err := mkdirAll0700(f.dir); err != nil {
		return fmt.Errorf("keyring: state dir: %w", err)
	}
	tmp, err := os.CreateTemp(f.dir, "."+stateFileName+".*")
	if err != nil {
		return fmt.Errorf("keyring: write state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := writeSync(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("keyring: write state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path()); err != nil {
		return fmt.Errorf("keyring: write state file: %w", err)
	}
	return syncDir(f.dir)
}

// Clear removes the file: the operator allowed plaintext again.
func (f *StateFile) Clear() error {
	if err := os.Remove(f.Path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keyring: remove state file: %w", err)
	}
	return syncDir(f.dir)
}

// mkdirAll0700 is os.MkdirAll with mode 0700 set explicitly on every
// directory it creates: the process umask is not ours to trust (the server
// narrows it for a moment while it creates its Unix socket, and a wider one
// would leave statedir readable by others).
func mkdirAll0700(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAll0700(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // created meanwhile by someone else: not ours to chmod
		}
		return err
	}
	return os.Chmod(dir, 0o700)
}

// writeSync writes b to fh (created 0600 by CreateTemp), syncs and closes it.
func writeSync(fh *os.File, b []byte) error {
	_, err := fh.Write(b)
	if err == nil {
		err = fh.Chmod(0o600)
	}
	if err == nil {
		err = fh.Sync()
	}
	return errors.Join(err, fh.Close())
}

// syncDir makes a rename or remove in dir durable. A missing dir has
// nothing to sync.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("keyring: sync state dir: %w", err)
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
