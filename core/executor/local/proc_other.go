//go:build unix && !linux

package local

import "syscall"

// Without /proc there is no portable start time: liveness is checked by PID alone, so a
// re-used PID after a restart can be mistaken for the job (documented in the package doc).
func procStart(pid int) (uint64, bool) {
	return 0, syscall.Kill(pid, 0) == nil
}

func bootID() string { return "" }

func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }
