package sessions

import (
	"strings"
)

// DigestPinned reports whether image names an image by digest
// (repo@sha256:<64 hex>), as production requires.
func DigestPinned(image string) bool {
	_, digest, ok := strings.Cut(image, "@sha256:")
	if !ok || len(digest) != 64 {
		return false
	}
	for _, r := range digest {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}
