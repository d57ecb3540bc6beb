package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// maxFile bounds the tokens file (MaxTokens records of a few hundred bytes).
const maxFile = 16 << 20

// fileDoc is the tokens file: written by `tapline tokens` only.
type fileDoc struct {
	Version int      `json:"version"`
	Tokens  []Record `json:"tokens"`
}

// usedDoc is the file next to it (FILE.used) where the server writes back
// last uses and renewed expiries, so that the CLI and the server never
// write the same file.
type usedDoc map[string]useJSON

// ReadFile reads a tokens file strictly: a missing file is no tokens, a
// file that does not parse or holds an invalid record is an error.
func ReadFile(path string) ([]Record, error) {
	b, err := readBounded(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var d fileDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if d.Version != 1 {
		return nil, fmt.Errorf("%s: version %d (want 1)", path, d.Version)
	}
	if len(d.Tokens) > MaxTokens {
		return nil, fmt.Errorf("%s: %d tokens (at most %d)", path, len(d.Tokens), MaxTokens)
	}
	return d.Tokens, nil
}

// WriteFile replaces the tokens file atomically (a temporary file in the
// same directory, synced, renamed), mode 0600.
func WriteFile(path string, recs []Record) error {
	b, err := json.MarshalIndent(fileDoc{Version: 1, Tokens: recs}, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(b, '\n'))
}

func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := trusted(f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err == nil && len(b) > maxFile {
		err = fmt.Errorf("%s: larger than %d bytes", path, maxFile)
	}
	return b, err
}

// ErrUntrusted: the tokens file could have been written by someone else
// than root or the reader's user, who could then mint any token.
var ErrUntrusted = errors.New("untrusted tokens file")

// trusted refuses a tokens file that another user could have written, as
// sshd's StrictModes refuses authorized_keys: owned by someone other than
// root or the reading process's user, or writable by group or others.
// The file is checked once opened, so a symlink is judged by its target.
func trusted(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: owned by uid %d (want root or uid %d)", ErrUntrusted, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: mode %04o is writable by group or others (want 0600)", ErrUntrusted, fi.Mode().Perm())
	}
	return nil
}

// FileSource is the tokens file named by manager_tokens_file. Once it held
// tokens, a missing or unreadable file is an error (Watch keeps the last
// good set): deleting the file never opens or closes access by accident;
// `tapline tokens revoke` does.
type FileSource struct {
	Path string
	had  bool
}

// Name implements Source.
func (f *FileSource) Name() string { return "file " + f.Path }

// Version is the file's inode, size and modification time.
func (f *FileSource) Version(context.Context) (string, error) {
	fi, err := os.Stat(f.Path)
	if errors.Is(err, fs.ErrNotExist) && !f.had {
		return "none", nil
	}
	if err != nil {
		return "", err
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return fmt.Sprintf("%d/%d/%d", ino, fi.Size(), fi.ModTime().UnixNano()), nil
}

// Load implements Source: the file's records, with the uses in FILE.used.
func (f *FileSource) Load(context.Context) ([]Record, error) {
	if _, err := os.Stat(f.Path); errors.Is(err, fs.ErrNotExist) && f.had {
		return nil, fmt.Errorf("%s vanished after it held tokens", f.Path)
	}
	recs, err := ReadFile(f.Path)
	if err != nil {
		return nil, err
	}
	mergeUsed(recs, f.Path+".used")
	f.had = f.had || len(recs) > 0
	return recs, nil
}

// mergeUsed applies FILE.used; it only ever moves a last use or a renewed
// expiry later, so a bad or missing FILE.used is ignored.
func mergeUsed(recs []Record, path string) {
	b, err := readBounded(path)
	if err != nil {
		return
	}
	var u usedDoc
	if json.Unmarshal(b, &u) != nil {
		return
	}
	for i := range recs {
		if x, ok := u[recs[i].ID]; ok {
			ApplyUse(&recs[i], Use{ID: recs[i].ID, LastUsed: x.LastUsed, Expires: x.Expires})
		}
	}
}

// WriteBack implements Source: it merges uses into FILE.used.
func (f *FileSource) WriteBack(_ context.Context, uses []Use) error {
	u := usedDoc{}
	if b, err := readBounded(f.Path + ".used"); err == nil {
		_ = json.Unmarshal(b, &u)
	}
	recs, err := ReadFile(f.Path)
	if err != nil {
		return err
	}
	live := make(map[string]bool, len(recs))
	for _, r := range recs {
		live[r.ID] = true
	}
	for id := range u {
		if !live[id] { // bounded by the tokens file
			delete(u, id)
		}
	}
	for _, x := range uses {
		if live[x.ID] {
			u[x.ID] = useJSON{x.LastUsed, x.Expires}
		}
	}
	b, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return writeAtomic(f.Path+".used", b)
}

// MergeUsed applies FILE.used to recs (for `tapline tokens list`).
func MergeUsed(recs []Record, path string) { mergeUsed(recs, path+".used") }
