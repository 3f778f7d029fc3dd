// Package nodeplugin_test drives the Node.js ttr plugin through the real
// polyglot host (pluginhost.Manager: go-plugin, gRPC, AutoMTLS, checksum),
// proving that a plugin needs the published .proto file, not Go.
//
// The tests need node and npm. Without them they skip, unless
// POLYGLOT_REQUIRE_TOOLS=1, when they fail. node_modules is installed with
// `npm ci` from the committed lock file when it is missing.
package nodeplugin_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/core/pluginhost"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// helperEnv makes the test binary act as a minimal polyglot host (see
// TestMain), so that a test can SIGKILL a host without killing itself.
const helperEnv = "NODEPLUGIN_HELPER_HOST_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(helperHost(dir))
	}
	os.Exit(m.Run())
}

// helperHost starts the ttr plugin from dir, prints its pid and waits to be
// killed.
func helperHost(dir string) int {
	m := &pluginhost.Manager{Dirs: []string{dir}, Log: zerolog.New(os.Stderr)}
	r, err := m.Get(context.Background(), "ttr")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(r.Pid())
	time.Sleep(time.Hour)
	return 0
}

var (
	npmOnce sync.Once
	npmErr  error
)

// needNode skips (or fails, with POLYGLOT_REQUIRE_TOOLS=1) without node and
// npm, and runs `npm ci` once when node_modules is missing.
func needNode(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s is not installed: the Node.js plugin example needs node and npm on PATH (e.g. apt-get install -y nodejs npm)", tool)
			if os.Getenv("POLYGLOT_REQUIRE_TOOLS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	npmOnce.Do(func() {
		if _, err := os.Stat("node_modules"); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		out, err := cmd.CombinedOutput()
		if err != nil {
			npmErr = fmt.Errorf("npm ci in examples/plugin-metric-node: %v\n%s", err, out)
		}
	})
	if npmErr != nil {
		t.Fatal(npmErr)
	}
}

// pinnedWrapper writes a launcher with absolute paths (scripts/make-wrapper.js),
// the way README.md says to install the plugin.
func pinnedWrapper(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "polyglot-plugin-ttr")
	if b, err := exec.Command("node", "scripts/make-wrapper.js", out).CombinedOutput(); err != nil {
		t.Fatalf("make-wrapper: %v\n%s", err, b)
	}
	return out
}

// syncBuffer collects the host's log; go-plugin writes from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startPlugin installs the pinned wrapper into a fresh plugin folder and
// starts it through a Manager whose log it returns.
func startPlugin(t *testing.T) (*pluginhost.Manager, *pluginhost.Running, *syncBuffer) {
	t.Helper()
	needNode(t)
	dir := t.TempDir()
	e, err := pluginhost.Install(context.Background(), dir, pinnedWrapper(t), "examples/plugin-metric-node")
	if err != nil {
		t.Fatal(err)
	}
	if e.File != "polyglot-plugin-ttr_v0.1.0" || e.Name != "ttr" || len(e.SHA256) != 64 {
		t.Fatalf("lock entry = %+v", e)
	}
	logs := &syncBuffer{}
	m := &pluginhost.Manager{Dirs: []string{dir}, WorkDir: t.TempDir(), Log: zerolog.New(logs)}
	t.Cleanup(func() {
		m.Close()
		if t.Failed() {
			t.Logf("host log:\n%s", logs)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := m.Get(ctx, "ttr")
	if err != nil {
		t.Fatalf("starting the node plugin: %v\nhost log:\n%s", err, logs)
	}
	return m, r, logs
}

func minWords(v cty.Value) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{"min_words": v})
}

func TestProtoIsThePublishedOne(t *testing.T) {
	want, err := os.ReadFile("../../sdk/proto/polyglot/plugin/v1/plugin.proto")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("proto/polyglot/plugin/v1/plugin.proto")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("proto/polyglot/plugin/v1/plugin.proto differs from sdk/proto/polyglot/plugin/v1/plugin.proto; copy the SDK's file here and update index.js for any new fields")
	}
}

func TestNodeUnitTests(t *testing.T) {
	needNode(t)
	out, err := exec.Command("node", "--test", "test/").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
}

func TestDescribe(t *testing.T) {
	needNode(t)
	golden, err := os.ReadFile("testdata/describe.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	// The committed wrapper, copied away from index.js as `plugins install`
	// does, must find it through POLYGLOT_NODE_PLUGIN_DIR or say what to do.
	moved := filepath.Join(t.TempDir(), "polyglot-plugin-ttr")
	b, err := os.ReadFile("polyglot-plugin-ttr")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(moved, b, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "polyglot-plugin-ttr")
	if err := os.Symlink(filepath.Join(abs, "polyglot-plugin-ttr"), link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, bin, envDir, wantErr string
	}{
		{name: "committed wrapper in place", bin: "./polyglot-plugin-ttr"},
		{name: "symlink to the committed wrapper", bin: link},
		{name: "pinned wrapper", bin: pinnedWrapper(t)},
		{name: "moved wrapper with POLYGLOT_NODE_PLUGIN_DIR", bin: moved, envDir: abs},
		{name: "moved wrapper alone", bin: moved, wantErr: "Set POLYGLOT_NODE_PLUGIN_DIR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(c.bin, "describe")
			cmd.Env = append(os.Environ(), "POLYGLOT_NODE_PLUGIN_DIR="+c.envDir)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if c.wantErr != "" {
				if err == nil || !strings.Contains(stderr.String(), c.wantErr) {
					t.Fatalf("want a failure saying %q, got err=%v stderr=%q", c.wantErr, err, stderr.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %s", err, stderr.String())
			}
			if d := cmp.Diff(string(golden), string(out)); d != "" {
				t.Errorf("describe output (-golden +got):\n%s", d)
			}
		})
	}
	// The host's own reader accepts it.
	d, err := pluginhost.DescribeBinary(context.Background(), "./polyglot-plugin-ttr")
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "ttr" || d.Version != "0.1.0" || d.Protocol != sdk.ProtocolVersion || len(d.Components) != 1 ||
		d.Components[0].Kind != "metric" || d.Components[0].Name != "ttr" {
		t.Fatalf("DescribeBinary = %+v", d)
	}
	var cfg []struct{ Name, Type string }
	if err := json.Unmarshal(d.Components[0].Config, &cfg); err != nil || len(cfg) != 1 || cfg[0].Name != "min_words" || cfg[0].Type != "number" {
		t.Fatalf("config = %s (%v)", d.Components[0].Config, err)
	}
}

func TestRefusesToRunByHand(t *testing.T) {
	needNode(t)
	cmd := exec.Command("node", "index.js")
	cmd.Env = append(os.Environ(), "POLYGLOT_PLUGIN_MAGIC_COOKIE=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil || stdout.Len() != 0 || !strings.Contains(stderr.String(), `run it with the argument "describe"`) {
		t.Fatalf("err=%v stdout=%q stderr=%q", err, stdout.String(), stderr.String())
	}
}

func TestHostDrivesNodePlugin(t *testing.T) {
	m, r, logs := startPlugin(t)
	ctx := context.Background()

	t.Run("info", func(t *testing.T) {
		if r.Info.Name != "ttr" || r.Info.Version != "0.1.0" || r.Info.Protocol != 1 || len(r.Info.Components) != 1 {
			t.Fatalf("info = %+v", r.Info)
		}
		c, ok := r.Info.Component(sdk.KindMetric, "ttr")
		if !ok {
			t.Fatalf("no metric component ttr in %+v", r.Info.Components)
		}
		if d := cmp.Diff(&sdk.MetricInfo{Direction: "higher", Values: []string{"ttr"}}, c.Metric); d != "" {
			t.Errorf("metric info (-want +got):\n%s", d)
		}
		if c.Schema == nil || len(c.Schema.Attributes) != 1 {
			t.Fatalf("schema = %+v", c.Schema)
		}
		a := c.Schema.Attributes[0]
		if a.Name != "min_words" || !a.Type.Equals(cty.Number) || a.Required || a.Sensitive ||
			a.Default == cty.NilVal || !a.Default.RawEquals(cty.NumberIntVal(1)) {
			t.Fatalf("attribute = %+v (default %#v)", a, a.Default)
		}
	})

	t.Run("validate", func(t *testing.T) {
		cases := []struct {
			name     string
			cfg      cty.Value
			wantPath string
			wantSum  string
		}{
			{name: "absent", cfg: cty.EmptyObjectVal},
			{name: "null", cfg: minWords(cty.NullVal(cty.Number))},
			{name: "three", cfg: minWords(cty.NumberIntVal(3))},
			{name: "zero", cfg: minWords(cty.NumberIntVal(0)), wantPath: "min_words", wantSum: "at least 1"},
			{name: "negative", cfg: minWords(cty.NumberIntVal(-4)), wantPath: "min_words", wantSum: "at least 1"},
			{name: "fraction", cfg: minWords(cty.NumberFloatVal(2.5)), wantPath: "min_words", wantSum: "whole number"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				d, err := r.Client.ValidateConfig(ctx, sdk.KindMetric, "ttr", c.cfg)
				if err != nil {
					t.Fatal(err)
				}
				if c.wantPath == "" {
					if len(d) != 0 {
						t.Fatalf("want no diagnostics, got %+v", d)
					}
					return
				}
				if !d.HasErrors() || len(d) != 1 || sdk.PathString(d[0].Path) != c.wantPath || !strings.Contains(d[0].Summary, c.wantSum) {
					t.Fatalf("diags = %+v", d)
				}
			})
		}
		_, err := r.Client.ValidateConfig(ctx, sdk.KindMetric, "nope", cty.EmptyObjectVal)
		if err == nil || !strings.Contains(m.ExplainErr(r, err).Error(), `no metric component named "nope"`) {
			t.Fatalf("unknown component: %v", err)
		}
	})

	t.Run("compute", func(t *testing.T) {
		s, diags, err := r.Client.OpenMetric(ctx, sdk.MetricOpen{Component: "ttr", Config: minWords(cty.NumberIntVal(2)), Language: "fr", Cell: "t/fr/s"})
		if err != nil || diags.HasErrors() || s == nil {
			t.Fatalf("open: %v %+v", err, diags)
		}
		// Not wanted by this metric, but the protocol answers it.
		if err := s.Reference([]sdk.Example{{ID: "seed", Response: "ignored"}}); err != nil {
			t.Fatal(err)
		}
		batches := [][]sdk.Example{
			{
				{ID: "a", Response: "The cat saw the cat."},
				{ID: "b", Response: "Un été à Paris, un été !"},
				{ID: "c", Response: "Oui."},
			},
			{
				{ID: "d", Response: "hello Hello HELLO"},
				{ID: "e", Response: "नमस्ते दुनिया नमस्ते"},
				{ID: "f", Response: ""},
			},
		}
		want := [][]sdk.ExampleValue{
			{
				{ID: "a", Values: map[string]float64{"ttr": 3.0 / 5}},
				{ID: "b", Values: map[string]float64{"ttr": 4.0 / 6}},
				{ID: "c", Note: "1 word(s), fewer than min_words = 2"},
			},
			{
				{ID: "d", Values: map[string]float64{"ttr": 1.0 / 3}},
				{ID: "e", Values: map[string]float64{"ttr": 2.0 / 3}},
				{ID: "f", Note: "0 word(s), fewer than min_words = 2"},
			},
		}
		for i, b := range batches {
			got, err := s.Add(b)
			if err != nil {
				t.Fatal(err)
			}
			for j := range got {
				if len(got[j].Values) == 0 {
					got[j].Values = nil // an empty proto map arrives as nil or empty
				}
			}
			if d := cmp.Diff(want[i], got); d != "" {
				t.Errorf("batch %d values (-want +got):\n%s", i, d)
			}
		}
		rest, agg, err := s.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if len(rest) != 0 {
			t.Errorf("values at Finish = %+v; this metric sends them per batch", rest)
		}
		scored := []float64{3.0 / 5, 4.0 / 6, 1.0 / 3, 2.0 / 3}
		mean, se := meanStderr(scored)
		if math.Abs(agg.Values["value"]-mean) > 1e-12 || agg.Values["n"] != 4 || math.Abs(agg.Values["stderr"]-se) > 1e-12 {
			t.Errorf("aggregate = %+v; want value %v n 4 stderr %v", agg.Values, mean, se)
		}
		if d := cmp.Diff(`{"skipped":2,"min_words":2}`, string(agg.Details.(json.RawMessage))); d != "" {
			t.Errorf("details (-want +got):\n%s", d)
		}
	})

	t.Run("open with a bad config", func(t *testing.T) {
		s, diags, err := r.Client.OpenMetric(ctx, sdk.MetricOpen{Component: "ttr", Config: minWords(cty.NumberIntVal(0))})
		if err != nil || s != nil || !diags.HasErrors() || sdk.PathString(diags[0].Path) != "min_words" {
			t.Fatalf("stream=%v err=%v diags=%+v", s, err, diags)
		}
	})

	t.Run("empty cell logs a warning through the host", func(t *testing.T) {
		s, _, err := r.Client.OpenMetric(ctx, sdk.MetricOpen{Component: "ttr", Config: minWords(cty.NumberIntVal(50))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Add([]sdk.Example{{ID: "x", Response: "too short"}}); err != nil {
			t.Fatal(err)
		}
		_, agg, err := s.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if agg.Values["value"] != 0 || agg.Values["n"] != 0 {
			t.Errorf("aggregate = %+v", agg.Values)
		}
		// The plugin's stderr JSON line comes out as a host log entry at
		// its level, tagged with the plugin's name.
		deadline := time.Now().Add(5 * time.Second)
		for !hasLogLine(logs.String(), "warn", "no response had enough words") {
			if time.Now().After(deadline) {
				t.Fatalf("host log has no warn line from the plugin:\n%s", logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("unknown component", func(t *testing.T) {
		_, _, err := r.Client.OpenMetric(ctx, sdk.MetricOpen{Component: "nope"})
		if err == nil || !strings.Contains(err.Error(), `no metric component named "nope"`) {
			t.Fatalf("err = %v", err)
		}
	})

	if strings.Contains(logs.String(), "stdio service not available") {
		t.Errorf("the host missed the stdio service:\n%s", logs)
	}
}

func hasLogLine(log, level, msgPart string) bool {
	for _, line := range strings.Split(log, "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		if e["level"] == level && e["plugin"] == "ttr" && strings.Contains(fmt.Sprint(e["message"]), msgPart) {
			return true
		}
	}
	return false
}

func meanStderr(xs []float64) (float64, float64) {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1) / float64(len(xs)))
}

// TestCloseStopsPluginGracefully: the host's Close asks the plugin to shut
// down (go-plugin's controller service) and the node process is gone when
// Close returns, without go-plugin having to kill it.
func TestCloseStopsPluginGracefully(t *testing.T) {
	m, r, logs := startPlugin(t)
	pid := r.Pid()
	if pid <= 0 || !alive(pid) {
		t.Fatalf("plugin pid %d not running", pid)
	}
	start := time.Now()
	m.Close()
	took := time.Since(start)
	if alive(pid) {
		t.Fatalf("node process %d still running after Close", pid)
	}
	if !r.Exited() {
		t.Error("the host does not see the plugin as exited")
	}
	if strings.Contains(logs.String(), "failed to exit gracefully") {
		t.Errorf("the host had to kill the plugin (Close took %v):\n%s", took, logs)
	}
	t.Logf("Close took %v", took)
}

// TestPluginDiesWithSIGKILLedHost: a host killed with SIGKILL cannot stop
// its plugins; the plugin notices its new parent and exits by itself.
func TestPluginDiesWithSIGKILLedHost(t *testing.T) {
	needNode(t)
	dir := t.TempDir()
	if _, err := pluginhost.Install(context.Background(), dir, pinnedWrapper(t), ""); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	host := exec.Command(self)
	host.Env = append(os.Environ(), helperEnv+"="+dir)
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var hostErr syncBuffer
	host.Stderr = &hostErr
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		host.Process.Kill()
		host.Wait()
		t.Fatalf("helper host printed no plugin pid: %v\n%s", err, hostErr.String())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 || !alive(pid) {
		host.Process.Kill()
		host.Wait()
		t.Fatalf("bad pid line %q (%v)", line, err)
	}
	host.Process.Signal(syscall.SIGKILL)
	host.Wait()
	start := time.Now()
	for alive(pid) {
		if time.Since(start) > 10*time.Second {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("node plugin %d outlived its SIGKILLed host", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("plugin exited %v after its host was killed", time.Since(start))
}

// alive treats zombies as dead: in a container nobody may reap them.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z' && s[i+2] != 'X'
}

// BenchmarkCompute measures a cell's round trip through the host: batches of
// 1,000 fifty-word responses into the node plugin and back.
func BenchmarkCompute(b *testing.B) {
	needNodeB(b)
	dir := b.TempDir()
	wrapper := filepath.Join(b.TempDir(), "polyglot-plugin-ttr")
	if out, err := exec.Command("node", "scripts/make-wrapper.js", wrapper).CombinedOutput(); err != nil {
		b.Fatalf("make-wrapper: %v\n%s", err, out)
	}
	if _, err := pluginhost.Install(context.Background(), dir, wrapper, ""); err != nil {
		b.Fatal(err)
	}
	m := &pluginhost.Manager{Dirs: []string{dir}, Log: zerolog.Nop()}
	defer m.Close()
	r, err := m.Get(context.Background(), "ttr")
	if err != nil {
		b.Fatal(err)
	}
	vocab := strings.Fields("le chat noir mange une souris grise dans la grande maison près du vieux moulin sous la pluie")
	batch := make([]sdk.Example, 1000)
	for i := range batch {
		var sb strings.Builder
		for w := 0; w < 50; w++ {
			sb.WriteString(vocab[(i*7+w*w)%len(vocab)])
			sb.WriteByte(' ')
		}
		batch[i] = sdk.Example{ID: strconv.Itoa(i), Response: sb.String()}
	}
	s, _, err := r.Client.OpenMetric(context.Background(), sdk.MetricOpen{Component: "ttr", Config: cty.EmptyObjectVal})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vals, err := s.Add(batch)
		if err != nil || len(vals) != len(batch) {
			b.Fatalf("add: %v (%d values)", err, len(vals))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "examples/s")
	if _, _, err := s.Finish(); err != nil {
		b.Fatal(err)
	}
}

func needNodeB(b *testing.B) {
	if _, err := exec.LookPath("node"); err != nil {
		b.Skip("node is not installed")
	}
	if _, err := os.Stat("node_modules"); err != nil {
		b.Skip("run `npm ci` in examples/plugin-metric-node first")
	}
}
