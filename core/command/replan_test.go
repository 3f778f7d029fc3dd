package command_test

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type planUnit struct {
	Key      string `json:"key"`
	Stage    string `json:"stage"`
	Label    string `json:"label"`
	Teacher  string `json:"teacher"`
	Role     string `json:"role"`
	Language string `json:"language"`
	State    string `json:"state"`
}

func planUnits(t *testing.T, pd, dir string, args ...string) map[string]planUnit {
	t.Helper()
	r := polyglot(t, repoRoot, append([]string{"plan", "--json", "--plugin-dir", pd}, append(args, dir)...)...)
	if r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	var out struct {
		Units []planUnit `json:"units"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]planUnit{}
	for _, u := range out.Units {
		m[u.Label] = u
	}
	return m
}

// TestChangingOneTeacherReplansExactlyItsUnits changes teacher a's
// temperature and checks which unit keys change: a's generation, metric,
// student training and evaluation units, and the score; nothing of teacher
// b, and not the base or reference students.
func TestChangingOneTeacherReplansExactlyItsUnits(t *testing.T) {
	pd := installEcho(t)
	dir := filepath.Join(repoRoot, "testdata/specs/replan")
	before := planUnits(t, pd, dir)
	after := planUnits(t, pd, dir, "-var", "temperature_a=0.9")
	if len(before) != len(after) || len(before) == 0 {
		t.Fatalf("unit count changed: %d -> %d", len(before), len(after))
	}
	var changed, want []string
	for label, u := range before {
		if after[label].Key != u.Key {
			changed = append(changed, label)
		}
		if u.Teacher == "a" || u.Stage == "score" {
			want = append(want, label)
		}
	}
	sort.Strings(changed)
	sort.Strings(want)
	if diff := cmp.Diff(want, changed); diff != "" {
		t.Errorf("changed units differ from teacher a's units (-want +got):\n%s", diff)
	}
	// 2 languages x (generate + metric + train + evaluate) + score.
	if len(want) != 9 {
		t.Errorf("expected 9 units downstream of teacher a, got %d: %v", len(want), want)
	}
}

// TestRunIsResumableAndIdempotent runs an experiment, then runs it again:
// the second run finds every unit done and does nothing.
func TestRunIsResumableAndIdempotent(t *testing.T) {
	pd := installEcho(t)
	dir := filepath.Join(repoRoot, "testdata/specs/replan")
	storeVar := "store=" + t.TempDir()
	r := polyglot(t, repoRoot, "run", "--plugin-dir", pd, "-var", storeVar, dir)
	if r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	for label, u := range planUnits(t, pd, dir, "-var", storeVar) {
		if u.State != "done" {
			t.Errorf("%s is %s after a full run", label, u.State)
		}
	}
	st := polyglot(t, repoRoot, "status", "--json", "-var", storeVar, dir)
	var s1 map[string]any
	json.Unmarshal([]byte(st.stdout), &s1)
	r = polyglot(t, repoRoot, "run", "--plugin-dir", pd, "-var", storeVar, dir)
	if r.code != 0 {
		t.Fatalf("second run: %s", r.stderr)
	}
	st2 := polyglot(t, repoRoot, "status", "--json", "-var", storeVar, dir)
	var s2 map[string]any
	json.Unmarshal([]byte(st2.stdout), &s2)
	if diff := cmp.Diff(s1["summary"], s2["summary"]); diff != "" {
		t.Errorf("a second run changed the store:\n%s", diff)
	}
}
