package sandbox

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill a worker when the pool's process dies,
// so no worker outlives the binary that started it.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
