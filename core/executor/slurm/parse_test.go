package slurm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/polyglot-teachers/polyglot/core/executor"
)

// The squeue/scontrol fixtures are real outputs captured from Slurm 22.05 (the
// .ci/slurm-up.sh cluster); sacct.txt is written by hand in sacct -P format, since that
// cluster runs without accounting.
func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		parse func(id, out string) map[int]taskState
		id    string
		file  string
		want  map[int]taskState
	}{
		{"squeue final array", parseSqueue, "2", "squeue-array-final.txt", map[int]taskState{
			0: {Task: 0, State: "COMPLETED", Reason: "None"},
			1: {Task: 1, State: "FAILED", Reason: "NonZeroExitCode"},
			2: {Task: 2, State: "COMPLETED", Reason: "None"},
		}},
		{"scontrol final array", parseScontrol, "2", "scontrol-array-final.txt", map[int]taskState{
			0: {Task: 0, State: "COMPLETED", Reason: "None", HasExit: true},
			1: {Task: 1, State: "FAILED", Reason: "NonZeroExitCode", ExitCode: 7, HasExit: true},
			2: {Task: 2, State: "COMPLETED", Reason: "None", HasExit: true},
		}},
		{"scontrol held array with concurrency limit", parseScontrol, "6", "scontrol-array-held.txt", map[int]taskState{
			0: {Task: 0, State: "PENDING", Reason: "JobHeldUser", HasExit: true},
			1: {Task: 1, State: "PENDING", Reason: "JobHeldUser", HasExit: true},
			2: {Task: 2, State: "PENDING", Reason: "JobHeldUser", HasExit: true},
			3: {Task: 3, State: "PENDING", Reason: "JobHeldUser", HasExit: true},
		}},
		{"squeue held array", parseSqueue, "6", "squeue-array-held.txt", map[int]taskState{
			0: {Task: 0, State: "PENDING", Reason: "JobHeldUser"},
			1: {Task: 1, State: "PENDING", Reason: "JobHeldUser"},
			2: {Task: 2, State: "PENDING", Reason: "JobHeldUser"},
			3: {Task: 3, State: "PENDING", Reason: "JobHeldUser"},
		}},
		{"scontrol cancelled plain job", parseScontrol, "3", "scontrol-cancelled.txt", map[int]taskState{
			-1: {Task: -1, State: "CANCELLED", Reason: "Priority", HasExit: true},
		}},
		{"other job's lines are ignored", parseScontrol, "99", "scontrol-array-final.txt", map[int]taskState{}},
		{"sacct with signal and 'by uid'", parseSacct, "41", "sacct.txt", map[int]taskState{
			0: {Task: 0, State: "COMPLETED", HasExit: true},
			1: {Task: 1, State: "CANCELLED", Signal: 15, HasExit: true},
			2: {Task: 2, State: "OUT_OF_MEMORY", ExitCode: 0, Signal: 9, HasExit: true},
			3: {Task: 3, State: "PENDING", HasExit: true},
			4: {Task: 4, State: "PENDING", HasExit: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.parse(tc.id, readFixture(t, tc.file))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestBuildMapsStatesToReasons(t *testing.T) {
	h := executor.Handle{Backend: Backend, Key: "k", ID: "7", WorkDir: "/w"}
	tests := []struct {
		state     string
		exit      int
		reason    executor.Reason
		retryable bool
	}{
		{"COMPLETED", 0, "", false},
		{"FAILED", 2, executor.ReasonFailed, false},
		{"TIMEOUT", 0, executor.ReasonTimeout, false},
		{"DEADLINE", 0, executor.ReasonTimeout, false},
		{"OUT_OF_MEMORY", 0, executor.ReasonOutOfMemory, false},
		{"NODE_FAIL", 0, executor.ReasonNodeFail, true},
		{"BOOT_FAIL", 0, executor.ReasonNodeFail, true},
		{"PREEMPTED", 0, executor.ReasonPreempted, true},
		{"CANCELLED", 0, executor.ReasonCancelled, false},
		{"RUNNING", 0, executor.ReasonLost, true}, // purged while we last saw it running
	}
	for _, tc := range tests {
		t.Run(tc.state, func(t *testing.T) {
			fin := map[int]taskState{-1: {Task: -1, State: tc.state, ExitCode: tc.exit, HasExit: true}}
			res := build(h, []int{-1}, fin, nil, "test")
			if tc.reason == "" {
				if res.Err != nil || res.State != executor.StateSucceeded {
					t.Fatalf("want success, got %+v", res)
				}
				return
			}
			if res.Err == nil || res.Err.Reason != tc.reason || res.Err.Retryable() != tc.retryable || res.ExitCode != tc.exit {
				t.Fatalf("got %+v, want reason %s retryable %v exit %d", res.Err, tc.reason, tc.retryable, tc.exit)
			}
			if !strings.Contains(res.Err.Error(), "slurm job 7") {
				t.Errorf("error should name the job: %q", res.Err)
			}
		})
	}
	// A job Slurm has forgotten entirely is lost, and says why.
	res := build(h, []int{-1}, nil, nil, "sacct: accounting disabled")
	if res.Err == nil || res.Err.Reason != executor.ReasonLost || !strings.Contains(res.Err.Error(), "MinJobAge") {
		t.Errorf("forgotten job: %v", res.Err)
	}
}

func TestScript(t *testing.T) {
	e := New()
	e.Partition, e.Account = "gpu", "proj1"
	base := executor.Job{Key: "k1", Name: "train de", WorkDir: "/scratch/j1", Argv: []string{"python", "train.py", "--lr", "5e-5", "it's"}}
	tests := []struct {
		name    string
		mod     func(*executor.Job)
		want    []string
		absent  []string
		wantErr string
	}{
		{"defaults", func(*executor.Job) {}, []string{
			"#!/bin/sh\n", "#SBATCH --job-name=train_de\n", "#SBATCH --chdir=/scratch/j1\n",
			"#SBATCH --output=/scratch/j1/logs/stdout.log\n", "#SBATCH --error=/scratch/j1/logs/stderr.log\n",
			"#SBATCH --partition=gpu\n", "#SBATCH --account=proj1\n", "#SBATCH --no-requeue\n",
			"export POLYGLOT_JOB_KEY='k1'\n", `exec 'python' 'train.py' '--lr' '5e-5' 'it'\''s'` + "\n",
		}, []string{"--gres", "--time", "--array", "--mem", "--cpus"}, ""},
		{"resources", func(j *executor.Job) {
			j.Resources = executor.Resources{GPUs: 2, CPUs: 8, MemoryMB: 64000, TimeLimit: 90*time.Minute + time.Second,
				Partition: "a100", Account: "other", Extra: []string{"--qos=high", "--constraint=a100"}}
			j.Env = map[string]string{"B": "2", "A": "x y"}
		}, []string{
			"#SBATCH --partition=a100\n", "#SBATCH --account=other\n", "#SBATCH --gres=gpu:2\n",
			"#SBATCH --cpus-per-task=8\n", "#SBATCH --mem=64000M\n", "#SBATCH --time=91\n",
			"#SBATCH --qos=high\n#SBATCH --constraint=a100\n", "export A='x y'\nexport B='2'\n",
		}, []string{"--partition=gpu"}, ""},
		{"array", func(j *executor.Job) { j.Array = 4 }, []string{
			"#SBATCH --array=0-3\n", "#SBATCH --output=/scratch/j1/logs/stdout.%a.log\n",
			"export POLYGLOT_ARRAY_TASK_ID=\"$SLURM_ARRAY_TASK_ID\"\n",
		}, nil, ""},
		{"bad extra", func(j *executor.Job) { j.Resources.Extra = []string{"qos=high"} }, nil, nil, "one sbatch option per entry"},
		{"workdir with space", func(j *executor.Job) { j.WorkDir = "/my jobs/j1" }, nil, nil, "whitespace"},
		{"invalid job", func(j *executor.Job) { j.Argv = nil }, nil, nil, "Argv is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := base
			tc.mod(&j)
			got, err := e.Script(j)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("script lacks %q:\n%s", w, got)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(got, a) {
					t.Errorf("script has %q:\n%s", a, got)
				}
			}
		})
	}
}

// squeue-token.txt is real output of `squeue -h -t all -u 0 -n <names> -o %F|%j|%T` on the
// .ci cluster (a 3-task array job, a plain job, two jobs sharing one name, a pending array
// with a concurrency limit); sacct-token.txt is hand-written in sacct -P format.
func TestParseTokenLookup(t *testing.T) {
	tests := []struct {
		name  string
		parse func(name, out string) []string
		file  string
		job   string
		want  []string
	}{
		{"squeue array tasks give one array job id", parseTokenSqueue, "squeue-token.txt", "my_job.0123456789abcdef", []string{"190"}},
		{"squeue plain job", parseTokenSqueue, "squeue-token.txt", "plain.fedcba9876543210", []string{"191"}},
		{"squeue pending array", parseTokenSqueue, "squeue-token.txt", "arr.bbbbbbbbbbbbbbbb", []string{"203"}},
		{"squeue two jobs of one name", parseTokenSqueue, "squeue-token.txt", "dup.aaaaaaaaaaaaaaaa", []string{"201", "202"}},
		{"squeue other token", parseTokenSqueue, "squeue-token.txt", "my_job.0123456789abcde0", []string{}},
		{"squeue name without token", parseTokenSqueue, "squeue-token.txt", "my_job", []string{}},
		{"sacct plain job", parseTokenSacct, "sacct-token.txt", "train_de.00c0ffee00c0ffee", []string{"4101"}},
		{"sacct array tasks and ranges", parseTokenSacct, "sacct-token.txt", "eval_de.1234abcd1234abcd", []string{"4107"}},
		{"sacct longer name is another job", parseTokenSacct, "sacct-token.txt", "train_de.00c0ffee00c0ffee0", []string{"4120"}},
		{"sacct nothing", parseTokenSacct, "sacct-token.txt", "train_fr.00c0ffee00c0ffee", []string{}},
		{"empty output", parseTokenSqueue, "empty.txt", "x.0123456789abcdef", []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.parse(tc.job, readFixture(t, tc.file))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestJobNameCarriesToken(t *testing.T) {
	tests := []struct {
		job   executor.Job
		token string
		want  string
	}{
		{executor.Job{Key: "k", Name: "train de"}, "0123456789abcdef", "train_de.0123456789abcdef"},
		{executor.Job{Key: "k"}, "0123456789abcdef", "polyglot-k.0123456789abcdef"},
		{executor.Job{Key: "k", Name: "eval"}, "", "eval"},
	}
	for _, tc := range tests {
		if got := jobName(tc.job, tc.token); got != tc.want {
			t.Errorf("jobName(%q, %q) = %q, want %q", tc.job.Name, tc.token, got, tc.want)
		}
	}
	e := New()
	j := executor.Job{Key: "k1", Name: "train de", WorkDir: "/scratch/j1", Argv: []string{"true"}}
	got, err := e.script(j, "0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"#SBATCH --job-name=train_de.0123456789abcdef\n", "mv -f '/scratch/j1/logs/slurm-job-id.0123456789abcdef'.tmp.", "}\" '/scratch/j1/logs/slurm-job-id.0123456789abcdef'\nexec 'true'\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("script lacks %q:\n%s", w, got)
		}
	}
}

func TestParseNode(t *testing.T) {
	for out, want := range map[string]string{
		"RUNNING|node07|node07\n":      "node07",
		"RUNNING|n/a|gpu[01-02]\n":     "",
		"RUNNING||gpu03\n":             "gpu03",
		"PENDING|n/a|\n":               "",
		"":                             "",
		"RUNNING|(null)|node1,node2\n": "",
		"COMPLETING|node07|node07\n":   "",
	} {
		if got := parseNode(out); got != want {
			t.Errorf("parseNode(%q) = %q, want %q", out, got, want)
		}
	}
}
