package slurm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/polyglot-teachers/polyglot/core/executor"
)

// jobName is the Slurm job name of j for one submission: the readable name, a dot and the
// submission token. The token makes the name unique, so Slurm can be asked for it by name
// (squeue -n, sacct --name) without knowing the job id.
func jobName(j executor.Job, token string) string {
	name := j.Name
	if name == "" {
		name = "polyglot-" + j.Key
	}
	name = strings.Map(func(c rune) rune {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			return '_'
		}
		return c
	}, name)
	if token != "" {
		name += "." + token
	}
	return name
}

// markerPath is the file the job script writes its job id into when it starts (see
// Script). It is the evidence of last resort: a job that ran and that Slurm has since
// forgotten (without accounting, finished longer than MinJobAge ago) is still found.
func markerPath(workDir, token string) string {
	return filepath.Join(executor.LogDir(workDir), "slurm-job-id."+token)
}

// found is the outcome of looking a submission token up.
type found struct {
	ID     string // Slurm job id (the array job id for array jobs); "" when not found
	Source string // where it was found, or what was checked when it was not
}

// lookup asks everything that may know the job submitted under name (which ends in its
// submission token): the marker file the job writes when it starts, squeue (pending, running and, for MinJobAge,
// ended jobs) and sacct (ended jobs, when accounting is enabled). An error means Slurm
// could not be asked, so the caller must not submit: the job may exist.
func (e *Executor) lookup(ctx context.Context, marker, name string, since time.Time) (found, error) {
	if b, err := os.ReadFile(marker); err == nil {
		if id := strings.TrimSpace(string(b)); isJobID(id) {
			return found{ID: id, Source: "marker file " + marker}, nil
		}
	}
	uid := strconv.Itoa(os.Getuid())
	out, err := e.run(ctx, "squeue", "-h", "-t", "all", "-u", uid, "-n", name, "-o", "%F|%j|%T")
	if err != nil {
		return found{}, fmt.Errorf("ask squeue for job name %s: %w", name, err)
	}
	ids, source := parseTokenSqueue(name, out), "squeue"
	if len(ids) == 0 {
		source = "sacct"
		// Jobs that ended and were purged from slurmctld: only accounting remembers them.
		// -S: sacct's default window starts at midnight, which would miss older jobs.
		start := since.Add(-time.Hour).Local().Format("2006-01-02T15:04:05")
		out, err := e.run(ctx, "sacct", "-n", "-P", "-X", "-u", uid, "--name="+name, "-S", start, "-o", "JobID,JobName,State")
		switch {
		case err == nil:
			ids = parseTokenSacct(name, out)
			if len(ids) == 0 {
				return found{Source: "squeue, sacct"}, nil
			}
		case accountingDisabled(err):
			return found{Source: "squeue (accounting is disabled, so a job that ended longer than MinJobAge ago and never wrote its marker file cannot be seen)"}, nil
		default:
			e.Log.Warn().Err(err).Str("job_name", name).
				Msg("slurm: sacct failed while looking up an unrecorded submission; relying on squeue and the job's marker file")
			return found{Source: "squeue (sacct failed: " + err.Error() + ")"}, nil
		}
	}
	if len(ids) > 1 {
		return found{}, fmt.Errorf("Slurm holds %d jobs named %s (%s), but polyglot submits each job at most once: scancel the ones you do not want and delete the job's %s",
			len(ids), name, strings.Join(ids, ", "), executor.StateFile)
	}
	return found{ID: ids[0], Source: source}, nil
}

func accountingDisabled(err error) bool {
	var ce *cmdError
	return errors.As(err, &ce) && strings.Contains(ce.msg, "accounting storage is disabled")
}

func isJobID(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil && s != ""
}

// parseTokenSqueue reads `squeue -h -t all -n <name> -o %F|%j|%T` output and returns the
// distinct job ids (array job ids for array tasks) of jobs named exactly name.
func parseTokenSqueue(name, out string) []string {
	set := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) < 3 || f[1] != name || !isJobID(f[0]) {
			continue
		}
		set[f[0]] = true
	}
	return sortedIDs(set)
}

// parseTokenSacct reads `sacct -n -P -X --name=<name> -o JobID,JobName,State` output: the
// JobID of an array task is "<array job id>_<task>" or "<id>_[<range>]".
func parseTokenSacct(name, out string) []string {
	set := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) < 3 || f[1] != name {
			continue
		}
		id, _, _ := strings.Cut(f[0], "_")
		id, _, _ = strings.Cut(id, ".") // a step ("123.batch"), should -X be ignored
		if isJobID(id) {
			set[id] = true
		}
	}
	return sortedIDs(set)
}

func sortedIDs(set map[string]bool) []string {
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool {
		x, _ := strconv.ParseUint(ids[a], 10, 64)
		y, _ := strconv.ParseUint(ids[b], 10, 64)
		return x < y
	})
	return ids
}
