package sessions

import (
	"strings"
)

// DigestPinned reports whether image names an image by digest
// (repo@sha256:<64 hex>), as production requires, or by its local image id
// (sha256:<64 hex>, the digest of its configuration, which names every
// layer's digest): a host without a registry has no repository digests.
func DigestPinned(image string) bool {
	if id, ok := strings.CutPrefix(image, "sha256:"); ok {
		image = "@sha256:" + id
	}
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
