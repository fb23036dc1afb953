package competitions

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// putBlob stores data under root (a private store) as sha256/<aa>/<digest>,
// mode 0600 in folders of mode 0700, and returns the digest and the
// relative path. The file is written to a temporary name,
// synced and renamed, so a reader sees all of it or nothing; storing the
// same bytes twice is a no-op.
func putBlob(root string, data []byte, owner *FileOwner) (digest, rel string, err error) {
	sum := sha256.Sum256(data)
	digest = hex.EncodeToString(sum[:])
	rel = filepath.Join("sha256", digest[:2], digest)
	dst := filepath.Join(root, rel)
	if st, err := os.Stat(dst); err == nil && st.Size() == int64(len(data)) {
		return digest, rel, nil
	}
	if err := owner.mkdirAll(filepath.Dir(dst), privateDirMode); err != nil {
		return "", "", fmt.Errorf("store blob: %w", err)
	}
	if err := writeFileAtomic(dst, data, privateFileMode, owner); err != nil {
		return "", "", fmt.Errorf("store blob: %w", err)
	}
	return digest, rel, nil
}

// writeFileAtomic writes data to path through a synced temporary file and a
// rename, given to owner (when set) before the rename.
func writeFileAtomic(path string, data []byte, mode os.FileMode, owner *FileOwner) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
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
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	if err := owner.chown(tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readBlob reads a stored blob and checks its digest.
func readBlob(root, rel, digest string) ([]byte, error) {
	p, err := resolve(root, rel)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != digest {
		return nil, fmt.Errorf("blob %s is corrupt: digest mismatch", rel)
	}
	return data, nil
}
