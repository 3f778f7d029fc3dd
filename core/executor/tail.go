package executor

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"
)

// Follower streams the lines appended to a log file. It polls instead of using inotify
// because log files may sit on network filesystems (NFS, Lustre) where inotify does not
// see writes made by other machines.
type Follower struct {
	Path   string
	Stream string
	Task   int

	off     int64
	partial []byte
}

// maxLine caps an unterminated line held back waiting for its newline (progress bars
// that redraw with '\r' can write megabytes without one).
const maxLine = 64 << 10

// Poll emits every complete line appended since the last call. A missing file is not an
// error: the job may not have opened it yet.
func (f *Follower) Poll(emit func(Event)) error {
	file, err := os.Open(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer file.Close()
	if st, err := file.Stat(); err == nil && st.Size() < f.off {
		f.off, f.partial = 0, nil // truncated (e.g. rewritten by a requeued Slurm job)
	}
	if _, err := file.Seek(f.off, io.SeekStart); err != nil {
		return err
	}
	buf, err := io.ReadAll(file)
	if err != nil {
		return err
	}
	f.off += int64(len(buf))
	data := append(f.partial, buf...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		f.emit(emit, data[:i])
		data = data[i+1:]
	}
	if len(data) > maxLine {
		f.emit(emit, data)
		data = nil
	}
	f.partial = append([]byte(nil), data...)
	return nil
}

// Flush polls once more and emits a last line that has no trailing newline.
func (f *Follower) Flush(emit func(Event)) error {
	err := f.Poll(emit)
	if len(f.partial) > 0 {
		f.emit(emit, f.partial)
		f.partial = nil
	}
	return err
}

func (f *Follower) emit(emit func(Event), line []byte) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if emit != nil {
		emit(Event{Time: time.Now(), Kind: EventLog, Task: f.Task, Stream: f.Stream, Line: string(line)})
	}
}

// Followers returns one Follower per stream and task of a job with the given array size.
func Followers(workDir string, array int) []*Follower {
	var fs []*Follower
	for _, t := range taskList(array) {
		for _, s := range []string{"stdout", "stderr"} {
			fs = append(fs, &Follower{Path: LogPath(workDir, s, t), Stream: s, Task: t})
		}
	}
	return fs
}

// PollAll polls every follower and returns the first error.
func PollAll(fs []*Follower, emit func(Event)) error {
	var first error
	for _, f := range fs {
		if err := f.Poll(emit); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// FlushAll flushes every follower and returns the first error.
func FlushAll(fs []*Follower, emit func(Event)) error {
	var first error
	for _, f := range fs {
		if err := f.Flush(emit); err != nil && first == nil {
			first = err
		}
	}
	return first
}
