package command_test

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanCountsJudgeCalls: the metric stage of a spec whose judge metric
// asks a helper teacher about a sample of 4 of a cell's 6 examples plans 4
// requests at the helper's prices (350 + 600 tokens in, 300 out per call,
// plan.estJudge*), not 0 requests costing $0.
func TestPlanCountsJudgeCalls(t *testing.T) {
	dir := filepath.Join(repoRoot, "testdata/specs/judge-plan")
	store := "store=" + t.TempDir()
	r := polyglot(t, repoRoot, "plan", "--json", "-var", store, dir)
	if r.code != 0 {
		t.Fatalf("plan: %d\n%s", r.code, r.stderr)
	}
	var po struct {
		Stages []struct {
			Stage      string  `json:"stage"`
			Requests   int     `json:"requests"`
			EstCostUSD float64 `json:"est_cost_usd"`
		} `json:"stages"`
		EstCostUSD float64 `json:"est_cost_usd"`
		Units      []struct {
			Stage        string  `json:"stage"`
			Requests     int     `json:"requests"`
			JudgeTeacher string  `json:"judge_teacher"`
			EstCostUSD   float64 `json:"est_cost_usd"`
		} `json:"units"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &po); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, r.stdout)
	}
	want := 4 * (950*5.0 + 300*15.0) / 1e6
	var gen float64
	found := false
	for _, s := range po.Stages {
		switch s.Stage {
		case "generate":
			gen = s.EstCostUSD
		case "metrics":
			found = true
			if s.Requests != 4 || math.Abs(s.EstCostUSD-want) > 1e-9 {
				t.Errorf("metrics stage: %d requests costing $%g; want 4 judge calls costing $%g", s.Requests, s.EstCostUSD, want)
			}
		}
	}
	if !found {
		t.Fatalf("no metrics stage in %s", r.stdout)
	}
	if math.Abs(po.EstCostUSD-(gen+want)) > 1e-9 {
		t.Errorf("total estimate $%g, want generate $%g + judge $%g", po.EstCostUSD, gen, want)
	}
	for _, u := range po.Units {
		if u.Stage == "metrics" && (u.JudgeTeacher != "grader" || u.Requests != 4) {
			t.Errorf("metric unit: judge teacher %q, %d requests; want grader, 4", u.JudgeTeacher, u.Requests)
		}
	}
	// The table says the same.
	r = polyglot(t, repoRoot, "plan", "-var", store, dir)
	if r.code != 0 {
		t.Fatalf("plan: %d\n%s", r.code, r.stderr)
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "metrics" && (f[len(f)-2] != "4" || f[len(f)-1] != "$0.04") {
			t.Errorf("plan table's metrics row: %q; want 4 requests left, $0.04", l)
		}
	}
}
