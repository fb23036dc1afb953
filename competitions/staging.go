package competitions

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stagingDir is the folder of the submission store where uploads are
// streamed before they are validated and linked to their content address.
// It is inside the store, so the link is a rename-like operation on one
// file system, and it is private like the store.
const stagingDir = ".staging"

// staleStaging is the age past which a leftover staging file (a process
// that died mid-upload) is removed at start.
const staleStaging = time.Hour

// ErrUploadBroken: reading the uploaded file failed before its end (the
// client went away or was too slow, or its body is malformed). It is the
// client's failure, not the store's.
var ErrUploadBroken = errors.New("the upload could not be read to its end")

// readTracker remembers the first read error of r (io.EOF aside), so a
// failing reader is told from a failing file system.
type readTracker struct {
	r   io.Reader
	err error
}

func (t *readTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// staged is one upload written to the staging folder: its path, SHA-256
// and size, computed while it streamed in. The file is synced and given to
// the data owner, so it can be linked into the store as it is.
type staged struct {
	path   string
	digest string
	size   int64
}

// stage streams r into a new file of the submission store's staging
// folder, hashing as it writes, and stops reading after limit+1 bytes: a
// longer upload is an *InvalidError naming the limit, and nothing of it
// stays. Memory is one copy buffer whatever the size of the upload.
func (s *Service) stage(r io.Reader, limit int64) (*staged, error) {
	dir := filepath.Join(s.roots.Submissions, stagingDir)
	if err := s.roots.Owner.mkdirAll(dir, privateDirMode); err != nil {
		return nil, fmt.Errorf("stage upload: %w", err)
	}
	f, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		return nil, fmt.Errorf("stage upload: %w", err)
	}
	st := &staged{path: f.Name()}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(st.path)
		}
	}()
	h := sha256.New()
	src := &readTracker{r: io.LimitReader(r, limit+1)}
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if err != nil {
		if src.err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUploadBroken, src.err)
		}
		return nil, fmt.Errorf("stage upload: %w", err)
	}
	if n > limit {
		return nil, &InvalidError{Problems: []Problem{{Message: fmt.Sprintf("the file is too large: at most %d bytes are accepted", limit)}}}
	}
	if err := f.Chmod(privateFileMode); err != nil {
		return nil, fmt.Errorf("stage upload: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("stage upload: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("stage upload: %w", err)
	}
	if err := s.roots.Owner.chown(st.path); err != nil {
		return nil, fmt.Errorf("stage upload: %w", err)
	}
	st.digest, st.size, ok = hex.EncodeToString(h.Sum(nil)), n, true
	return st, nil
}

// remove deletes the staging file; the stored copy, if any, is another
// link and stays.
func (st *staged) remove() {
	os.Remove(st.path)
}

// rel is the staged file's path relative to the store once placed.
func (st *staged) rel() string {
	return filepath.Join("sha256", st.digest[:2], st.digest)
}

// place links the staged file to its content address in the store (a
// no-op when a file of that size is already there) and returns the
// relative path. It can be called again after the stored file was removed.
func (s *Service) place(st *staged) (string, error) {
	rel := st.rel()
	dst := filepath.Join(s.roots.Submissions, rel)
	if fi, err := os.Stat(dst); err == nil && fi.Size() == st.size {
		return rel, nil
	}
	if err := s.roots.Owner.mkdirAll(filepath.Dir(dst), privateDirMode); err != nil {
		return "", fmt.Errorf("store submission: %w", err)
	}
	// A link under a temporary name, then a rename: the address holds the
	// whole file or nothing, and a stale partial file is replaced.
	tmp := filepath.Join(filepath.Dir(dst), ".tmp-"+filepath.Base(st.path))
	if err := os.Link(st.path, tmp); err != nil {
		return "", fmt.Errorf("store submission: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("store submission: %w", err)
	}
	return rel, nil
}

// sweepStaging removes staging files older than staleStaging, left by a
// process that stopped mid-upload. Younger ones may belong to another
// process sharing the store and are kept.
func (s *Service) sweepStaging() {
	dir := filepath.Join(s.roots.Submissions, stagingDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("could not read the upload staging folder", "err", err)
		}
		return
	}
	cutoff := s.now().Add(-staleStaging)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
