//go:build linux

package local

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procStart returns the start time of pid in clock ticks since boot (field 22 of
// /proc/<pid>/stat) and whether the process is alive (exists and is not a zombie). The
// start time tells a re-used PID apart from the job's own process.
func procStart(pid int) (start uint64, alive bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may contain spaces; fields after
	// the last ')' are space-separated: state is field 3, starttime field 22.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, false
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, false
	}
	return start, f[0] != "Z" && f[0] != "X"
}

// bootID changes at every reboot; a PID recorded before a reboot means nothing after it.
func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// groupAlive reports whether any non-zombie process is in process group pgid. Signal 0 to
// the group is not enough: orphaned members that already exited stay as zombies until
// init reaps them, and some inits (in containers, micro-VMs) never do.
func groupAlive(pgid int) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state, ppid, pgrp, ...
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}
