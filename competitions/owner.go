package competitions

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FileOwner is who owns what competitions writes into the roots and stores
// when the writing process is not that user: in the Compose stack the API
// runs as root (it drives Docker and owns workspaces) and hands every
// submission, scorer module, holdout and public file it stores to the
// unprivileged medforge user (65532:65532), which the scoring worker runs
// as. A nil *FileOwner leaves ownership to the process (tests, make run).
type FileOwner struct{ UID, GID int }

// ParseFileOwner reads "uid:gid" (MEDFORGE_DATA_OWNER); "" is nil.
func ParseFileOwner(v string) (*FileOwner, error) {
	if v == "" {
		return nil, nil
	}
	u, g, ok := strings.Cut(v, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return nil, fmt.Errorf("want uid:gid such as 65532:65532, got %q", v)
	}
	return &FileOwner{UID: uid, GID: gid}, nil
}

func (o *FileOwner) String() string {
	if o == nil {
		return ""
	}
	return strconv.Itoa(o.UID) + ":" + strconv.Itoa(o.GID)
}

// chown gives path to o; a nil o does nothing.
func (o *FileOwner) chown(path string) error {
	if o == nil {
		return nil
	}
	if err := os.Lchown(path, o.UID, o.GID); err != nil {
		return fmt.Errorf("give %s to %s: %w", path, o, err)
	}
	return nil
}

// mkdirAll is os.MkdirAll that gives every folder it creates to o.
func (o *FileOwner) mkdirAll(dir string, mode os.FileMode) error {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	for _, d := range created {
		if err := o.chown(d); err != nil {
			return err
		}
	}
	return nil
}
