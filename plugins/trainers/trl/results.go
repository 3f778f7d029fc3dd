package trl

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// TaskResult is one task's metrics as a harness reported them.
type TaskResult struct {
	// Metrics maps metric keys exactly as the harness writes them ("acc",
	// "acc_stderr" for lighteval; "acc,none", "acc_stderr,none" for
	// lm-eval) to values; non-numeric entries ("alias", "N/A") are dropped.
	Metrics map[string]float64
	// N is the number of evaluated items, 0 when the file does not say.
	N int64
}

func numbers(m map[string]any) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	return out
}

// pythonJSON turns the non-standard number tokens Python's json.dumps
// writes for float("nan") and infinities (NaN, Infinity, -Infinity) into
// null, outside strings, so that encoding/json reads the file; a value that
// is null is then simply absent (a NaN stderr reads as "not reported").
func pythonJSON(raw []byte) []byte {
	var out []byte // allocated on the first replacement only
	inString, escaped := false, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			if out != nil {
				out = append(out, c)
			}
			continue
		}
		if c == '"' {
			inString = true
		} else {
			for _, tok := range []string{"NaN", "Infinity", "-Infinity"} {
				if strings.HasPrefix(string(raw[i:min(len(raw), i+len(tok))]), tok) {
					if out == nil {
						out = append(make([]byte, 0, len(raw)), raw[:i]...)
					}
					out = append(out, "null"...)
					i += len(tok) - 1
					c = 0
					break
				}
			}
			if c == 0 {
				continue
			}
		}
		if out != nil {
			out = append(out, c)
		}
	}
	if out == nil {
		return raw
	}
	return out
}

func readJSON(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("trl: %w", err)
	}
	if err := json.Unmarshal(pythonJSON(raw), v); err != nil {
		return fmt.Errorf("trl: %s is not a harness results file: %v", path, err)
	}
	return nil
}

// ParseLighteval reads a lighteval results_*.json file. Keys are task specs
// as the file has them ("task|shots" from 0.12 on, "suite|task|shots"
// before, "suite|task|shots|0" before 0.9); the "all" and ":_average" rows
// lighteval adds are kept so that callers see the file as it is.
func ParseLighteval(path string) (map[string]TaskResult, error) {
	var f struct {
		Results      map[string]map[string]any `json:"results"`
		SummaryTasks map[string]struct {
			Truncated    int64 `json:"truncated"`
			NonTruncated int64 `json:"non_truncated"`
		} `json:"summary_tasks"`
	}
	if err := readJSON(path, &f); err != nil {
		return nil, err
	}
	if f.Results == nil {
		return nil, fmt.Errorf("trl: %s has no \"results\" object: is it a lighteval results file?", path)
	}
	out := make(map[string]TaskResult, len(f.Results))
	for task, m := range f.Results {
		st := f.SummaryTasks[task]
		out[task] = TaskResult{Metrics: numbers(m), N: st.Truncated + st.NonTruncated}
	}
	return out, nil
}

// ParseLMEval reads an lm-evaluation-harness results file (results.json or
// results_<date>.json). N comes from "n-samples" (effective), summed over a
// group's subtasks for groups.
func ParseLMEval(path string) (map[string]TaskResult, error) {
	var f struct {
		Results       map[string]map[string]any `json:"results"`
		Groups        map[string]map[string]any `json:"groups"`
		GroupSubtasks map[string][]string       `json:"group_subtasks"`
		NSamples      map[string]struct {
			Original  int64 `json:"original"`
			Effective int64 `json:"effective"`
		} `json:"n-samples"`
	}
	if err := readJSON(path, &f); err != nil {
		return nil, err
	}
	if f.Results == nil {
		return nil, fmt.Errorf("trl: %s has no \"results\" object: is it an lm-evaluation-harness results file?", path)
	}
	var count func(task string, depth int) int64
	count = func(task string, depth int) int64 {
		if ns, ok := f.NSamples[task]; ok {
			return ns.Effective
		}
		var n int64
		if depth < 8 { // groups nest; the bound guards against cycles
			for _, sub := range f.GroupSubtasks[task] {
				n += count(sub, depth+1)
			}
		}
		return n
	}
	out := make(map[string]TaskResult, len(f.Results)+len(f.Groups))
	add := func(src map[string]map[string]any) {
		for task, m := range src {
			if _, seen := out[task]; !seen {
				out[task] = TaskResult{Metrics: numbers(m), N: count(task, 0)}
			}
		}
	}
	add(f.Results)
	add(f.Groups) // older versions list group scores only here
	return out, nil
}

// FindResults returns the results files a harness wrote under dir, oldest
// first. Both harnesses name files results_<timestamp>.json (older lm-eval
// wrote results.json), and timestamps sort as text.
func FindResults(dir string) ([]string, error) {
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if !d.IsDir() && strings.HasPrefix(name, "results") && strings.HasSuffix(name, ".json") {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("trl: looking for results: %w", err)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("trl: no results*.json under %s: did the evaluation job finish? Check its log", dir)
	}
	sort.SliceStable(found, func(i, j int) bool { return filepath.Base(found[i]) < filepath.Base(found[j]) })
	return found, nil
}

// preferred metric names, by base name (before lm-eval's ",filter").
var preferred = []string{"acc", "exact_match", "extractive_match", "qem", "em", "acc_norm", "f1"}

func stderrKey(harness, metric string) string {
	if harness == LMEval {
		if name, filter, ok := strings.Cut(metric, ","); ok {
			return name + "_stderr," + filter
		}
	}
	return metric + "_stderr"
}

func pickMetric(m map[string]float64) (string, bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !strings.Contains(k, "_stderr") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, p := range preferred {
		for _, k := range keys {
			base, _, _ := strings.Cut(k, ",")
			if base == p || strings.HasPrefix(base, p+"_") {
				return k, true
			}
		}
	}
	return "", false
}

// LightevalKey is the "task|shots" form lighteval 0.12 and later key
// results by, from any spelling of a task spec: "task|shots",
// "suite|task|shots" or (before 0.9) "suite|task|shots|truncated".
func LightevalKey(spec string) string {
	parts := strings.Split(spec, "|")
	switch len(parts) {
	case 3, 4:
		return parts[1] + "|" + parts[2]
	}
	return spec
}

func lookupTask(harness string, rs map[string]TaskResult, task string) (TaskResult, bool) {
	if r, ok := rs[task]; ok {
		return r, true
	}
	if harness == Lighteval {
		want := LightevalKey(task)
		for k, r := range rs {
			if LightevalKey(k) == want {
				return r, true
			}
		}
	}
	return TaskResult{}, false
}

// Collect reads every results file under dir (an evaluation's own output
// directory: lm-eval writes one file per run, and the eval script runs once
// per shot count) and returns one score per planned benchmark; where files
// disagree the newest wins. A stderr the harness did not report is NaN.
func Collect(dir, harness string, plan []Resolved) ([]sdk.BenchmarkScore, error) {
	parse := ParseLMEval
	switch harness {
	case Lighteval:
		parse = ParseLighteval
	case LMEval:
	default:
		return nil, fmt.Errorf("trl: unknown harness %q: use %q or %q", harness, Lighteval, LMEval)
	}
	paths, err := FindResults(dir)
	if err != nil {
		return nil, err
	}
	rs := map[string]TaskResult{}
	for _, p := range paths {
		one, err := parse(p)
		if err != nil {
			return nil, err
		}
		for k, v := range one {
			rs[k] = v
		}
	}
	path := dir
	out := make([]sdk.BenchmarkScore, 0, len(plan))
	for _, p := range plan {
		r, ok := lookupTask(harness, rs, p.Task)
		if !ok {
			return nil, fmt.Errorf("trl: %s has no result for task %q (benchmark %q); it has %s", path, p.Task, p.Name, strings.Join(sortedKeys(rs), ", "))
		}
		metric := p.Metric
		if metric == "" {
			if metric, ok = pickMetric(r.Metrics); !ok {
				return nil, fmt.Errorf("trl: %s: task %q has no metric polyglot knows; set the benchmark's metric to one of %s", path, p.Task, strings.Join(sortedKeys(r.Metrics), ", "))
			}
		}
		v, ok := r.Metrics[metric]
		if !ok && harness == LMEval && !strings.Contains(metric, ",") {
			// A spec's plain "acc" is lm-eval's unfiltered "acc,none".
			if v, ok = r.Metrics[metric+",none"]; ok {
				metric += ",none"
			}
		}
		if !ok {
			return nil, fmt.Errorf("trl: %s: task %q has no metric %q; it has %s", path, p.Task, metric, strings.Join(sortedKeys(r.Metrics), ", "))
		}
		se, ok := r.Metrics[stderrKey(harness, metric)]
		if !ok {
			se = math.NaN()
		}
		out = append(out, sdk.BenchmarkScore{Benchmark: p.Name, Score: v, StdErr: se, N: r.N})
	}
	return out, nil
}
