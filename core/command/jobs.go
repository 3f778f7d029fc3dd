package command

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/sdk"
)

func init() {
	register(cmd{name: "jobs", synopsis: "print the training and evaluation jobs a run would submit (a dry run)", run: runJobs,
		usage: "jobs [DIR] [flags]",
		help: "Asks each student's trainer for the jobs of one language and seed: the\n" +
			"base, the reference and the student of one teacher, trained and evaluated.\n" +
			"Prints each job's folder, executor settings, environment and command, and\n" +
			"the shell scripts and configs it would run, so that they can be checked\n" +
			"before a cluster spends GPU hours. Submits nothing and writes nothing to\n" +
			"the store; --write DIR also saves every rendered file there."})
}

func runJobs(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("jobs")
	sf := addSpecFlags(fs)
	lang := fs.String("language", "", "language of the jobs (default: the experiment's first)")
	teacher := fs.String("teacher", "", "teacher whose student is shown (default: the first that generates)")
	seed := fs.Int64("seed", 0, "seed of the jobs (default: the experiment's first)")
	write := fs.String("write", "", "also write each job's files under this folder")
	dir, err := parseDir(fs, args)
	if err != nil {
		return err
	}
	p, mgr, err := prepare(ctx, env, sf, dir)
	if err != nil {
		return err
	}
	defer mgr.Close()
	if len(p.Exp.Students) == 0 {
		return fmt.Errorf("the experiment has no student block: it trains nothing")
	}
	if *lang != "" && !slices.Contains(p.Exp.Languages, *lang) {
		return usagef("--language %s is not a language of the experiment (%s)", *lang, strings.Join(p.Exp.Languages, ", "))
	}
	if *teacher != "" {
		if t := p.Exp.Teacher(*teacher); t == nil || !t.Generate {
			return usagef("--teacher %s is not a teacher that generates data in this experiment", *teacher)
		}
	}
	if *seed != 0 && !slices.Contains(p.Exp.RandomSeeds, *seed) {
		return usagef("--seed %d is not a seed of the experiment", *seed)
	}
	scratch, err := os.MkdirTemp("", "polyglot-jobs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	jobs, err := engine.DryRunJobs(ctx, p, engine.DryRunOptions{Language: *lang, Teacher: *teacher, Seed: *seed, Scratch: scratch})
	if err != nil {
		return err
	}
	for i, j := range jobs {
		if i > 0 {
			fmt.Fprintln(env.Stdout)
		}
		printJob(env.Stdout, p.Exp, j)
		if *write != "" && j.Job != nil {
			if err := writeJobFiles(filepath.Join(*write, string(j.Unit.Stage)+"-"+jobSlug(j)), j.Job); err != nil {
				return err
			}
		}
	}
	if *write != "" {
		fmt.Fprintf(env.Stdout, "\nThe rendered files are under %s.\n", *write)
	}
	return nil
}

func jobSlug(j engine.DryJob) string {
	if j.Unit.Role == "student" {
		return j.Unit.Student + "-" + j.Unit.Teacher
	}
	return j.Unit.Student + "-" + j.Unit.Role
}

func printJob(w io.Writer, exp *spec.Experiment, j engine.DryJob) {
	fmt.Fprintf(w, "### %s\n", j.Unit.Label)
	if j.Job == nil {
		fmt.Fprintf(w, "no job: %s\n", j.Note)
		return
	}
	job := j.Job
	fmt.Fprintf(w, "folder:   %s\n", job.WorkDir)
	s := exp.Student(j.Unit.Student)
	ex := "local"
	if s != nil && s.Executor.Kind != "" {
		ex = s.Executor.Kind
	}
	var opts []string
	if s != nil && s.Executor.Partition != "" {
		opts = append(opts, "partition "+s.Executor.Partition)
	}
	opts = append(opts, fmt.Sprintf("%d GPU", max(job.GPUs, 1)))
	if job.TimeLimit != "" {
		opts = append(opts, "time "+job.TimeLimit)
	}
	fmt.Fprintf(w, "executor: %s (%s)\n", ex, strings.Join(opts, ", "))
	var envs []string
	for k, v := range job.Env {
		envs = append(envs, k+"="+shellQuote(v))
	}
	sort.Strings(envs)
	argv := make([]string, len(job.Argv))
	for i, a := range job.Argv {
		argv[i] = shellQuote(a)
	}
	fmt.Fprintf(w, "command:  cd %s && %s\n", shellQuote(job.WorkDir), strings.Join(append(envs, argv...), " "))
	if j.Note != "" {
		fmt.Fprintf(w, "note:     %s\n", j.Note)
	}
	names := make([]string, 0, len(job.Files))
	for n := range job.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	var others []string
	for _, n := range names {
		// Scripts and configs are shown; other files (task definitions,
		// Python sources) are named, and --write saves them.
		if slices.Contains([]string{".sh", ".json"}, filepath.Ext(n)) {
			fmt.Fprintf(w, "--- %s\n%s", n, job.Files[n])
			if b := job.Files[n]; len(b) > 0 && b[len(b)-1] != '\n' {
				fmt.Fprintln(w)
			}
		} else {
			others = append(others, fmt.Sprintf("%s (%d bytes)", n, len(job.Files[n])))
		}
	}
	if len(others) > 0 {
		fmt.Fprintf(w, "--- also written: %s\n", strings.Join(others, ", "))
	}
}

func writeJobFiles(dir string, job *sdk.Job) error {
	for name, b := range job.Files {
		p := filepath.Join(dir, filepath.Clean(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=,:@+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
