package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// LoadOptions are the caller-supplied inputs of a load.
type LoadOptions struct {
	// Vars are -var name=value pairs from the CLI. A value is parsed as an
	// HCL expression when it parses and evaluates on its own (3, true,
	// ["ar","de"]), otherwise it is taken as a plain string.
	Vars map[string]string
	// Env looks up environment variables for env("X") and
	// POLYGLOT_VAR_<name>; nil means os.LookupEnv.
	Env func(string) (string, bool)
	// AllowRead are folders (or files) outside the spec folder that
	// file(), templates and seeds may read (--allow-read); see paths.go.
	AllowRead []string
}

// EnvVarPrefix is prepended to a variable's name to set it from the
// environment.
const EnvVarPrefix = "POLYGLOT_VAR_"

// blockTypes are the labeled top-level block types that other blocks may
// reference as TYPE.NAME.ATTR, in the order the reference documents them.
var blockTypes = []string{"seeds", "teacher", "control", "strategy", "metric", "student", "benchmark", "server", "dataset"}

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "experiment", LabelNames: []string{"name"}},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "required_plugins"},
		{Type: "seeds", LabelNames: []string{"name"}},
		{Type: "teacher", LabelNames: []string{"name"}},
		{Type: "control", LabelNames: []string{"name"}},
		{Type: "strategy", LabelNames: []string{"name"}},
		{Type: "metric", LabelNames: []string{"name"}},
		{Type: "student", LabelNames: []string{"name"}},
		{Type: "benchmark", LabelNames: []string{"name"}},
		{Type: "server", LabelNames: []string{"name"}},
		{Type: "dataset", LabelNames: []string{"name"}},
		{Type: "score"},
		{Type: "screening"},
	},
}

// LoadDir loads every *.hcl file directly inside dir, sorted by name, as
// one experiment.
func LoadDir(dir string, opts LoadOptions) (*Experiment, hcl.Diagnostics) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return newExperiment(dir), hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read spec folder",
			Detail:   fmt.Sprintf("Reading %s failed: %v. Pass the folder that holds the experiment's .hcl files.", dir, err),
		}}
	}
	var paths []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".hcl") {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(paths)
	if len(paths) == 0 {
		return newExperiment(dir), hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No spec files",
			Detail:   fmt.Sprintf("The folder %s contains no .hcl files. Put the experiment's spec (e.g. experiment.hcl) there.", dir),
		}}
	}
	return LoadFiles(paths, opts)
}

// LoadFiles loads the given files, in the given order, as one experiment.
// Relative paths inside the spec resolve against the first file's folder.
func LoadFiles(paths []string, opts LoadOptions) (*Experiment, hcl.Diagnostics) {
	if len(paths) == 0 {
		return newExperiment("."), hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No spec files",
			Detail:   "No .hcl files were given; pass at least one spec file.",
		}}
	}
	l := &loader{opts: opts, e: newExperiment(filepath.Dir(paths[0]))}
	if l.opts.Env == nil {
		l.opts.Env = os.LookupEnv
	}
	l.load(paths)
	return l.e, l.diags
}

func newExperiment(dir string) *Experiment {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return &Experiment{
		Dir:       abs,
		files:     map[string]*hcl.File{},
		values:    map[string]cty.Value{},
		sensitive: map[string]bool{},
	}
}

// EvalContext returns the context for decoding plugin config bodies: var.*,
// local.*, experiment.*, TYPE.NAME.* for every block, and the function
// table (including env and file). Values keep their sensitive marks.
func (e *Experiment) EvalContext() *hcl.EvalContext {
	if e.ctx == nil {
		return &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: map[string]function.Function{}}
	}
	return e.ctx
}

// Value returns the evaluated (marked) value at a block address such as
// "teacher.gpt4o", "var.languages", "local.x" or "experiment".
func (e *Experiment) Value(addr string) (cty.Value, bool) {
	v, ok := e.values[addr]
	return v, ok
}

// node is one unit of evaluation: a variable, a local, a block, or a
// required_plugins entry. Dependencies come from the traversals in its
// expressions.
type node struct {
	addr  string
	kind  string
	name  string
	block *hcl.Block
	attr  *hcl.Attribute // locals and required_plugins entries
	deps  []dep
	state int // 0 new, 1 visiting, 2 done
}

type dep struct {
	addr string
	rng  hcl.Range
}

type loader struct {
	opts  LoadOptions
	e     *Experiment
	diags hcl.Diagnostics

	nodes   []*node // declaration order
	byAddr  map[string]*node
	configs []*hcl.Block // plugin config blocks: references checked, not evaluated

	vars    map[string]cty.Value
	locals  map[string]cty.Value
	blocks  map[string]map[string]cty.Value // type -> name -> value
	singles map[string]cty.Value            // experiment, score
	funcs   map[string]function.Function
	read    *readPolicy // what file(), templates and seeds may read

	// typed results, filled during evaluation
	seedSets     map[string]*SeedSet
	teachers     map[string]*Teacher
	controls     map[string]*Control
	strategies   map[string]*Strategy
	metrics      map[string]*Metric
	students     map[string]*Student
	benchmarks   map[string]*Benchmark
	servers      map[string]*Server
	datasets     map[string]*Dataset
	plugins      map[string]*RequiredPlugin
	localDecl    map[string]*Local
	scoreReader  *reader
	controlExprs map[string]hcl.Expression // caught_by expressions, for element ranges
}

func (l *loader) load(paths []string) {
	parser := hclparse.NewParser()
	var files []*hcl.File
	for _, p := range paths {
		src, rd := readSpecFile(p)
		if rd == nil {
			rd = checkLimits(src, p, hcl.InitialPos)
		}
		if rd != nil {
			l.diags = append(l.diags, rd)
			continue
		}
		f, d := parser.ParseHCL(src, p)
		l.diags = append(l.diags, d...)
		if f != nil {
			files = append(files, f)
			l.e.Files = append(l.e.Files, p)
		}
	}
	l.e.files = parser.Files()
	if l.diags.HasErrors() {
		return // syntax errors make everything after unreliable
	}
	l.read = newReadPolicy(l.e.Dir)
	l.allowReadFromUser()
	for _, f := range files {
		if content, _, _ := f.Body.PartialContent(rootSchema); content != nil {
			var exps []*hcl.Block
			for _, b := range content.Blocks {
				if b.Type == "experiment" {
					exps = append(exps, b)
				}
			}
			l.allowReadFromSpec(exps)
		}
	}
	l.funcs = functions(l.e.Dir, l.opts.Env, l.read)
	l.byAddr = map[string]*node{}
	l.vars, l.locals = map[string]cty.Value{}, map[string]cty.Value{}
	l.blocks, l.singles = map[string]map[string]cty.Value{}, map[string]cty.Value{}
	for _, t := range blockTypes {
		l.blocks[t] = map[string]cty.Value{}
	}
	l.seedSets, l.teachers, l.controls = map[string]*SeedSet{}, map[string]*Teacher{}, map[string]*Control{}
	l.strategies, l.metrics, l.students = map[string]*Strategy{}, map[string]*Metric{}, map[string]*Student{}
	l.benchmarks, l.plugins, l.localDecl = map[string]*Benchmark{}, map[string]*RequiredPlugin{}, map[string]*Local{}
	l.servers = map[string]*Server{}
	l.datasets = map[string]*Dataset{}

	var expBlocks []*hcl.Block
	var varBlocks []*hcl.Block
	for _, f := range files {
		content, d := f.Body.Content(rootSchema)
		l.diags = append(l.diags, advise(d, rootSchema)...)
		for _, blk := range content.Blocks {
			switch blk.Type {
			case "experiment":
				expBlocks = append(expBlocks, blk)
			case "variable":
				varBlocks = append(varBlocks, blk)
			case "locals":
				l.declareLocals(blk)
			case "required_plugins":
				l.declarePlugins(blk)
			case "score":
				if n, ok := l.byAddr["score"]; ok {
					l.diags = append(l.diags, dupBlock(blk, n.block.DefRange))
					continue
				}
				l.addNode(&node{addr: "score", kind: "score", block: blk})
			case "screening":
				if n, ok := l.byAddr["screening"]; ok {
					l.diags = append(l.diags, dupBlock(blk, n.block.DefRange))
					continue
				}
				l.addNode(&node{addr: "screening", kind: "screening", block: blk})
			default:
				l.declareBlock(blk)
			}
		}
	}
	switch {
	case len(expBlocks) == 0:
		var subj *hcl.Range
		if len(files) > 0 {
			r := hcl.Range{Filename: l.e.Files[0], Start: hcl.InitialPos, End: hcl.InitialPos}
			subj = &r
		}
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing experiment block",
			Detail:   "Every experiment needs exactly one experiment \"NAME\" { languages = [...] } block; add one to a spec file.",
			Subject:  subj,
		})
	default:
		for _, extra := range expBlocks[1:] {
			l.diags = append(l.diags, dupBlock(extra, expBlocks[0].DefRange))
		}
		blk := expBlocks[0]
		if d := checkIdent(blk.Labels[0], "experiment", blk.LabelRanges[0]); d != nil {
			l.diags = append(l.diags, d)
		}
		l.addNode(&node{addr: "experiment", kind: "experiment", name: blk.Labels[0], block: blk})
	}

	l.loadVariables(varBlocks)
	l.collectDeps()
	if l.diags.HasErrors() {
		// Unknown references or undeclared names: evaluating would only
		// repeat them as noisier HCL errors.
		l.finish()
		return
	}
	for _, n := range l.sortNodes() {
		l.evalNode(n)
	}
	l.finish()
	if !l.diags.HasErrors() {
		l.validate()
	}
	adviseFunctions(l.diags, sortedKeys(l.funcs))
}

func (l *loader) addNode(n *node) {
	l.nodes = append(l.nodes, n)
	l.byAddr[n.addr] = n
}

func (l *loader) declareBlock(blk *hcl.Block) {
	name := blk.Labels[0]
	if d := checkIdent(name, blk.Type, blk.LabelRanges[0]); d != nil {
		l.diags = append(l.diags, d)
		return
	}
	addr := blk.Type + "." + name
	if prev, ok := l.byAddr[addr]; ok {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Duplicate %s %q", blk.Type, name),
			Detail:   fmt.Sprintf("A %s named %q was already declared at %s; give each %s a unique name.", blk.Type, name, prev.block.DefRange, blk.Type),
			Subject:  blk.DefRange.Ptr(),
		})
		return
	}
	l.blocks[blk.Type][name] = cty.DynamicVal
	l.addNode(&node{addr: addr, kind: blk.Type, name: name, block: blk})
}

func (l *loader) declareLocals(blk *hcl.Block) {
	attrs, d := blk.Body.JustAttributes()
	l.diags = append(l.diags, d...)
	for _, a := range sortedAttrs(attrs) {
		addr := "local." + a.Name
		if prev, ok := l.byAddr[addr]; ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate local value",
				Detail:   fmt.Sprintf("local.%s was already defined at %s; each local needs a unique name.", a.Name, prev.attr.NameRange),
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		l.locals[a.Name] = cty.DynamicVal
		l.addNode(&node{addr: addr, kind: "local", name: a.Name, attr: a, block: blk})
	}
}

func (l *loader) declarePlugins(blk *hcl.Block) {
	attrs, d := blk.Body.JustAttributes()
	l.diags = append(l.diags, d...)
	for _, a := range sortedAttrs(attrs) {
		addr := "required_plugins." + a.Name
		if prev, ok := l.byAddr[addr]; ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate required plugin",
				Detail:   fmt.Sprintf("Plugin %q is already required at %s; keep one entry.", a.Name, prev.attr.NameRange),
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		l.addNode(&node{addr: addr, kind: "required_plugins", name: a.Name, attr: a, block: blk})
	}
}

// sortedAttrs orders JustAttributes' map by source position.
func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Range.Start.Byte < out[j].Range.Start.Byte })
	return out
}

// collectDeps finds the references of every node and checks that each one
// names something declared.
func (l *loader) collectDeps() {
	for _, n := range l.nodes {
		var travs []hcl.Traversal
		if n.attr != nil {
			travs = n.attr.Expr.Variables()
		} else if sb, ok := n.block.Body.(*hclsyntax.Body); ok {
			travs = l.bodyTraversals(sb)
		}
		seen := map[string]bool{}
		for _, t := range travs {
			addr, ok := l.resolve(t)
			if !ok || seen[addr] {
				continue
			}
			seen[addr] = true
			n.deps = append(n.deps, dep{addr: addr, rng: t.SourceRange()})
		}
	}
	for _, c := range l.configs {
		if sb, ok := c.Body.(*hclsyntax.Body); ok {
			for _, t := range l.bodyTraversals(sb) {
				l.resolve(t)
			}
		}
	}
}

// bodyTraversals walks a block body; nested config blocks are remembered
// for reference checks only, since the host decodes them later.
func (l *loader) bodyTraversals(b *hclsyntax.Body) []hcl.Traversal {
	var out []hcl.Traversal
	attrs := make([]*hclsyntax.Attribute, 0, len(b.Attributes))
	for _, a := range b.Attributes {
		attrs = append(attrs, a)
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].SrcRange.Start.Byte < attrs[j].SrcRange.Start.Byte })
	for _, a := range attrs {
		out = append(out, a.Expr.Variables()...)
	}
	for _, blk := range b.Blocks {
		if blk.Type == "config" {
			l.configs = append(l.configs, blk.AsHCLBlock())
			continue
		}
		out = append(out, l.bodyTraversals(blk.Body)...)
	}
	return out
}

// resolve maps a traversal to the node it depends on, reporting references
// to things that are not declared.
func (l *loader) resolve(t hcl.Traversal) (string, bool) {
	root := t.RootName()
	name, hasName := "", false
	if len(t) > 1 {
		if a, ok := t[1].(hcl.TraverseAttr); ok {
			name, hasName = a.Name, true
		}
	}
	bad := func(summary, detail string, args ...any) (string, bool) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   fmt.Sprintf(detail, args...),
			Subject:  t.SourceRange().Ptr(),
		})
		return "", false
	}
	switch root {
	case "experiment", "score", "screening":
		if _, ok := l.byAddr[root]; !ok {
			return bad("Reference to undeclared "+root+" block", "%s.* is used but there is no %s block; add one or remove the reference.", root, root)
		}
		return root, true
	case "var":
		if !hasName {
			return bad("Invalid reference", "A variable reference needs a name: var.NAME.")
		}
		if _, ok := l.vars[name]; !ok {
			return bad("Reference to undeclared input variable", "No variable %q is declared.%s Declare it with a variable %q {} block.", name, didYouMean(name, sortedKeys(l.vars)), name)
		}
		return "var." + name, true
	case "local":
		if !hasName {
			return bad("Invalid reference", "A local value reference needs a name: local.NAME.")
		}
		if _, ok := l.locals[name]; !ok {
			return bad("Reference to undeclared local value", "No local value %q is defined.%s Define it in a locals {} block.", name, didYouMean(name, sortedKeys(l.locals)))
		}
		return "local." + name, true
	}
	if m, ok := l.blocks[root]; ok {
		if !hasName {
			return bad("Invalid reference", "A %s reference needs a name and usually an attribute: %s.NAME.ATTR.", root, root)
		}
		if _, ok := m[name]; !ok {
			return bad("Reference to undeclared "+root, "No %s named %q is declared.%s Declare it with a %s %q {} block or fix the name.", root, name, didYouMean(name, sortedKeys(m)), root, name)
		}
		return root + "." + name, true
	}
	roots := append([]string{"var", "local", "experiment", "score", "screening"}, blockTypes...)
	return bad("Unknown variable", "There is no variable named %q.%s References start with one of: %s.", root, didYouMean(root, roots), strings.Join(roots, ", "))
}

// sortNodes orders nodes so that dependencies come first (depth-first,
// starting in declaration order so the order is deterministic). A cycle is
// reported at the reference that closes it.
func (l *loader) sortNodes() []*node {
	var order []*node
	var stack []*node
	var visit func(n *node)
	visit = func(n *node) {
		n.state = 1
		stack = append(stack, n)
		for _, d := range n.deps {
			m := l.byAddr[d.addr]
			if m == nil {
				continue
			}
			switch m.state {
			case 0:
				visit(m)
			case 1:
				var path []string
				for i := len(stack) - 1; i >= 0; i-- {
					path = append([]string{stack[i].addr}, path...)
					if stack[i] == m {
						break
					}
				}
				path = append(path, m.addr)
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Cycle in references",
					Detail:   fmt.Sprintf("These values depend on each other: %s. Break the cycle by giving one of them a value that does not refer back.", strings.Join(path, " -> ")),
					Subject:  d.rng.Ptr(),
				})
			}
		}
		stack = stack[:len(stack)-1]
		n.state = 2
		order = append(order, n)
	}
	for _, n := range l.nodes {
		if n.state == 0 {
			visit(n)
		}
	}
	return order
}

func (l *loader) evalContext() *hcl.EvalContext {
	vars := map[string]cty.Value{
		"var":   cty.ObjectVal(l.vars),
		"local": cty.ObjectVal(l.locals),
	}
	for t, m := range l.blocks {
		vars[t] = cty.ObjectVal(m)
	}
	for k, v := range l.singles {
		vars[k] = v
	}
	for _, k := range []string{"experiment", "score", "screening"} {
		if _, ok := vars[k]; !ok {
			if _, declared := l.byAddr[k]; declared {
				vars[k] = cty.DynamicVal
			}
		}
	}
	return &hcl.EvalContext{Variables: vars, Functions: l.funcs}
}

func (l *loader) evalNode(n *node) {
	ctx := l.evalContext()
	switch n.kind {
	case "local":
		v, d := n.attr.Expr.Value(ctx)
		l.diags = append(l.diags, d...)
		if d.HasErrors() {
			v = cty.DynamicVal
		}
		l.locals[n.name] = v
		l.localDecl[n.name] = &Local{Name: n.name, Value: v, Expr: n.attr.Expr, DeclRange: n.attr.Range}
		l.setValue(n.addr, v)
	case "required_plugins":
		l.evalPlugin(n, ctx)
	case "experiment":
		l.evalExperiment(n, ctx)
	case "score":
		l.evalScore(n, ctx)
	case "screening":
		l.evalScreening(n, ctx)
	case "seeds":
		l.evalSeeds(n, ctx)
	case "teacher":
		l.evalTeacher(n, ctx)
	case "control":
		l.evalControl(n, ctx)
	case "strategy":
		l.evalStrategy(n, ctx)
	case "metric":
		l.evalMetric(n, ctx)
	case "student":
		l.evalStudent(n, ctx)
	case "benchmark":
		l.evalBenchmark(n, ctx)
	case "server":
		l.evalServer(n, ctx)
	case "dataset":
		l.evalDataset(n, ctx)
	}
}

// setValue stores a node's evaluated value and remembers sensitive parts.
func (l *loader) setValue(addr string, v cty.Value) {
	l.e.values[addr] = v
	if v.IsWhollyKnown() || v.ContainsMarked() {
		l.e.noteSensitive(addr, v)
	}
}

// evalBlockNode evaluates a labeled block and publishes its value for
// references.
func (l *loader) evalBlockNode(n *node, bs *blockSpec, ctx *hcl.EvalContext) *evaluated {
	ev, d := evalBody(n.block.Body, bs, ctx, n.block.DefRange)
	l.diags = append(l.diags, d...)
	if n.kind == "experiment" || n.kind == "score" || n.kind == "screening" {
		l.singles[n.kind] = ev.val
	} else {
		l.blocks[n.kind][n.name] = ev.val
	}
	l.setValue(n.addr, ev.val)
	return ev
}

// finish assembles the typed slices in declaration order and the final
// evaluation context.
func (l *loader) finish() {
	e := l.e
	for _, n := range l.nodes {
		switch n.kind {
		case "local":
			if v := l.localDecl[n.name]; v != nil {
				e.Locals = append(e.Locals, v)
			}
		case "required_plugins":
			if v := l.plugins[n.name]; v != nil {
				e.RequiredPlugins = append(e.RequiredPlugins, v)
			}
		case "seeds":
			if v := l.seedSets[n.name]; v != nil {
				e.SeedSets = append(e.SeedSets, v)
			}
		case "teacher":
			if v := l.teachers[n.name]; v != nil {
				e.Teachers = append(e.Teachers, v)
			}
		case "control":
			if v := l.controls[n.name]; v != nil {
				e.Controls = append(e.Controls, v)
			}
		case "strategy":
			if v := l.strategies[n.name]; v != nil {
				e.Strategies = append(e.Strategies, v)
			}
		case "metric":
			if v := l.metrics[n.name]; v != nil {
				e.Metrics = append(e.Metrics, v)
			}
		case "student":
			if v := l.students[n.name]; v != nil {
				e.Students = append(e.Students, v)
			}
		case "benchmark":
			if v := l.benchmarks[n.name]; v != nil {
				e.Benchmarks = append(e.Benchmarks, v)
			}
		case "server":
			if v := l.servers[n.name]; v != nil {
				e.Servers = append(e.Servers, v)
			}
		case "dataset":
			if v := l.datasets[n.name]; v != nil {
				e.Datasets = append(e.Datasets, v)
			}
		}
	}
	if l.byAddr != nil && l.byAddr["score"] == nil && e.Score == nil {
		e.Score = defaultScore()
	}
	if e.Score != nil && e.Score.Metrics == nil {
		e.Score.Metrics = []string{}
		for _, m := range e.Metrics {
			if m.InScore {
				e.Score.Metrics = append(e.Score.Metrics, m.Name)
			}
		}
	}
	for _, m := range e.Metrics {
		if m.Sample == 0 {
			m.Sample = e.MetricSample
		}
	}
	for _, b := range e.Benchmarks {
		if b.Languages == nil {
			b.Languages = append([]string(nil), e.Languages...)
		}
	}
	e.Sensitive = sortedKeys(e.sensitive)
	if l.funcs != nil {
		e.ctx = l.evalContext()
	}
}
