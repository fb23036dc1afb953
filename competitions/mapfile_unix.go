//go:build unix

package competitions

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps path read-only and returns its bytes and the function that
// unmaps them. The bytes are the page cache's, not the heap's: validating a
// staged upload costs no copy of it, and the kernel may drop the pages
// under pressure. The caller must not use the bytes after unmapping, and
// the file must not be truncated meanwhile (staging files are private to
// their upload).
func mapFile(path string) ([]byte, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() == 0 {
		return []byte{}, func() {}, nil
	}
	if int64(int(fi.Size())) != fi.Size() {
		return nil, nil, fmt.Errorf("map %s: too large", path)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("map %s: %w", path, err)
	}
	return b, func() { syscall.Munmap(b) }, nil
}
