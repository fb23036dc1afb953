package sessions_test

import (
	"io/fs"
	"strconv"
	"syscall"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func owner(fi fs.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}
