package local

import "syscall"

func killGroup(pgid int) error { return syscall.Kill(-pgid, syscall.SIGKILL) }
