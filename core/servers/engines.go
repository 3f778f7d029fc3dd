package servers

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/executor"
	"github.com/polyglot-teachers/polyglot/core/spec"
)

// Launch is a rendered server command.
type Launch struct {
	Argv []string
	Env  map[string]string
}

// DefaultCommand is each engine's executable (and leading arguments) when
// the server block has no command.
var DefaultCommand = map[string][]string{
	"vllm":      {"vllm"},
	"sglang":    {"python3", "-m", "sglang.launch_server"},
	"llama.cpp": {"llama-server"},
	"ollama":    {"ollama"},
}

// Render builds the command line of s listening on bindHost:port. The
// flags it adds are checked against each engine's argument list at a
// pinned version (testdata/engines, see cliargs.go).
func Render(s *spec.Server, bindHost string, port int) (Launch, error) {
	cmd := s.Command
	if len(cmd) == 0 {
		cmd = DefaultCommand[s.Engine]
	}
	p := strconv.Itoa(port)
	env := map[string]string{"POLYGLOT_SERVER_HOST": bindHost, "POLYGLOT_SERVER_PORT": p}
	for k, v := range s.Env {
		env[k] = v
	}
	var argv []string
	switch s.Engine {
	case "vllm":
		argv = append(append(argv, cmd...), "serve", s.Model, "--host", bindHost, "--port", p)
	case "sglang":
		argv = append(append(argv, cmd...), "--model-path", s.Model, "--host", bindHost, "--port", p)
	case "llama.cpp":
		argv = append(append(argv, cmd...), "--model", s.Model, "--host", bindHost, "--port", p)
	case "ollama":
		// Ollama takes its address from the environment, not from flags.
		argv = append(append(argv, cmd...), "serve")
		env["OLLAMA_HOST"] = bindHost + ":" + p
	case "command":
		r := strings.NewReplacer("{host}", bindHost, "{port}", p, "{model}", s.Model)
		for _, a := range cmd {
			argv = append(argv, r.Replace(a))
		}
	default:
		return Launch{}, fmt.Errorf("server %q: unknown engine %q", s.Name, s.Engine)
	}
	if len(argv) == 0 {
		return Launch{}, fmt.Errorf("server %q: empty command", s.Name)
	}
	argv = append(argv, s.Args...)
	return Launch{Argv: argv, Env: env}, nil
}

// Key is the identity of a server's job: everything that decides what it
// serves and where, not the port (chosen per attempt). A changed block is a
// new server in a folder of its own.
func Key(s *spec.Server) string {
	env := make([]string, 0, len(s.Env))
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	x := s.Executor
	extra := make([]string, 0, len(x.Extra))
	for k, v := range x.Extra {
		extra = append(extra, k+"="+v)
	}
	sort.Strings(extra)
	return executor.KeyOf("server", s.Name, s.Engine, s.Model, strings.Join(s.Command, "\x00"), strings.Join(s.Args, "\x00"),
		strings.Join(env, "\x00"), strconv.Itoa(s.Port), x.Kind, x.Partition, x.Account, x.QOS, x.Time,
		strconv.Itoa(x.GPUs), strconv.Itoa(x.CPUs), strconv.Itoa(x.MemoryMB), x.Gres, strings.Join(extra, "\x00"))
}

// Resources maps a server's executor block onto the executor's.
func Resources(s *spec.Server) executor.Resources {
	x := s.Executor
	r := executor.Resources{GPUs: x.GPUs, CPUs: x.CPUs, MemoryMB: x.MemoryMB, TimeLimit: x.TimeLimit, Partition: x.Partition, Account: x.Account}
	if x.Gres != "" {
		r.GPUs = 0 // --gres given verbatim says it all
		r.Extra = append(r.Extra, "--gres="+x.Gres)
	}
	if x.QOS != "" {
		r.Extra = append(r.Extra, "--qos="+x.QOS)
	}
	keys := make([]string, 0, len(x.Extra))
	for k := range x.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.Extra = append(r.Extra, fmt.Sprintf("--%s=%s", k, x.Extra[k]))
	}
	return r
}

// GPUs is how many GPUs s holds while it runs: gpus, or the count at the end
// of a gres such as "gpu:a100:2" (1 when a gpu gres names none).
func GPUs(s *spec.Server) int {
	x := s.Executor
	if x.Gres == "" {
		return x.GPUs
	}
	n := 0
	for _, g := range strings.Split(x.Gres, ",") {
		parts := strings.Split(g, ":")
		if parts[0] != "gpu" {
			continue
		}
		if c, err := strconv.Atoi(parts[len(parts)-1]); err == nil && len(parts) > 1 {
			n += c
		} else {
			n++
		}
	}
	return n
}
