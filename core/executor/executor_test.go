package executor

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	ok := Job{Key: "k", Name: "n", Argv: []string{"true"}, WorkDir: "/tmp/x"}
	tests := []struct {
		name string
		mod  func(*Job)
		want string // "" = valid
	}{
		{"valid", func(*Job) {}, ""},
		{"empty key", func(j *Job) { j.Key = "" }, "Key"},
		{"key with slash", func(j *Job) { j.Key = "a/b" }, "Key"},
		{"no argv", func(j *Job) { j.Argv = nil }, "Argv is empty"},
		{"relative workdir", func(j *Job) { j.WorkDir = "jobs/x" }, "absolute"},
		{"no workdir", func(j *Job) { j.WorkDir = "" }, "folder of its own"},
		{"bad env name", func(j *Job) { j.Env = map[string]string{"1X": "v"} }, "Env name"},
		{"file escapes", func(j *Job) { j.Files = map[string][]byte{"../x": nil} }, "'..'"},
		{"absolute file", func(j *Job) { j.Files = map[string][]byte{"/etc/x": nil} }, "relative"},
		{"reserved file", func(j *Job) { j.Files = map[string][]byte{"logs/x": nil} }, "reserved"},
		{"negative array", func(j *Job) { j.Array = -1 }, "Array"},
		{"negative gpus", func(j *Job) { j.Resources.GPUs = -1 }, "negative"},
		{"nested file ok", func(j *Job) { j.Files = map[string][]byte{"conf/a.yaml": nil} }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := ok
			tc.mod(&j)
			err := j.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestKeyOf(t *testing.T) {
	if KeyOf("ab", "c") == KeyOf("a", "bc") {
		t.Error("KeyOf must separate parts")
	}
	if KeyOf("x") != KeyOf("x") || len(KeyOf("x")) != 32 {
		t.Error("KeyOf must be stable and 32 hex chars")
	}
	if err := (Job{Key: KeyOf("x"), Argv: []string{"a"}, WorkDir: "/w"}).Validate(); err != nil {
		t.Errorf("KeyOf output must be a valid key: %v", err)
	}
}

func TestBeginRecordsAndReattaches(t *testing.T) {
	dir := t.TempDir()
	j := Job{Key: "k", Name: "n", Argv: []string{"true"}, WorkDir: dir, Files: map[string][]byte{"conf/a.txt": []byte("A")}}
	s, err := Begin(j, "test")
	if err != nil || s.Existing != nil {
		t.Fatalf("first Begin: %v %+v", err, s)
	}
	if err := s.Prepare(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "conf", "a.txt")); string(b) != "A" {
		t.Errorf("file not written: %q", b)
	}
	h := Handle{Backend: "test", Key: "k", ID: "42", WorkDir: dir}
	if _, err := s.Commit(h, map[string]int{"pid": 42}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.WriteFile(LogPath(dir, "stdout", -1), []byte("attempt 0\n"), 0o644)

	s, err = Begin(j, "test")
	if err != nil || s.Existing == nil || s.Existing.Handle != h {
		t.Fatalf("same attempt should re-attach: %v %+v", err, s)
	}
	var back map[string]int
	if err := json.Unmarshal(s.Existing.Backend, &back); err != nil || back["pid"] != 42 {
		t.Errorf("backend data not kept: %s %v", s.Existing.Backend, err)
	}
	s.Close()

	for _, tc := range []struct {
		name string
		mod  func(*Job)
		back string
		want string
	}{
		{"other key", func(j *Job) { j.Key = "other" }, "test", "own folder"},
		{"other backend", func(*Job) {}, "slurm", "submitted to \"test\""},
	} {
		jj := j
		tc.mod(&jj)
		s, err := Begin(jj, tc.back)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			} else {
				s.Close()
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}

	j.Attempt = 1
	s, err = Begin(j, "test")
	if err != nil || s.Existing != nil {
		t.Fatalf("retry: %v %+v", err, s)
	}
	s.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "logs.attempt-0", "stdout.log")); string(b) != "attempt 0\n" {
		t.Errorf("earlier attempt's logs not archived: %q", b)
	}
	h.Attempt = 1
	s, _ = Begin(j, "test")
	if _, err := s.Commit(h, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	j.Attempt = 0
	if _, err := Begin(j, "test"); err == nil || !strings.Contains(err.Error(), "older than the recorded attempt 1") {
		t.Errorf("older attempt: %v", err)
	}
}

func TestLoadStateCorrupt(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, StateFile), []byte("{not json"), 0o644)
	_, err := LoadState(dir)
	if err == nil || !strings.Contains(err.Error(), "delete the file") {
		t.Fatalf("corrupt state: %v", err)
	}
	if _, err := LoadState(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing state: %v", err)
	}
}

func TestFollower(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.log")
	f := &Follower{Path: p, Stream: "stdout", Task: 2}
	var got []string
	emit := func(ev Event) {
		if ev.Kind != EventLog || ev.Task != 2 || ev.Stream != "stdout" {
			t.Errorf("bad event %+v", ev)
		}
		got = append(got, ev.Line)
	}
	steps := []struct {
		write string
		trunc bool
		want  []string
		flush bool
	}{
		{"", false, nil, false}, // file does not exist yet
		{"one\ntw", false, []string{"one"}, false},
		{"o\r\nthree\n", false, []string{"one", "two", "three"}, false},
		{"new\n", true, []string{"one", "two", "three", "new"}, false},
		{"tail", false, []string{"one", "two", "three", "new", "tail"}, true},
	}
	for i, st := range steps {
		if st.write != "" || st.trunc {
			flag := os.O_CREATE | os.O_WRONLY | os.O_APPEND
			if st.trunc {
				flag = os.O_CREATE | os.O_WRONLY | os.O_TRUNC
			}
			fh, err := os.OpenFile(p, flag, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			fh.WriteString(st.write)
			fh.Close()
		}
		var err error
		if st.flush {
			err = f.Flush(emit)
		} else {
			err = f.Poll(emit)
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if d := cmp.Diff(st.want, got); d != "" {
			t.Fatalf("step %d (-want +got):\n%s", i, d)
		}
	}
}

func TestFollowerLongLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.log")
	os.WriteFile(p, []byte(strings.Repeat("x", maxLine+1)), 0o644)
	var n int
	f := &Follower{Path: p}
	if err := f.Poll(func(ev Event) { n += len(ev.Line) }); err != nil || n != maxLine+1 {
		t.Fatalf("an over-long unterminated line should be emitted: %d %v", n, err)
	}
}

func TestJobError(t *testing.T) {
	h := Handle{Backend: "slurm", Key: "k", ID: "9", WorkDir: "/w"}
	tests := []struct {
		err       *JobError
		retryable bool
		want      []string
	}{
		{&JobError{Handle: h, Task: -1, Reason: ReasonFailed, ExitCode: 3}, false, []string{"slurm job 9", "exit code 3", "/w/logs"}},
		{&JobError{Handle: h, Task: 2, Reason: ReasonFailed, Signal: 9}, false, []string{"task 2", "signal 9"}},
		{&JobError{Handle: h, Task: -1, Reason: ReasonTimeout}, false, []string{"TIMEOUT", "TimeLimit"}},
		{&JobError{Handle: h, Task: -1, Reason: ReasonOutOfMemory}, false, []string{"OUT_OF_MEMORY", "MemoryMB"}},
		{&JobError{Handle: h, Task: -1, Reason: ReasonNodeFail}, true, []string{"NODE_FAIL", "Attempt+1"}},
		{&JobError{Handle: h, Task: -1, Reason: ReasonPreempted}, true, []string{"PREEMPTED"}},
		{&JobError{Handle: h, Task: -1, Reason: ReasonLost}, true, []string{"LOST"}},
		{&JobError{Handle: h, Task: -1, Reason: ReasonCancelled}, false, []string{"CANCELLED"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.err.Reason), func(t *testing.T) {
			if tc.err.Retryable() != tc.retryable || IsRetryable(tc.err) != tc.retryable {
				t.Errorf("Retryable = %v, want %v", tc.err.Retryable(), tc.retryable)
			}
			wrapped := errors.Join(errors.New("cell de/gemma"), tc.err)
			if IsRetryable(wrapped) != tc.retryable {
				t.Error("IsRetryable must see through wrapping")
			}
			for _, w := range tc.want {
				if !strings.Contains(tc.err.Error(), w) {
					t.Errorf("%q lacks %q", tc.err.Error(), w)
				}
			}
		})
	}
}
