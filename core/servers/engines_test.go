package servers

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polyglot-teachers/polyglot/core/spec"
)

// flagList reads testdata/engines/NAME.flags: the option strings of an
// engine at a pinned revision (see each file's header for where they were
// read).
func flagList(t *testing.T, names ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, name := range names {
		f, err := os.Open(filepath.Join("testdata", "engines", name+".flags"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
				out[l] = true
			}
		}
		f.Close()
	}
	// A guard against an empty or cut file; the SGLang list (an early revision) has 21.
	if len(out) < 20 {
		t.Fatalf("%v: only %d flags", names, len(out))
	}
	return out
}

// unknownFlags returns the options of argv (after skip leading words) that
// the list lacks; "--x=v" counts as "--x".
func unknownFlags(argv []string, skip int, known map[string]bool) []string {
	var bad []string
	for _, a := range argv[skip:] {
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name, _, _ := strings.Cut(a, "=")
		if !known[name] {
			bad = append(bad, name)
		}
	}
	return bad
}

func TestRenderVLLM(t *testing.T) {
	known := flagList(t, "vllm", "vllm-frontend")
	s := &spec.Server{Name: "g", Engine: "vllm", Model: "google/gemma-3-27b-it", Args: []string{"--tensor-parallel-size", "2", "--max-model-len=8192"},
		Env: map[string]string{"HF_HOME": "/scratch/hf"}}
	l, err := Render(s, "0.0.0.0", 8123)
	if err != nil {
		t.Fatal(err)
	}
	want := "vllm serve google/gemma-3-27b-it --host 0.0.0.0 --port 8123 --tensor-parallel-size 2 --max-model-len=8192"
	if got := strings.Join(l.Argv, " "); got != want {
		t.Errorf("argv\n got %s\nwant %s", got, want)
	}
	if bad := unknownFlags(l.Argv, 3, known); len(bad) > 0 {
		t.Errorf("flags vLLM does not take: %v", bad)
	}
	if l.Env["HF_HOME"] != "/scratch/hf" || l.Env["POLYGLOT_SERVER_PORT"] != "8123" {
		t.Errorf("env %v", l.Env)
	}
	// The check itself catches a misspelt option.
	if bad := unknownFlags([]string{"vllm", "serve", "m", "--tensor-paralel-size", "2"}, 3, known); len(bad) != 1 {
		t.Errorf("a misspelt flag passed the list: %v", bad)
	}
}

func TestRenderOtherEngines(t *testing.T) {
	for _, c := range []struct {
		s    *spec.Server
		want string
		env  string
	}{
		{&spec.Server{Name: "a", Engine: "sglang", Model: "Qwen/Qwen2.5-7B-Instruct", Args: []string{"--tp", "2"}}, "python3 -m sglang.launch_server --model-path Qwen/Qwen2.5-7B-Instruct --host 127.0.0.1 --port 9000 --tp 2", ""},
		{&spec.Server{Name: "b", Engine: "llama.cpp", Model: "/m/tiny.gguf", Command: []string{"/opt/llama/bin/llama-server"}}, "/opt/llama/bin/llama-server --model /m/tiny.gguf --host 127.0.0.1 --port 9000", ""},
		{&spec.Server{Name: "c", Engine: "ollama", Model: "tiny", Command: []string{"/x/ollama"}}, "/x/ollama serve", "127.0.0.1:9000"},
		{&spec.Server{Name: "d", Engine: "command", Model: "m1", Command: []string{"srv", "--listen={host}:{port}", "--model", "{model}"}, Args: []string{"-v"}}, "srv --listen=127.0.0.1:9000 --model m1 -v", ""},
	} {
		l, err := Render(c.s, "127.0.0.1", 9000)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(l.Argv, " "); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.s.Engine, got, c.want)
		}
		if l.Env["OLLAMA_HOST"] != c.env {
			t.Errorf("%s: OLLAMA_HOST = %q, want %q", c.s.Engine, l.Env["OLLAMA_HOST"], c.env)
		}
	}
}

func TestKeyIgnoresPortChoiceNotSpec(t *testing.T) {
	a := &spec.Server{Name: "a", Engine: "vllm", Model: "m", Executor: spec.Executor{Kind: "local"}}
	b := *a
	b.Args = []string{"--max-model-len", "4096"}
	if Key(a) == Key(&b) {
		t.Error("changed arguments kept the server's key: a running server would be reused for another spec")
	}
	c := *a
	if Key(a) != Key(&c) {
		t.Error("the same block gave two keys")
	}
}

func TestGPUs(t *testing.T) {
	for gres, want := range map[string]int{"": 3, "gpu:2": 2, "gpu:a100:4": 4, "gpu": 1, "shard:2": 0, "gpu:1,gpu:a100:2": 3} {
		s := &spec.Server{Executor: spec.Executor{GPUs: 3, Gres: gres}}
		if got := GPUs(s); got != want {
			t.Errorf("gres %q: %d GPUs, want %d", gres, got, want)
		}
	}
}

// TestPaperServersUseRealFlags renders every vLLM server of examples/paper
// and checks each option against vLLM's argument lists.
func TestPaperServersUseRealFlags(t *testing.T) {
	known := flagList(t, "vllm", "vllm-frontend")
	e, diags := spec.LoadDir(filepath.Join("..", "..", "examples", "paper"), spec.LoadOptions{Env: func(k string) (string, bool) { return "not-a-key", strings.HasSuffix(k, "_API_KEY") }})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	n := 0
	for _, s := range e.Servers {
		if s.Engine != "vllm" {
			continue
		}
		n++
		l, err := Render(s, "0.0.0.0", 20000)
		if err != nil {
			t.Fatal(err)
		}
		if bad := unknownFlags(l.Argv, 3, known); len(bad) > 0 {
			t.Errorf("server %s: flags vLLM does not take: %v (argv %v)", s.Name, bad, l.Argv)
		}
	}
	if n != 11 {
		t.Errorf("examples/paper has %d vLLM servers, want 11 (8 teachers, judge, perplexity model, embedder)", n)
	}
}

// TestRenderLlamaServer checks every rendered llama-server argv, user args
// included, against the option names of llama.cpp's common/arg.cpp at the
// revision named in testdata/engines/llama-server.flags. Like vLLM, unknown
// flags are caught here, not at render time: the engine itself rejects them
// ("invalid argument") and its log line reaches the unit's error.
func TestRenderLlamaServer(t *testing.T) {
	known := flagList(t, "llama-server")
	for _, c := range []struct {
		name string
		args []string
		bad  []string
	}{
		{"plain", nil, nil},
		{"gpu and context", []string{"-ngl", "99", "--ctx-size", "8192", "-fa", "on"}, nil},
		{"server options", []string{"--parallel", "4", "--cont-batching", "--jinja", "--api-key", "k", "--metrics"}, nil},
		{"equals form", []string{"--threads=8", "--cache-type-k=q8_0"}, nil},
		// llama.cpp turns '_' into '-' in long options before the lookup.
		{"underscore", []string{"--n_gpu_layers", "20"}, nil},
		{"cli-only option", []string{"--interactive"}, []string{"--interactive"}},
		{"excluded from server", []string{"--prompt", "hi"}, []string{"--prompt"}},
		{"misspelt", []string{"--n-gpu-layer", "20"}, []string{"--n-gpu-layer"}},
	} {
		s := &spec.Server{Name: "l", Engine: "llama.cpp", Model: "/m/q.gguf", Args: c.args}
		l, err := Render(s, "0.0.0.0", 8200)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSpace("llama-server --model /m/q.gguf --host 0.0.0.0 --port 8200 " + strings.Join(c.args, " "))
		if got := strings.Join(l.Argv, " "); got != want {
			t.Errorf("%s: argv\n got %s\nwant %s", c.name, got, want)
		}
		argv := make([]string, len(l.Argv))
		for i, a := range l.Argv {
			if strings.HasPrefix(a, "--") {
				name, val, eq := strings.Cut(a, "=")
				a = strings.ReplaceAll(name, "_", "-")
				if eq {
					a += "=" + val
				}
			}
			argv[i] = a
		}
		if bad := unknownFlags(argv, 1, known); strings.Join(bad, " ") != strings.Join(c.bad, " ") {
			t.Errorf("%s: unknown flags %v, want %v", c.name, bad, c.bad)
		}
	}
}

// argparsePrefix resolves an argparse long option the way SGLang's parser
// does (allow_abbrev): an exact name, or the one known option it prefixes.
func argparsePrefix(known map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range known {
		out[k] = true
		for i := 3; i < len(k); i++ {
			p := k[:i]
			n := 0
			for o := range known {
				if strings.HasPrefix(o, p) {
					n++
				}
			}
			if n == 1 {
				out[p] = true
			}
		}
	}
	return out
}

// TestRenderSGLang checks rendered SGLang argvs, user args included, against
// ServerArgs.add_cli_args at the revision named in testdata/engines/sglang.flags.
// As for vLLM, an unknown flag is a test-time check; SGLang itself refuses it.
func TestRenderSGLang(t *testing.T) {
	known := argparsePrefix(flagList(t, "sglang"))
	for _, c := range []struct {
		name string
		args []string
		bad  []string
	}{
		{"plain", nil, nil},
		{"tensor parallel", []string{"--tp-size", "2", "--mem-fraction-static", "0.85"}, nil},
		{"prefix", []string{"--tp", "2", "--trust-remote-code"}, nil},
		{"equals form", []string{"--random-seed=7", "--log-level=warning"}, nil},
		{"ambiguous prefix", []string{"--log", "x"}, []string{"--log"}},
		{"vllm flag", []string{"--tensor-parallel-size", "2"}, []string{"--tensor-parallel-size"}},
		{"misspelt", []string{"--mem-fraction-statik", "0.8"}, []string{"--mem-fraction-statik"}},
	} {
		s := &spec.Server{Name: "s", Engine: "sglang", Model: "Qwen/Qwen2.5-7B-Instruct", Args: c.args}
		l, err := Render(s, "0.0.0.0", 8300)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSpace("python3 -m sglang.launch_server --model-path Qwen/Qwen2.5-7B-Instruct --host 0.0.0.0 --port 8300 " + strings.Join(c.args, " "))
		if got := strings.Join(l.Argv, " "); got != want {
			t.Errorf("%s: argv\n got %s\nwant %s", c.name, got, want)
		}
		if bad := unknownFlags(l.Argv, 3, known); strings.Join(bad, " ") != strings.Join(c.bad, " ") {
			t.Errorf("%s: unknown flags %v, want %v", c.name, bad, c.bad)
		}
	}
}

// TestSpecFixtureServersUseRealFlags renders every vLLM, SGLang and
// llama.cpp server of the valid servers spec fixture and checks its argv
// against that engine's list.
func TestSpecFixtureServersUseRealFlags(t *testing.T) {
	lists := map[string]map[string]bool{
		"vllm":      flagList(t, "vllm", "vllm-frontend"),
		"sglang":    argparsePrefix(flagList(t, "sglang")),
		"llama.cpp": flagList(t, "llama-server"),
	}
	skip := map[string]int{"vllm": 3, "sglang": 3, "llama.cpp": 1}
	e, diags := spec.LoadDir(filepath.Join("..", "..", "testdata", "specs", "valid", "servers"), spec.LoadOptions{Env: func(k string) (string, bool) { return "not-a-key", strings.HasSuffix(k, "_API_KEY") }})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	n := 0
	for _, s := range e.Servers {
		known, ok := lists[s.Engine]
		if !ok {
			continue
		}
		n++
		l, err := Render(s, "0.0.0.0", 20000)
		if err != nil {
			t.Fatal(err)
		}
		if bad := unknownFlags(l.Argv, skip[s.Engine], known); len(bad) > 0 {
			t.Errorf("server %s (%s): unknown flags %v (argv %v)", s.Name, s.Engine, bad, l.Argv)
		}
	}
	if n < 2 {
		t.Errorf("only %d engine servers in the fixture", n)
	}
}
