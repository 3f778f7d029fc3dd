//go:build unix

package pluginhost

import (
	"os/exec"
	"syscall"
)

// ownGroup starts cmd as the leader of a new process group, so that
// whatever the plugin starts (a tokenizer server, a shell) can be ended
// with it: see killGroup.
func ownGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// killGroup SIGKILLs every process in the group that pid leads. The group
// outlives its leader while a member lives, so this also reaches the
// children of a plugin that already exited.
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}
