// Package slurmtest lets tests that need a Slurm cluster find one: the
// single-node cluster .ci/slurm-up.sh starts, or any cluster sinfo answers for.
package slurmtest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Require skips the test when no Slurm cluster answers, or fails it when
// POLYGLOT_REQUIRE_SLURM=1 (CI starts Slurm, so a missing one is a defect there,
// not a reason to skip).
func Require(t testing.TB) {
	t.Helper()
	_, err := exec.LookPath("sbatch")
	var out []byte
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err = exec.CommandContext(ctx, "sinfo", "-h", "-o", "%T").Output()
		if err == nil && strings.TrimSpace(string(out)) != "" {
			return
		}
	}
	msg := "no Slurm cluster answers: run .ci/slurm-up.sh"
	if os.Getenv("POLYGLOT_REQUIRE_SLURM") == "1" {
		t.Fatalf("%s (POLYGLOT_REQUIRE_SLURM=1; %v %s)", msg, err, out)
	}
	t.Skipf("%s, or set POLYGLOT_REQUIRE_SLURM=1 to fail instead (%v)", msg, err)
}
