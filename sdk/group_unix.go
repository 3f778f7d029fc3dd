//go:build unix

package sdk

import (
	"os"
	"os/signal"
	"syscall"
)

// endGroup ends the processes the plugin started, then the plugin, when
// the plugin leads its process group (the host starts every plugin in a
// group of its own). hard SIGKILLs the group, the plugin included (the host
// is gone); otherwise the others get SIGTERM and the plugin exits with code
// (a normal stop; the host SIGKILLs the group after it anyway). A plugin
// started some other way shares its parent's group and only exits.
func endGroup(code int, hard bool) {
	if syscall.Getpgrp() == os.Getpid() {
		if hard {
			_ = syscall.Kill(0, syscall.SIGKILL)
		}
		signal.Ignore(syscall.SIGTERM)
		_ = syscall.Kill(0, syscall.SIGTERM)
	}
	os.Exit(code)
}
