package sandbox

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill a worker when the pool's process dies,
// so no worker outlives the binary that started it.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// growPipe asks for a 1 MiB pipe buffer; failure (an old kernel, a lower
// pipe-max-size) only costs speed.
func growPipe(f *os.File) {
	const fSetPipeSz = 1031 // F_SETPIPE_SZ
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, 1<<20)
		})
	}
}

// adviseHuge asks for transparent huge pages on guest memory: a guest that
// touches tens of megabytes takes 512x fewer page faults.
func adviseHuge(b []byte) { _ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) }
