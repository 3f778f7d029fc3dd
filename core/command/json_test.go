package command_test

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// jsonKeys decodes a JSON object and returns it with its sorted keys.
func jsonKeys(t *testing.T, m map[string]any) []string {
	t.Helper()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkSnake fails on any key, at any depth, that is not snake_case,
// except under the keys in skip (data that is not the CLI's own, like a
// plugin's config schema).
func checkSnake(t *testing.T, path string, v any, skip map[string]bool) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if !snakeCase.MatchString(k) {
				t.Errorf("%s: key %q is not snake_case", path, k)
			}
			if !skip[k] {
				checkSnake(t, path+"."+k, c, skip)
			}
		}
	case []any:
		for _, c := range x {
			checkSnake(t, path+"[]", c, skip)
		}
	}
}

func object(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is not an object: %v", what, v)
	}
	return m
}

func first(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		t.Fatalf("%s is not a non-empty list: %v", what, v)
	}
	return object(t, a[0], what+"[0]")
}

// TestJSONOutputsPinKeys pins the keys of every JSON output of the CLI:
// snake_case throughout, a format_version at the top, and counts present
// when they are zero.
func TestJSONOutputsPinKeys(t *testing.T) {
	v := cliVars(t)
	spec := []string{v["DIR"], "--plugin-dir", v["PD"], "-var", "store=" + v["STORE"]}
	get := func(args ...string) map[string]any {
		t.Helper()
		r := polyglot(t, repoRoot, args...)
		if r.code != 0 {
			t.Fatalf("polyglot %s: %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
		out := jsonOut(t, r)
		if out["format_version"] != 1.0 {
			t.Errorf("polyglot %s: format_version %v, want 1", args[0], out["format_version"])
		}
		return out
	}
	pin := func(what string, m map[string]any, want ...string) {
		t.Helper()
		sort.Strings(want)
		if diff := cmp.Diff(want, jsonKeys(t, m)); diff != "" {
			t.Errorf("%s keys (-want +got):\n%s", what, diff)
		}
	}

	// Teacher b's generation only: its cells have no failures and cost nothing (echo).
	if r := polyglot(t, repoRoot, append([]string{"run", "--only", "teacher=b,stage=generate"}, spec...)...); r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}

	plan := get(append([]string{"plan", "--json"}, spec...)...)
	checkSnake(t, "plan", plan, nil)
	pin("plan", plan, "format_version", "experiment", "stages", "est_cost_usd", "units")
	stage := first(t, plan["stages"], "plan.stages")
	pin("plan.stages[]", stage, "stage", "units", "done", "partial", "dropped", "to_run", "requests", "requests_done", "est_cost_usd")
	for _, u := range plan["units"].([]any) {
		u := object(t, u, "plan.units[]")
		for _, k := range []string{"key", "stage", "label", "seed", "n", "est_input_tokens", "est_output_tokens", "est_cost_usd", "state", "requests_done"} {
			if _, ok := u[k]; !ok {
				t.Errorf("plan unit %v lacks %q", u["label"], k)
			}
		}
	}

	status := get(append([]string{"status", "--json"}, spec...)...)
	checkSnake(t, "status", status, nil)
	pin("status", status, "format_version", "experiment", "store", "summary", "failure_reasons", "teacher_errors", "failed_units", "dropped_cells")
	sum := object(t, status["summary"], "status.summary")
	pin("status.summary", sum, "stages", "cells", "total")
	pin("status.summary.stages[]", first(t, sum["stages"], "stages"), "stage", "pending", "running", "done", "failed", "dropped")
	cell := first(t, sum["cells"], "cells")
	pin("status.summary.cells[]", cell, "teacher", "language", "strategy", "seed", "examples", "failures", "retrying", "input_tokens", "output_tokens", "cost_usd", "saved_usd", "cached_calls")
	if cell["failures"] != 0.0 || cell["cost_usd"] != 0.0 {
		t.Errorf("zero counts not zero: %v", cell)
	}

	list := get("plugins", "list", "--json", "--plugin-dir", v["PD"])
	checkSnake(t, "plugins list", list, nil)
	pin("plugins list", list, "format_version", "plugins")
	pin("plugins list.plugins[]", first(t, list["plugins"], "plugins"), "name", "version", "kind", "path", "status")

	desc := get("plugins", "describe", "echo", "--plugin-dir", v["PD"])
	checkSnake(t, "plugins describe", desc, map[string]bool{"config": true})
	pin("plugins describe", desc, "format_version", "name", "version", "protocol_version", "components")

	// The output is valid JSON with nothing after it.
	var x any
	r := polyglot(t, repoRoot, append([]string{"status", "--json"}, spec...)...)
	if err := json.NewDecoder(strings.NewReader(r.stdout)).Decode(&x); err != nil {
		t.Fatal(err)
	}
}
