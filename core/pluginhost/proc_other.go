//go:build !unix

package pluginhost

import (
	"os"
	"os/exec"
)

// Without process groups only the plugin itself can be ended.
func ownGroup(cmd *exec.Cmd) {}

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func gone(pid int) bool { return false }
