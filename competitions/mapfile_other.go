//go:build !unix

package competitions

import "os"

// mapFile reads path into memory where the system has no mmap.
func mapFile(path string) ([]byte, func(), error) {
	b, err := os.ReadFile(path)
	return b, func() {}, err
}
