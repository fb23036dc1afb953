package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/landlock-lsm/go-landlock/landlock"
	"golang.org/x/sys/unix"
)

// confine locks the worker process down before it reads its first frame,
// in this order (each step needs the rights the next one removes):
//
//  1. RLIMIT_AS (address space) and RLIMIT_NOFILE, so host memory a module
//     makes the runtime allocate (tables, stack, compiled code) ends in an
//     allocation failure that kills only this worker;
//  2. the compiled-module cache is opened as a directory descriptor and used
//     through /proc/self/fd, so the worker needs no path to it;
//  3. when started as root, the worker drops to cfg.UID/cfg.GID with no
//     supplementary groups; the kernel clears every capability on that
//     change;
//  4. Landlock (best effort for the kernel's ABI): read and write only
//     beneath the cache directory, no TCP bind or connect, no signals or
//     abstract sockets outside the worker;
//  5. no_new_privs and a seccomp allowlist (errno EPERM for anything else)
//     on every thread.
//
// It returns the cache path the runner must use.
func confine(cfg runnerConfig) (string, error) {
	if cfg.AddressSpaceBytes > 0 {
		lim := &unix.Rlimit{Cur: cfg.AddressSpaceBytes, Max: cfg.AddressSpaceBytes}
		if err := unix.Setrlimit(unix.RLIMIT_AS, lim); err != nil {
			return "", fmt.Errorf("address-space limit: %w", err)
		}
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 64, Max: 64}); err != nil {
		return "", fmt.Errorf("file limit: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return "", fmt.Errorf("core limit: %w", err)
	}
	cache := cfg.CacheDir
	if cache != "" {
		fd, err := unix.Open(cache, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", fmt.Errorf("open cache dir: %w", err)
		}
		cache = "/proc/self/fd/" + strconv.Itoa(fd)
	}
	if os.Geteuid() == 0 {
		ppid := os.Getppid()
		if err := dropRoot(cfg.UID, cfg.GID); err != nil {
			return "", err
		}
		// A credential change clears the parent-death signal: set it again,
		// and leave if the parent already died in between.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			return "", fmt.Errorf("parent-death signal: %w", err)
		}
		if os.Getppid() != ppid {
			return "", fmt.Errorf("parent %d exited", ppid)
		}
	}
	var rules []landlock.Rule
	if cache != "" {
		rules = append(rules, landlock.RWDirs(cache))
	}
	if err := landlock.V7.BestEffort().Restrict(rules...); err != nil {
		return "", fmt.Errorf("landlock: %w", err)
	}
	filter := seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync,
		Policy: seccomp.Policy{
			DefaultAction: seccomp.ActionErrno,
			Syscalls:      []seccomp.SyscallGroup{{Action: seccomp.ActionAllow, Names: workerSyscalls}},
		},
	}
	if err := seccomp.LoadFilter(filter); err != nil {
		return "", fmt.Errorf("seccomp: %w", err)
	}
	return cache, nil
}

// dropRoot switches every thread to uid:gid with no supplementary groups.
// Going from uid 0 to a non-zero real, effective and saved uid clears the
// permitted, effective and ambient capability sets.
func dropRoot(uid, gid int) error {
	if uid <= 0 || gid <= 0 {
		return fmt.Errorf("sandbox uid/gid %d:%d must not be root", uid, gid)
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setresgid(%d): %w", gid, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid(%d): %w", uid, err)
	}
	if os.Geteuid() == 0 {
		return fmt.Errorf("still root after setresuid(%d)", uid)
	}
	return nil
}

// workerSyscalls are the system calls a worker makes once confined: the Go
// runtime (threads, signals for preemption, the scheduler, memory), wazero
// (mapping and protecting compiled code), the frame pipes and the files of
// the compilation cache. No exec, no sockets, no ptrace, no mounts, no
// namespaces, no key management, no bpf, no process_vm_*, no kill of other
// processes. Measured with strace -ff over the sandbox's tests.
var workerSyscalls = []string{
	// I/O on the pipes and the cache
	"read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close",
	"fcntl", "fstat", "newfstatat", "statx", "openat", "getdents64", "mkdirat",
	"renameat", "renameat2", "rename", "unlinkat", "fsync", "fdatasync", "ftruncate",
	"fchmod", "readlinkat",
	// memory
	"mmap", "munmap", "mprotect", "madvise", "mremap", "brk", "membarrier",
	// threads, signals, scheduling
	"clone", "clone3", "futex", "set_robust_list", "get_robust_list", "rseq",
	"gettid", "getpid", "getppid", "tgkill", "rt_sigaction", "rt_sigprocmask",
	"rt_sigreturn", "sigaltstack", "sched_yield", "sched_getaffinity",
	"nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday",
	"restart_syscall", "exit", "exit_group", "getrandom", "prlimit64", "getrlimit",
	"getuid", "geteuid", "getgid", "getegid", "prctl", "uname", "arch_prctl",
	// the runtime's netpoller (pipes only: sockets are not allowed)
	"epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait",
	"eventfd2", "pipe2",
}

// cgroupMemory puts pid into a cgroup v2 child of this process's cgroup
// with memory.max set to bytes, when the unified hierarchy is mounted, has
// the memory controller and is writable here. It returns a cleanup that
// removes the group (after the worker has exited), or nil when no group was
// made: the address-space limit still applies then.
func cgroupMemory(pid int, bytes uint64) func() {
	base := cgroupV2Dir()
	if base == "" || bytes == 0 {
		return nil
	}
	ctl, err := os.ReadFile(filepath.Join(base, "cgroup.subtree_control"))
	if err != nil || !slices.Contains(strings.Fields(string(ctl)), "memory") {
		return nil
	}
	dir := filepath.Join(base, "medforge-sandbox-"+strconv.Itoa(pid))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil
	}
	cleanup := func() { _ = os.Remove(dir) }
	_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0) // absent without swap accounting
	if os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatUint(bytes, 10)), 0) != nil ||
		os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0) != nil {
		cleanup()
		return nil
	}
	return cleanup
}

// cgroupV2Dir is this process's cgroup directory on the unified hierarchy,
// or "" when there is none.
func cgroupV2Dir() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	var rel string
	for _, line := range strings.Split(string(b), "\n") {
		if r, ok := strings.CutPrefix(line, "0::"); ok {
			rel = r
		}
	}
	if rel == "" {
		return ""
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(mi), "\n") {
		// ... mountpoint ... - fstype source options
		pre, post, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		f := strings.Fields(pre)
		if len(f) >= 5 {
			return filepath.Join(f[4], rel)
		}
	}
	return ""
}

// chownTree gives the cache to the sandbox user, so a worker that dropped
// root can read and add compiled modules.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
