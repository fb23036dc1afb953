package competitions

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestParseFileOwner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want *FileOwner
		bad  bool
	}{
		{in: "", want: nil},
		{in: "65532:65532", want: &FileOwner{UID: 65532, GID: 65532}},
		{in: "0:0", want: &FileOwner{}},
		{in: "65532", bad: true},
		{in: "a:b", bad: true},
		{in: "-1:5", bad: true},
		{in: "1:", bad: true},
		{in: ":1", bad: true},
		{in: "1:2:3", bad: true},
	}
	for _, tc := range tests {
		got, err := ParseFileOwner(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
			continue
		}
		if err != nil || (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%q: %v, %v", tc.in, got, err)
		}
	}
}

// TestStoredFilesGoToTheDataOwner: with an owner set (the Compose stack's
// root API), every folder a store creates and every file it writes belong
// to the owner, so the unprivileged worker can read them at their private
// modes; nothing is left to the writing process.
func TestStoredFilesGoToTheDataOwner(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user needs root (CI and this host run tests as root)")
	}
	owner := &FileOwner{UID: 65532, GID: 65533}
	root := filepath.Join(t.TempDir(), "stores", "submissions")
	if err := ensureDir(root, privateDirMode, owner); err != nil {
		t.Fatal(err)
	}
	_, rel, err := putBlob(root, []byte("PassengerId,Survived\n1,0\n"), owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(root), root, filepath.Join(root, "sha256"), filepath.Dir(filepath.Join(root, rel)), filepath.Join(root, rel)} {
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		s := st.Sys().(*syscall.Stat_t)
		if int(s.Uid) != owner.UID || int(s.Gid) != owner.GID {
			t.Errorf("%s is owned by %d:%d, want %s", p, s.Uid, s.Gid, owner)
		}
	}
	st, _ := os.Stat(filepath.Join(root, rel))
	if st.Mode().Perm() != privateFileMode {
		t.Errorf("stored file mode %v, want %v", st.Mode().Perm(), privateFileMode)
	}
	// Without an owner nothing is changed.
	plain := filepath.Join(t.TempDir(), "plain")
	if _, rel, err = putBlob(plain, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	st, _ = os.Lstat(filepath.Join(plain, rel))
	if s := st.Sys().(*syscall.Stat_t); s.Uid != 0 {
		t.Errorf("file without an owner setting belongs to %d", s.Uid)
	}
}
