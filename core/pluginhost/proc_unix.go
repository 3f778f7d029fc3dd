//go:build unix

package pluginhost

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// gone reports whether process pid has exited: it no longer exists or is
// a zombie. go-plugin only notices an exit once the plugin's output pipes
// close, which a child that inherited them can delay for ever.
func gone(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) != nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && (s[i+2] == 'Z' || s[i+2] == 'X')
}
