package spec

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Engines a server block may name. "command" runs any argv the user gives.
var Engines = []string{"vllm", "sglang", "llama.cpp", "ollama", "command"}

// ServerHostSuffix ends the placeholder host that server.NAME.url and
// server.NAME.address stand for until the server runs: the real host and
// port are only known then (a free port, a Slurm node), and keeping the
// placeholder in configs keeps cache keys and stored configs the same
// whichever node or port a server gets. ".invalid" never resolves (RFC
// 2606), so a placeholder that was not substituted fails loudly.
const ServerHostSuffix = ".server.polyglot.invalid"

// ServerAddress is the placeholder root URL of server name
// ("http://NAME.server.polyglot.invalid"); ServerAddress(name)+"/v1" is
// its OpenAI base URL.
func ServerAddress(name string) string { return "http://" + name + ServerHostSuffix }

var serverReadySpec = &blockSpec{attrs: []attrSpec{
	{name: "path", ty: cty.String},
	{name: "timeout", ty: cty.String, def: cty.StringVal("10m")},
	{name: "interval", ty: cty.String, def: cty.StringVal("1s")},
}}

var serverExecutorSpec = &blockSpec{attrs: []attrSpec{
	{name: "partition", ty: cty.String},
	{name: "account", ty: cty.String},
	{name: "qos", ty: cty.String},
	{name: "time", ty: cty.String},
	{name: "gpus", ty: cty.Number},
	{name: "cpus", ty: cty.Number},
	{name: "memory", ty: cty.String},
	{name: "gres", ty: cty.String},
	{name: "extra", ty: cty.Map(cty.String)},
}}

var serverSpec = &blockSpec{
	attrs: []attrSpec{
		{name: "engine", ty: cty.String, required: true},
		{name: "model", ty: cty.String},
		{name: "command", ty: cty.List(cty.String)},
		{name: "args", ty: cty.List(cty.String)},
		{name: "env", ty: cty.Map(cty.String)},
		{name: "port", ty: cty.Number, def: cty.Zero},
		{name: "restarts", ty: cty.Number, def: cty.NumberIntVal(2)},
		{name: "hold_estimate", ty: cty.String},
	},
	blocks: []nestedSpec{
		{typeName: "ready", spec: serverReadySpec, max: 1},
		{typeName: "executor", label: "kind", spec: serverExecutorSpec, max: 1},
	},
}

// DefaultReadyPath is the readiness route of each engine: the OpenAI model
// list answers only once the model is loaded (vLLM, SGLang, Ollama); llama.cpp's
// /health answers 503 while it loads and 200 after.
func DefaultReadyPath(engine string) string {
	if engine == "llama.cpp" {
		return "/health"
	}
	return "/v1/models"
}

func (l *loader) evalServer(n *node, ctx *hcl.EvalContext) {
	ev := l.evalBlockNode(n, serverSpec, ctx)
	// What references see: the written attributes plus the URLs.
	if ev.val.Type().IsObjectType() {
		m := ev.val.AsValueMap()
		m["name"] = cty.StringVal(n.name)
		m["address"] = cty.StringVal(ServerAddress(n.name))
		m["url"] = cty.StringVal(ServerAddress(n.name) + "/v1")
		v := cty.ObjectVal(m)
		l.blocks["server"][n.name] = v
		l.setValue(n.addr, v)
	}
	r := newReader(ev, &l.diags)
	s := &Server{Name: n.name, DeclRange: n.block.DefRange, Ranges: r.ranges()}
	s.Engine = r.oneOf("engine", "engine", Engines...)
	s.Model = r.str("model")
	s.Command = r.strList("command")
	s.Args = r.strList("args")
	s.Env = r.strMap("env")
	s.Port = r.nonNegInt("port")
	if s.Port > 65535 {
		r.errorf("port", "Invalid port", "port must be 0 (a free port chosen at start) or 1-65535, got %d.", s.Port)
	}
	s.Restarts = r.nonNegInt("restarts")
	if d, ok := r.duration("hold_estimate"); ok {
		s.HoldEstimate = d
	}
	switch {
	case s.Engine == "command" && len(s.Command) == 0:
		r.errorf("engine", "Missing required argument", "engine = \"command\" runs the argv given in command = [\"prog\", \"arg\", ...]; add it (it may use {host} and {port}), or name an engine: %s.", quoteList(Engines[:4]))
	case s.Engine != "" && s.Engine != "command" && s.Engine != "ollama" && s.Model == "":
		l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing required argument",
			Detail:  fmt.Sprintf("A %s server needs model = \"...\": the model it loads and the name clients ask for.", s.Engine),
			Subject: n.block.DefRange.Ptr()})
	}
	for k := range s.Env {
		if !envName(k) {
			r.errorf("env", "Invalid environment variable name", "%q is not an environment variable name: use letters, digits and '_', not starting with a digit.", k)
		}
	}

	rd := r.sub("ready")
	s.Ready = ServerReady{Path: rd.str("path"), Timeout: 10 * time.Minute, Interval: time.Second, Ranges: rd.ranges()}
	if s.Ready.Path == "" {
		s.Ready.Path = DefaultReadyPath(s.Engine)
	} else if !strings.HasPrefix(s.Ready.Path, "/") {
		rd.errorf("path", "Invalid readiness path", "path is the route polled until it answers 200, starting with '/', such as \"/v1/models\" or \"/health\"; got %q.", s.Ready.Path)
	}
	if d, ok := rd.duration("timeout"); ok {
		s.Ready.Timeout = d
	}
	if d, ok := rd.duration("interval"); ok {
		s.Ready.Interval = d
	}

	s.Executor = Executor{Kind: "local"}
	if ebs := ev.blocks["executor"]; len(ebs) > 0 {
		eb := ebs[0]
		er := newReader(eb.ev, &l.diags)
		ex := Executor{
			Kind: eb.block.Labels[0], Partition: er.str("partition"), Account: er.str("account"),
			QOS: er.str("qos"), Time: er.str("time"), GPUs: er.nonNegInt("gpus"), CPUs: er.nonNegInt("cpus"),
			Gres: er.str("gres"), Extra: er.strMap("extra"), DeclRange: eb.block.DefRange, Ranges: er.ranges(),
		}
		if m := er.str("memory"); m != "" {
			mb, err := ParseMemoryMB(m)
			if err != nil {
				er.errorf("memory", "Invalid memory", "%v", err)
			}
			ex.MemoryMB = mb
		}
		if ex.Time != "" {
			d, err := ParseSlurmTime(ex.Time)
			if err != nil || d <= 0 {
				er.errorf("time", "Invalid time limit", "time must be a Slurm time limit (\"MM\", \"HH:MM:SS\", \"D-HH:MM\") or a duration (\"4h\"), got %q.", ex.Time)
			}
			ex.TimeLimit = d
		}
		l.checkExecutorKind(eb, er, ex.Kind, ex.Partition, "submit the server job to", "partition", "account", "qos", "gres")
		s.Executor = ex
	}
	l.servers[n.name] = s
}

func envName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range s {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// ParseMemoryMB reads a memory size as Slurm's --mem takes it: a number
// with an optional K, M, G or T suffix (M when absent), in megabytes.
func ParseMemoryMB(s string) (int, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "B")
	mult := 1.0
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult, t = 1.0/1024, t[:len(t)-1]
		case 'M':
			t = t[:len(t)-1]
		case 'G':
			mult, t = 1024, t[:len(t)-1]
		case 'T':
			mult, t = 1024*1024, t[:len(t)-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("memory must be a size such as \"64G\" or \"512M\" (megabytes without a suffix), got %q", s)
	}
	mb := int(f * mult)
	if mb < 1 {
		mb = 1
	}
	return mb, nil
}

// ParseSlurmTime reads a time limit as sbatch --time takes it ("MM",
// "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS") or a Go duration
// ("4h30m").
func ParseSlurmTime(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	bad := fmt.Errorf("bad time %q", s)
	days, rest, dashed := 0, s, false
	if a, b, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 {
			return 0, bad
		}
		days, rest, dashed = n, b, true
	}
	parts := strings.Split(rest, ":")
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, bad
		}
		nums[i] = n
	}
	var d time.Duration
	switch {
	case dashed && len(nums) == 1: // D-HH
		d = time.Duration(nums[0]) * time.Hour
	case dashed && len(nums) == 2: // D-HH:MM
		d = time.Duration(nums[0])*time.Hour + time.Duration(nums[1])*time.Minute
	case len(nums) == 1:
		d = time.Duration(nums[0]) * time.Minute
	case len(nums) == 2:
		d = time.Duration(nums[0])*time.Minute + time.Duration(nums[1])*time.Second
	case len(nums) == 3:
		d = time.Duration(nums[0])*time.Hour + time.Duration(nums[1])*time.Minute + time.Duration(nums[2])*time.Second
	default:
		return 0, bad
	}
	return d + time.Duration(days)*24*time.Hour, nil
}
