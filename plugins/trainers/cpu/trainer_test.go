package cpu

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

type logReporter struct{ t *testing.T }

func (l logReporter) Progress(p sdk.Progress) { l.t.Logf("progress %s: %s", p.Stage, p.Message) }
func (l logReporter) Log(level, msg string)   { l.t.Logf("%s: %s", level, msg) }

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// writeShuffledChat writes the fixture's examples with shuffled responses in
// chat format.
func writeShuffledChat(t *testing.T, src, dst string) {
	t.Helper()
	var b strings.Builder
	for ex, err := range shuffled(9, ReadExamples(src)) {
		if err != nil {
			t.Fatal(err)
		}
		line, _ := json.Marshal(map[string]any{"messages": []sdk.Message{{Role: "user", Content: ex.Prompt}, {Role: "assistant", Content: ex.Response}}})
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(dst, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTrainerOverGRPC drives the component the way the host does: base,
// students and reference trained through real gRPC, then evaluated.
func TestTrainerOverGRPC(t *testing.T) {
	ctx := context.Background()
	c := sdktest.Start(t, sdk.ServeOpts{Name: "cpu", Version: "test", Trainers: []sdk.Trainer{Trainer{}}})
	schema := Trainer{}.Describe().Schema
	cfg := sdk.Config{V: sdktest.Config(t, schema, map[string]cty.Value{
		"base_corpus": cty.StringVal(abs(t, "testdata/generic.txt")),
		"data_dir":    cty.StringVal(abs(t, "testdata")),
	})}
	work := t.TempDir()
	rep := logReporter{t}

	base, err := c.Train(ctx, "cpu", &sdk.TrainRequest{Config: cfg, Role: "base", WorkDir: work, Key: "base"}, rep)
	if err != nil {
		t.Fatal(err)
	}
	shufPath := filepath.Join(work, "shuffled.jsonl")
	writeShuffledChat(t, "testdata/train.jsonl", shufPath)
	train := func(key, data string) string {
		res, err := c.Train(ctx, "cpu", &sdk.TrainRequest{Config: cfg, Role: "student", WorkDir: work, Key: key,
			BaseModel: base.Artifact, DatasetPath: data, Language: "en", Hyperparameters: map[string]any{"epochs": 2, "learning_rate": 5e-5}}, rep)
		if err != nil {
			t.Fatal(err)
		}
		if res.Metrics["examples"] != 24 {
			t.Errorf("%s: trained on %v examples, want 24", key, res.Metrics["examples"])
		}
		return res.Artifact
	}
	fluent := train("cell/fluent", abs(t, "testdata/train.jsonl"))
	shuf := train("cell/shuffled", shufPath)
	if filepath.Dir(fluent) != work || !strings.HasSuffix(fluent, "cell_fluent.kn") {
		t.Errorf("artifact %s is not a safe file name in the work dir", fluent)
	}

	benches := []sdk.Benchmark{{Name: "heldout", Task: "heldout.txt"}, {Name: "mc", Task: "{lang}.jsonl"}}
	if err := os.Symlink(abs(t, "testdata/mc.jsonl"), filepath.Join(work, "en.jsonl")); err != nil {
		t.Fatal(err)
	}
	benches[1].Task = filepath.Join(work, "{lang}.jsonl")
	eval := func(model string) []sdk.BenchmarkScore {
		res, err := c.Evaluate(ctx, "cpu", &sdk.EvalRequest{Config: cfg, Model: model, Benchmarks: benches, Language: "en", WorkDir: work}, rep)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Scores) != 2 || res.Scores[0].Benchmark != "heldout" || res.Scores[1].N != 6 || res.Scores[0].N != 10 {
			t.Fatalf("unexpected scores %+v", res.Scores)
		}
		return res.Scores
	}
	fs, ss, bs := eval(fluent), eval(shuf), eval(base.Artifact)
	t.Logf("heldout: base %.4f, shuffled %.4f, fluent %.4f", bs[0].Score, ss[0].Score, fs[0].Score)
	if !(fs[0].Score > ss[0].Score && ss[0].Score > bs[0].Score) {
		t.Errorf("want base < shuffled < fluent on held-out text, got %.4f, %.4f, %.4f", bs[0].Score, ss[0].Score, fs[0].Score)
	}
}

func TestTrainerErrors(t *testing.T) {
	ctx := context.Background()
	schema := Trainer{}.Describe().Schema
	empty := sdk.Config{V: sdktest.Config(t, schema, nil)}
	work := t.TempDir()
	cases := []struct {
		name string
		req  *sdk.TrainRequest
		want string
	}{
		{"base without corpus", &sdk.TrainRequest{Config: empty, Role: "base", WorkDir: work}, "needs config base_corpus"},
		{"student without data", &sdk.TrainRequest{Config: empty, Role: "student", WorkDir: work}, "needs a dataset"},
		{"bad role", &sdk.TrainRequest{Config: empty, Role: "teacher", WorkDir: work, DatasetPath: "x"}, "unknown role"},
		{"bad hyper", &sdk.TrainRequest{Config: empty, Role: "student", WorkDir: work, DatasetPath: "x", Hyperparameters: map[string]any{"order": 2.5}}, "whole number"},
		{"missing base model", &sdk.TrainRequest{Config: empty, Role: "student", WorkDir: work, DatasetPath: "testdata/train.jsonl", BaseModel: filepath.Join(work, "nope.kn")}, "base model"},
	}
	for _, c := range cases {
		_, err := Trainer{}.Train(ctx, c.req, logReporter{t})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	bad := sdk.Config{V: sdktest.Config(t, schema, map[string]cty.Value{"order": cty.NumberIntVal(12), "discount": cty.NumberFloatVal(2)})}
	if ds := (Trainer{}).ValidateConfig(ctx, bad); len(ds) != 2 {
		t.Errorf("ValidateConfig gave %d diagnostics, want 2: %v", len(ds), ds)
	}
	if _, err := (Trainer{}).Evaluate(ctx, &sdk.EvalRequest{Config: empty, Model: "x"}, logReporter{t}); err == nil {
		t.Error("Evaluate without benchmarks succeeded")
	}
}

// TestLoadBaseReusesUnchangedFile: students of one language share their base
// model's load, and a base rewritten in place is loaded again.
func TestLoadBaseReusesUnchangedFile(t *testing.T) {
	dir := t.TempDir()
	build := func(corpus, path string) {
		m, _, err := Build(context.Background(), corpus, Hyper{})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
	}
	a, b := filepath.Join(dir, "a.kn"), filepath.Join(dir, "b.kn")
	build("testdata/generic.txt", a)
	build("testdata/generic.txt", b)
	ma, err := loadBase(a)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := loadBase(b)
	if again, _ := loadBase(a); again != ma {
		t.Error("a second load of an unchanged base read the file again")
	}
	if again, _ := loadBase(b); again != mb || ma == mb {
		t.Error("two bases loaded one after the other were not both kept")
	}
	// Rewritten with other text: a new model, not the kept one.
	if err := os.WriteFile(filepath.Join(dir, "small.txt"), []byte("zzz yyy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build(filepath.Join(dir, "small.txt"), a)
	m2, err := loadBase(a)
	if err != nil {
		t.Fatal(err)
	}
	if m2 == ma || m2.Chars() == ma.Chars() {
		t.Errorf("the rewritten base gave the old model (%d characters, was %d)", m2.Chars(), ma.Chars())
	}
	if _, err := loadBase(filepath.Join(dir, "missing.kn")); err == nil {
		t.Error("a missing base loaded")
	}
}
