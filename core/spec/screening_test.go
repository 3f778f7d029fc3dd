package spec

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestScreeningBlock(t *testing.T) {
	dir := filepath.Join(validDir, "screening")
	e := mustLoad(t, dir, LoadOptions{Env: noEnv})
	want := &Screening{Stages: []int{50, 200}, Score: "metrics", Metrics: []string{"judge"}, Rule: "racing", Scope: "overall",
		MinKeep: 2, Keep: 0.5, Confidence: 0.99, Enabled: true, AssumeNoise: DefaultAssumeNoise}
	if d := cmp.Diff(want, e.Screening, cmpopts.IgnoreFields(Screening{}, "DeclRange", "Ranges"), cmpopts.IgnoreUnexported(Screening{})); d != "" {
		t.Fatalf("screening (-want +got):\n%s", d)
	}
	// Switched off from the command line: the block stays, so that a
	// report can still show what the stages decided.
	off := mustLoad(t, dir, LoadOptions{Env: noEnv, Vars: map[string]string{"screen": "false"}})
	if off.Screening == nil || off.Screening.Enabled {
		t.Fatalf("enabled = var.screen with -var screen=false: %+v", off.Screening)
	}
	// Without the block there is no screening.
	if m := mustLoad(t, filepath.Join(validDir, "minimal"), LoadOptions{Env: noEnv}); m.Screening != nil {
		t.Fatalf("minimal spec has a screening: %+v", m.Screening)
	}
}
