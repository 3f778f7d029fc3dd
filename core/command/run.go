package command

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/store"
)

func init() {
	register(cmd{name: "run", synopsis: "generate, measure, train, score and report (resumes where it stopped)", run: runRun,
		usage: "run [DIR] [flags]",
		help:  "Runs every unit of the plan that is not done yet. Kill it at any time:\nrunning it again continues where it stopped without paying twice.\nSee what a run would do and cost first with `polyglot plan` (same flags)."})
}

func runRun(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("run")
	sf := addSpecFlags(fs)
	only := addOnlyFlag(fs)
	var retry retryFailedFlag
	fs.Var(&retry, "retry-failed", "send again the requests that failed for good (a plain rerun never does), all of them or, with =REASON[,REASON], those failed for these reasons, e.g. --retry-failed=not_found,auth (the reasons are in `polyglot status`)")
	keepServers := fs.Bool("keep-servers", false, "leave the experiment's model servers (server blocks) running at the end; the next run re-attaches to them")
	maxServers := fs.Int("max-servers", 0, "run at most this many model servers at once (0: no bound); servers wait for a free slot")
	dir, err := parseDir(fs, args)
	if err != nil {
		return err
	}
	// POLYGLOT_CPUPROFILE=file writes a CPU profile of the host process
	// (for `go tool pprof`; plugins run in their own processes).
	if path := os.Getenv("POLYGLOT_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	// POLYGLOT_MEMPROFILE=file writes a heap profile of the host every five
	// seconds while it runs (the last one survives), to see what a long
	// run holds.
	if path := os.Getenv("POLYGLOT_MEMPROFILE"); path != "" {
		stop := make(chan struct{})
		defer close(stop)
		go writeHeapProfiles(path, stop)
	}
	p, mgr, err := prepare(ctx, env, sf, dir)
	if err != nil {
		return err
	}
	defer mgr.Close()
	onlyMap, err := only.resolve(p.Plan)
	if err != nil {
		return err
	}
	st, err := store.Open(p.Exp.Store)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("%w. Wait for it to finish, or watch it with `polyglot status`", err)
		}
		return err
	}
	defer st.Close()
	runID, err := st.BeginRun(specHash(p.Exp.Files), commandLine("run", args, p.Exp))
	if err != nil {
		return err
	}
	prog := newProgress(env)
	defer prog.Close()
	opts := engine.Options{Only: onlyMap, Log: env.Log, Progress: prog, RetryFailed: retry.set, RetryReasons: retry.reasons}
	opts.NoCache = os.Getenv("POLYGLOT_CACHE") == "off"
	opts.KeepServers, opts.MaxServers = *keepServers, *maxServers
	if cache, err := openResponseCache(); err != nil {
		env.Log.Warn().Err(err).Msg("shared response cache unavailable; using the experiment's own")
	} else if cache != nil {
		defer cache.Close()
		opts.Cache = cache
	}
	reportPath := filepath.Join(engine.ReportDir(p.Exp.Store), "report.html")
	before, _ := os.Stat(reportPath)
	totals, _ := st.Summary()
	err = engine.Run(ctx, p, st, opts)
	prog.Close() // the bars and the log lines above them, before what follows
	status := "ok"
	switch {
	case errors.Is(err, context.Canceled):
		status = "interrupted"
	case err != nil:
		status = "failed"
	}
	if eerr := st.EndRun(runID, status); eerr != nil && err == nil {
		err = eerr
	}
	if err != nil {
		reportSpend(env, st, totals)
		return err
	}
	fmt.Fprintln(env.Stdout, doneMessage(reportPath, before))
	reportSpend(env, st, totals)
	return nil
}

// retryFailedFlag is --retry-failed (every reason) or
// --retry-failed=REASON[,REASON...].
type retryFailedFlag struct {
	set     bool
	reasons []string // nil: every reason
}

func (f *retryFailedFlag) IsBoolFlag() bool { return true }

func (f *retryFailedFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	if f.reasons == nil {
		return "true"
	}
	return strings.Join(f.reasons, ",")
}

func (f *retryFailedFlag) Set(v string) error {
	switch v {
	case "true":
		f.set, f.reasons = true, nil
		return nil
	case "false":
		f.set, f.reasons = false, nil
		return nil
	}
	for _, r := range strings.Split(v, ",") {
		if r = strings.TrimSpace(r); r == "" {
			return fmt.Errorf("an empty reason in %q; write e.g. --retry-failed=not_found,auth", v)
		}
		f.reasons = append(f.reasons, r)
	}
	f.set = true
	return nil
}

// doneMessage names the report only if this run wrote it (before is the
// report's file info before the run, nil if there was none): a restricted
// run, or one whose score stage waited on unfinished work, leaves an older
// report, or none, that must not pass for this run's result.
func doneMessage(report string, before os.FileInfo) string {
	after, err := os.Stat(report)
	switch {
	case err == nil && (before == nil || !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size()):
		return "Done. Report: " + report
	case err == nil:
		return "Done. No report written in this run (the score stage did not run); the last one, from an earlier run: " + report
	default:
		return "Done. No report yet: the score stage did not run (restricted with --only, or waiting on unfinished work); `polyglot report` writes one from what is there."
	}
}

// specHash identifies the spec text a run used.
func specHash(files []string) string {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			h.Write([]byte(f))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// openResponseCache opens the response cache shared by every experiment of
// this user: $POLYGLOT_CACHE, else <user cache dir>/polyglot/responses.db;
// POLYGLOT_CACHE=off keeps answers in the experiment's store only.
func openResponseCache() (*store.CacheFile, error) {
	path := os.Getenv("POLYGLOT_CACHE")
	if path == "off" {
		return nil, nil
	}
	if path == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(dir, "polyglot", "responses.db")
	}
	return store.OpenCache(path)
}

func writeHeapProfiles(path string, stop <-chan struct{}) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
	}
}

// reportSpend says what this run spent and, apart from it, what the
// response cache saved (from the store's totals before and after).
func reportSpend(env *Env, st *store.Store, before *store.Summary) {
	after, err := st.Summary()
	if err != nil || before == nil {
		return
	}
	spent := after.Total.CostUSD - before.Total.CostUSD
	saved := after.Total.SavedUSD - before.Total.SavedUSD
	cached := after.Total.CachedCalls - before.Total.CachedCalls
	if cached == 0 {
		fmt.Fprintf(env.Stderr, "Spent $%.4f in this run.\n", spent)
		return
	}
	fmt.Fprintf(env.Stderr, "Spent $%.4f in this run; the response cache answered %d calls, saving $%.4f.\n", spent, cached, saved)
}
