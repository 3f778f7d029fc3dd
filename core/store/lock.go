package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockError says which process holds a store's lock.
type LockError struct {
	Path string // the lock file
	PID  int    // 0 when the holder's pid could not be read
}

func (e *LockError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("another polyglot process (pid %d)", e.PID)
	}
	return fmt.Sprintf("the store is in use by %s: %s is locked; wait for that run to finish or stop it, then try again (`polyglot status` can read the store meanwhile)", who, e.Path)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockError) Is(target error) bool { return target == ErrLocked }

// dirLock is an flock on a file that holds the owner's pid. flock is tied to
// the open file, so the kernel releases it when the process dies, even on
// SIGKILL: a crashed run never leaves a stale lock behind.
type dirLock struct{ f *os.File }

func acquireLock(path string) (*dirLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the store lock %s: %w; check the folder's permissions", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &LockError{Path: path, PID: pid}
		}
		return nil, fmt.Errorf("cannot lock %s: %w (does the file system support flock?)", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	// Clear the pid first so a reader never blames a finished process.
	_ = l.f.Truncate(0)
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// ReadLock takes a shared lock on the store in dir for a reader that must
// not see a run's half-written results (an export): it fails with a
// *LockError (ErrLocked) while a run holds the store, and while it is held
// no run can start. release gives it back; the kernel does so if the
// process dies. A store folder without a lock file has never run.
func ReadLock(dir string) (release func(), err error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open the store lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &LockError{Path: path, PID: pid}
		}
		return nil, fmt.Errorf("cannot lock %s: %w (does the file system support flock?)", path, err)
	}
	return func() { f.Close() }, nil
}
