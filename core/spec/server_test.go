package spec

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

func TestLoadServers(t *testing.T) {
	e := mustLoad(t, filepath.Join(validDir, "servers"), LoadOptions{Env: noEnv})
	want := []*Server{
		{Name: "gemma", Engine: "vllm", Model: "google/gemma-3-27b-it", Args: []string{"--max-model-len", "8192"},
			Env: map[string]string{"HF_HOME": "/scratch/hf"}, Restarts: 1, HoldEstimate: 3 * time.Hour,
			Ready: ServerReady{Path: "/v1/models", Timeout: 20 * time.Minute, Interval: time.Second},
			Executor: Executor{Kind: "slurm", Partition: "gpu", Account: "lab", Time: "12:00:00", TimeLimit: 12 * time.Hour,
				GPUs: 2, CPUs: 16, MemoryMB: 128 * 1024, Extra: map[string]string{"constraint": "a100"}}},
		{Name: "tiny", Engine: "command", Command: []string{"./fake-server", "--listen", "{host}:{port}"}, Port: 18080, Restarts: 2,
			Ready: ServerReady{Path: "/healthz", Timeout: 10 * time.Minute, Interval: 200 * time.Millisecond}, Executor: Executor{Kind: "local"}},
		{Name: "llama", Engine: "llama.cpp", Model: "/models/tiny.gguf", Restarts: 2,
			Ready: ServerReady{Path: "/health", Timeout: 10 * time.Minute, Interval: time.Second}, Executor: Executor{Kind: "local"}},
	}
	if d := cmp.Diff(want, e.Servers, cmpOpts...); d != "" {
		t.Errorf("servers (-want +got):\n%s", d)
	}
	if got := e.Teacher("gemma").Model; got != "google/gemma-3-27b-it" {
		t.Errorf("teacher model from server.gemma.model = %q", got)
	}
	// Plugin configs are decoded later, with the experiment's context: the
	// URLs are the placeholders the run replaces.
	spec := &hcldec.AttrSpec{Name: "base_url", Type: cty.String, Required: true}
	for name, url := range map[string]string{"gemma": "http://gemma.server.polyglot.invalid/v1", "tiny": "http://tiny.server.polyglot.invalid/v1"} {
		v, diags := hcldec.Decode(e.Teacher(name).Config, spec, e.EvalContext())
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if v.AsString() != url {
			t.Errorf("teacher %s base_url = %q, want %q", name, v.AsString(), url)
		}
	}
}

func TestParseSlurmTime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30": 30 * time.Minute, "30:15": 30*time.Minute + 15*time.Second, "04:00:00": 4 * time.Hour,
		"2-12": 60 * time.Hour, "1-02:30": 26*time.Hour + 30*time.Minute, "1-00:00:10": 24*time.Hour + 10*time.Second, "90m": 90 * time.Minute,
	} {
		got, err := ParseSlurmTime(in)
		if err != nil || got != want {
			t.Errorf("ParseSlurmTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "1:2:3:4", "-1", "1-x"} {
		if _, err := ParseSlurmTime(bad); err == nil {
			t.Errorf("ParseSlurmTime(%q): want an error", bad)
		}
	}
}

func TestParseMemoryMB(t *testing.T) {
	for in, want := range map[string]int{"512": 512, "512M": 512, "64G": 65536, "64GB": 65536, "1T": 1 << 20, "2048K": 2, "1.5G": 1536} {
		got, err := ParseMemoryMB(in)
		if err != nil || got != want {
			t.Errorf("ParseMemoryMB(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1G", "0"} {
		if _, err := ParseMemoryMB(bad); err == nil {
			t.Errorf("ParseMemoryMB(%q): want an error", bad)
		}
	}
}
