package sdk_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

var schema = sdk.Schema(
	sdk.Doc("test"),
	sdk.Attr("base_url", cty.String).Required(),
	sdk.Attr("api_key", cty.String).Sensitive(),
	sdk.Attr("retries", cty.Number).Default(cty.NumberIntVal(3)),
	sdk.Attr("stop", cty.List(cty.String)),
	sdk.Attr("judge", cty.String).TeacherRef(),
	sdk.Nested("header", sdk.NestingMap, sdk.Schema(sdk.Attr("value", cty.String).Required())),
)

func TestSchemaSurvivesTheWire(t *testing.T) {
	back, err := sdk.SchemaFromProto(sdk.SchemaToProto(schema))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(schema, back, cmp.Comparer(func(a, b cty.Type) bool { return a.Equals(b) }), cmp.Comparer(func(a, b cty.Value) bool {
		if a == cty.NilVal || b == cty.NilVal {
			return a == b
		}
		return a.RawEquals(b)
	})); diff != "" {
		t.Fatalf("schema changed on the wire (-sent +received):\n%s", diff)
	}
	if got := sdk.PathString(schema.SensitivePaths()[0]); got != "api_key" {
		t.Errorf("sensitive path %q", got)
	}
}

func TestDecoderSpecDecodesHCL(t *testing.T) {
	src := `
base_url = "http://127.0.0.1:8000/v1"
stop     = ["\n\n"]
header "X-Team" { value = "nlp" }
`
	f, diags := hclsyntax.ParseConfig([]byte(src), "cfg.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	v, diags := hcldec.Decode(f.Body, schema.DecoderSpec(), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cfg := sdk.Config{V: v}
	if cfg.String("base_url") != "http://127.0.0.1:8000/v1" || cfg.Int("retries") != 3 || cfg.Strings("stop")[0] != "\n\n" || cfg.Has("api_key") {
		t.Fatalf("decoded %#v", v)
	}
	// A missing required attribute is an error at the body, with a range.
	f2, _ := hclsyntax.ParseConfig([]byte(`retries = 1`), "bad.hcl", hcl.InitialPos)
	_, diags = hcldec.Decode(f2.Body, schema.DecoderSpec(), nil)
	if !diags.HasErrors() || diags[0].Subject == nil || diags[0].Subject.Filename != "bad.hcl" {
		t.Fatalf("want a located error, got %v", diags)
	}
}

type flaky struct{}

func (flaky) Describe() sdk.Description { return sdk.Description{Name: "flaky", Schema: sdk.Schema()} }
func (flaky) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	return sdk.GeneratorFunc(func(ctx context.Context, c *sdk.Call) (*sdk.Result, error) {
		switch c.Messages[0].Content {
		case "panic":
			panic("boom")
		case "error":
			return nil, errors.New("plain error")
		case "limited":
			return nil, &sdk.CallError{Code: sdk.ErrRateLimited, Message: "slow down"}
		case "binary":
			return &sdk.Result{Text: "cut \xe2\x82"}, nil
		}
		return &sdk.Result{Text: "ok:" + c.Messages[0].Content}, nil
	}), nil
}

// One bad call never takes the stream down: panics, plain errors and
// invalid UTF-8 each become that call's result, and the rest go through.
func TestGenerateStreamIsolatesBadCalls(t *testing.T) {
	c := sdktest.Start(t, sdk.ServeOpts{Name: "flaky", Version: "1", Teachers: []sdk.Teacher{flaky{}}})
	var calls []*sdk.Call
	for _, s := range []string{"a", "panic", "error", "limited", "binary", "b"} {
		calls = append(calls, &sdk.Call{ID: s, Messages: []sdk.Message{{Role: "user", Content: s}}})
	}
	rs := sdktest.Generate(t, c, sdk.TeacherOpen{Component: "flaky"}, calls...)
	want := map[string]string{"a": "ok:a", "b": "ok:b"}
	for _, r := range rs {
		switch r.ID {
		case "a", "b":
			if r.Text != want[r.ID] || r.Err != nil {
				t.Errorf("%s: %+v", r.ID, r)
			}
		case "panic":
			if r.Err == nil || r.Err.Code != sdk.ErrInvalidRequest || !strings.Contains(r.Err.Message, "plugin panicked") {
				t.Errorf("panic not turned into an error: %+v", r)
			}
		case "error":
			if r.Err == nil || r.Err.Message != "plain error" {
				t.Errorf("plain error: %+v", r)
			}
		case "limited":
			if r.Err == nil || r.Err.Code != sdk.ErrRateLimited || !r.Err.Code.Retryable() {
				t.Errorf("rate limit: %+v", r)
			}
		case "binary":
			if r.Err != nil || r.Text != "cut \uFFFD" {
				t.Errorf("invalid UTF-8: %+v", r)
			}
		}
	}
}

func TestUnknownComponentIsAClearError(t *testing.T) {
	c := sdktest.Start(t, sdk.ServeOpts{Name: "flaky", Version: "1", Teachers: []sdk.Teacher{flaky{}}})
	_, _, err := c.OpenTeacher(context.Background(), sdk.TeacherOpen{Component: "nope"})
	if err == nil || !strings.Contains(err.Error(), `no teacher component named "nope"`) {
		t.Fatalf("want a clear not-found error, got %v", err)
	}
	info, err := c.Info(context.Background())
	if err != nil || info.Name != "flaky" || info.Protocol != sdk.ProtocolVersion {
		t.Fatalf("info %+v %v", info, err)
	}
	if _, err := c.ValidateConfig(context.Background(), sdk.KindMetric, "flaky", cty.EmptyObjectVal); err == nil {
		t.Fatal("a metric named like a teacher must not be found")
	}
}

// metaEcho answers each call with the metadata it received; ignore makes
// its generator opt out of metadata (sdk.MetadataIgnorer).
type metaEcho struct{ ignore bool }

func (metaEcho) Describe() sdk.Description {
	return sdk.Description{Name: "echo", Schema: sdk.Schema()}
}

func (m metaEcho) Open(context.Context, sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	return metaGen(m), nil
}

type metaGen metaEcho

func (m metaGen) IgnoresMetadata() bool { return m.ignore }

func (metaGen) Generate(_ context.Context, call *sdk.Call) (*sdk.Result, error) {
	return &sdk.Result{ID: call.ID, Text: call.Metadata["seed_id"], FinishReason: "stop"}, nil
}

func TestMetadataIsLeftOutOnlyForGeneratorsThatIgnoreIt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ignore bool
		want   string
	}{
		{"replay teachers get metadata", false, "seed-7"},
		{"API teachers opt out", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sdktest.Start(t, sdk.ServeOpts{Name: "meta", Version: "1", Teachers: []sdk.Teacher{metaEcho{tc.ignore}}})
			ts, diags, err := c.OpenTeacher(context.Background(), sdk.TeacherOpen{Component: "echo", Concurrency: 1})
			if err != nil || diags.HasErrors() {
				t.Fatal(err, diags)
			}
			if ts.IgnoresMetadata() != tc.ignore {
				t.Errorf("stream says IgnoresMetadata = %v, want %v", ts.IgnoresMetadata(), tc.ignore)
			}
			call := &sdk.Call{ID: "1", Messages: []sdk.Message{{Role: "user", Content: "x"}}, Metadata: map[string]string{"seed_id": "seed-7"}}
			if err := ts.Send([]*sdk.Call{call}); err != nil {
				t.Fatal(err)
			}
			rs, err := ts.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 || rs[0].Text != tc.want {
				t.Errorf("the plugin saw seed_id %q, want %q (%+v)", rs[0].Text, tc.want, rs)
			}
			if call.Metadata["seed_id"] != "seed-7" {
				t.Error("Send changed the caller's call")
			}
			_ = ts.CloseSend()
		})
	}
}

type busyTrainer struct{}

func (busyTrainer) Describe() sdk.Description {
	return sdk.Description{Name: "busy", Schema: sdk.Schema()}
}
func (busyTrainer) Train(ctx context.Context, req *sdk.TrainRequest, r sdk.Reporter) (*sdk.TrainResult, error) {
	return &sdk.TrainResult{}, nil
}
func (busyTrainer) Evaluate(ctx context.Context, req *sdk.EvalRequest, r sdk.Reporter) (*sdk.EvalResult, error) {
	return &sdk.EvalResult{}, nil
}

// TestPluginCPUProfilePerCall: with POLYGLOT_PLUGIN_CPUPROFILE set, every
// Generate, Train and Evaluate call writes its own profile, so the calls of
// the metrics, train and evaluate stages can be profiled, not only generation.
func TestPluginCPUProfilePerCall(t *testing.T) {
	base := filepath.Join(t.TempDir(), "plugin.prof")
	t.Setenv("POLYGLOT_PLUGIN_CPUPROFILE", base)
	c := sdktest.Start(t, sdk.ServeOpts{Name: "p", Version: "1", Teachers: []sdk.Teacher{flaky{}}, Trainers: []sdk.Trainer{busyTrainer{}}})
	// A profile is written when its call's handler returns, which may be just
	// after the client has the answer; a call made while the last one is still
	// being written is not profiled, so wait for each.
	profiled := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			files, _ := filepath.Glob(base + ".*")
			full := 0
			for _, f := range files {
				if st, err := os.Stat(f); err == nil && st.Size() > 0 {
					full++
				}
			}
			if full == n && len(files) == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("profiles %v (%d written), want %d, one for each call", files, full, n)
			}
		}
	}
	sdktest.Generate(t, c, sdk.TeacherOpen{Component: "flaky"}, &sdk.Call{ID: "a", Messages: []sdk.Message{{Role: "user", Content: "a"}}})
	profiled(1)
	if _, err := c.Train(context.Background(), "busy", &sdk.TrainRequest{}, nil); err != nil {
		t.Fatal(err)
	}
	profiled(2)
	if _, err := c.Evaluate(context.Background(), "busy", &sdk.EvalRequest{}, nil); err != nil {
		t.Fatal(err)
	}
	profiled(3)
}
