package spec

import (
	"time"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Experiment is a loaded, evaluated experiment: the experiment block's
// settings plus every other block, typed. Slices are in declaration order
// (files sorted by name, then position in the file). Plain Go fields hold
// unmarked values; which attributes were sensitive is kept in Sensitive and
// the marked values stay available through Value and EvalContext.
//
// On load errors the Experiment is partial and is meant only for
// WriteDiagnostics.
type Experiment struct {
	Name            string
	Languages       []string // BCP-47 tags as written (validated)
	RandomSeeds     []int64  // experiment.seeds; default [1]
	Store           string   // absolute path of the store folder
	ExamplesPerCell int      // default 10500
	MetricSample    int      // default 10000
	BudgetUSD       *float64 // nil: no cap
	DeclRange       hcl.Range
	Ranges          map[string]hcl.Range // attribute name -> value expression range

	Dir   string   // absolute folder of the spec
	Files []string // loaded files, in load order

	Variables       []*Variable
	Locals          []*Local
	RequiredPlugins []*RequiredPlugin
	SeedSets        []*SeedSet
	Teachers        []*Teacher
	Controls        []*Control
	Strategies      []*Strategy
	Metrics         []*Metric
	Students        []*Student
	Benchmarks      []*Benchmark
	Servers         []*Server
	Datasets        []*Dataset // how `export --compose` builds training sets
	Score           *Score     // never nil after a successful load (defaults when no block)
	Screening       *Screening // nil without a screening block

	// Sensitive lists the addresses (e.g. "teacher.gpt4o.model",
	// "var.api_key") whose value carried the sensitive mark, sorted.
	Sensitive []string

	files     map[string]*hcl.File
	ctx       *hcl.EvalContext
	values    map[string]cty.Value // address -> evaluated, marked value
	sensitive map[string]bool
}

// Variable is a `variable "name" {}` block and its resolved value.
type Variable struct {
	Name        string
	Type        cty.Type  // cty.DynamicPseudoType when no type was given
	Default     cty.Value // cty.NilVal when the variable is required
	Description string
	Sensitive   bool
	Value       cty.Value // final value; marked sensitive when Sensitive
	Source      string    // "default", "var" (LoadOptions.Vars) or "env" (POLYGLOT_VAR_<name>)
	DeclRange   hcl.Range
}

// Local is one attribute of a `locals {}` block.
type Local struct {
	Name      string
	Value     cty.Value // may carry the sensitive mark
	Expr      hcl.Expression
	DeclRange hcl.Range
}

// RequiredPlugin is one entry of `required_plugins {}`.
type RequiredPlugin struct {
	Name        string
	Source      string
	Version     string              // constraint as written, "" = any
	Constraints version.Constraints // nil when Version == ""
	// ReplacesBuiltin: the spec means an installed plugin to stand in for
	// the built-in of the same name (which is refused otherwise: it would
	// receive the config, API keys included, written for the built-in).
	ReplacesBuiltin bool
	DeclRange       hcl.Range
}

// SeedSet is a `seeds "name" {}` block. The data is not read at load time.
type SeedSet struct {
	Name      string
	Path      string   // as written (relative to the spec dir, may be a glob)
	Files     []string // absolute paths the pattern matched, sorted
	Format    string   // jsonl | csv | parquet
	Columns   SeedColumns
	Language  string // fixed language when the data has no language column; "" otherwise
	DeclRange hcl.Range
	Ranges    map[string]hcl.Range
}

// SeedColumns maps logical fields to column names in the seed file.
type SeedColumns struct {
	ID         string // default "id"
	Prompt     string // default "prompt"
	Response   string // default "response"
	Language   string // default "language"
	Strategies string // default "strategies"
	Tags       string // default "tags"
}

// Teacher is a `teacher "name" {}` block.
type Teacher struct {
	Name              string
	Plugin            string // plugin name (before the slash)
	Component         string // component after "NAME/", "" when absent
	Model             string
	Family            string
	Parameters        *float64
	BenchmarkStrength *float64
	Price             Price
	Sampling          Sampling
	Limits            Limits
	Batch             bool
	// BatchMaxRequests caps the calls of one provider batch: a larger unit
	// is sent as several batches (providers cap a batch's size).
	BatchMaxRequests int
	// Generate is false for teachers that only serve other blocks (a
	// judge, a translation model in a two-step strategy): they get no
	// cells of their own and are not ranked.
	Generate bool
	// ContextTokens is the model's context window; seed prompts that
	// cannot fit with the answer are skipped (docs/method.md §2). nil: no limit.
	ContextTokens *int
	Config        hcl.Body   // plugin-owned; never nil (an empty body at the block when absent)
	ConfigRange   *hcl.Range // nil when there is no config block
	DeclRange     hcl.Range
	Ranges        map[string]hcl.Range
}

// DefaultBatchMaxRequests is batch_max_requests when unset: well under
// every supported provider's cap (OpenAI 50,000, Anthropic 100,000), so
// that one chunk stays a modest upload and a failed chunk costs little.
const DefaultBatchMaxRequests = 10000

// Price is USD per million tokens.
type Price struct {
	InputPerMTok  float64
	OutputPerMTok float64
}

// Sampling parameters; nil means "use the plugin's or family's default".
type Sampling struct {
	Temperature *float64
	TopP        *float64
	TopK        *int
	MaxTokens   *int
	Seed        *int64
	Stop        []string
}

// Limits bound a teacher's traffic and spend.
type Limits struct {
	Concurrency       int           // default 4
	RequestsPerMinute int           // 0 = unlimited
	TokensPerMinute   int           // 0 = unlimited
	Timeout           time.Duration // default 120s
	MaxRetries        int           // default 5
	MaxRetryWait      time.Duration // longest wait a provider may ask for (Retry-After, reset headers); default 5m
	BudgetUSD         *float64      // nil: no per-teacher cap
	Reasks            int           // re-asks after an unparsable structured output; default 0
	Adaptive          bool          // adapt concurrency to rate-limit responses
}

// Control is a `control "name" {}` block: a negative-control teacher built
// from seed data by a known corruption.
type Control struct {
	Name      string
	Kind      string // repair_prompts | scramble_words | truncate | swap_language | near_copies
	Seeds     string // seeds block name
	CaughtBy  []string
	Fraction  float64 // default 1
	DeclRange hcl.Range
	Ranges    map[string]hcl.Range
}

// Strategy is a `strategy "name" {}` block.
type Strategy struct {
	Name      string
	Share     float64 // > 0; relative share of a cell's examples (default 1)
	Input     StrategyInput
	InContext int
	Steps     []*Step // at least one, in order
	Emit      Emit
	DeclRange hcl.Range
	Ranges    map[string]hcl.Range
}

// StrategyInput selects the seed rows a strategy consumes.
type StrategyInput struct {
	Seeds    string   // seeds block name; "" = every seeds block
	Language string   // "target" (default) or a BCP-47 tag
	Tags     []string // only rows with one of these tags; empty = all
	Ranges   map[string]hcl.Range
}

// Step is one `step "name" {}` of a strategy.
type Step struct {
	Name      string
	Teacher   string            // "self" or a teacher name
	System    string            // absolute template path, "" when none
	Template  string            // absolute template path
	Output    string            // text | json
	Schema    map[string]string // json field -> type (string|number|integer|bool|array|object)
	MaxTokens *int
	DeclRange hcl.Range
	Ranges    map[string]hcl.Range
}

// Emit names where the final (prompt, response) pair comes from, e.g.
// "seed.prompt" or "steps.answer.text" / "steps.gen.prompt".
type Emit struct {
	Prompt   string
	Response string
	Ranges   map[string]hcl.Range
}

// Metric is a `metric "name" {}` block.
type Metric struct {
	Name        string
	Plugin      string
	Component   string
	Direction   string // higher | lower | none; "" = plugin default
	InScore     bool   // default true
	Sample      int    // default: experiment metric_sample
	Config      hcl.Body
	ConfigRange *hcl.Range
	DeclRange   hcl.Range
	Ranges      map[string]hcl.Range
}

// Student is a `student "name" {}` block.
type Student struct {
	Name             string
	BaseModel        string
	Family           string
	Reference        string
	Trainer          string // plugin name
	TrainerComponent string
	Hyperparameters  map[string]cty.Value // unmarked
	Executor         Executor
	Config           hcl.Body
	ConfigRange      *hcl.Range
	DeclRange        hcl.Range
	Ranges           map[string]hcl.Range
}

// Executor says where training runs. Kind "local" (default) or "slurm".
type Executor struct {
	Kind      string
	Partition string
	Account   string
	QOS       string
	Time      string // slurm time limit as written, e.g. "04:00:00"
	GPUs      int
	CPUs      int               // server blocks only
	MemoryMB  int               // server blocks only (memory = "64G")
	Gres      string            // server blocks only, e.g. "gpu:a100:2"
	TimeLimit time.Duration     // Time parsed; server blocks only
	Extra     map[string]string // extra scheduler options
	DeclRange hcl.Range         // zero when defaulted
	Ranges    map[string]hcl.Range
}

// Benchmark is a `benchmark "name" {}` block.
type Benchmark struct {
	Name      string
	Task      string   // default: the block name
	Languages []string // default: the experiment's languages
	Shots     int
	Metric    string  // default "acc"
	Weight    float64 // default 1
	DeclRange hcl.Range
	Ranges    map[string]hcl.Range
}

// Score is the `score {}` block (docs/method.md section 5).
type Score struct {
	Alpha       float64   // default 0.5
	Metrics     []string  // default: every metric with in_score = true, in declaration order
	PGR         string    // ratio_then_mean (default) | mean_then_ratio
	Standardize string    // published (default) | restandardized
	Confidence  float64   // default 0.95
	Bootstrap   int       // default 1000
	Alphas      []float64 // default [0, .25, .5, .75, 1]
	PCA         string    // scored (default) | study: the PCA's features
	Components  int       // components the regressions use; 0 = the fewest explaining ≥ 90 %
	// A cell with fewer generated examples than MinExamples (or all it asked for, if
	// fewer) or than MinExampleShare of what it asked for is not ranked.
	MinExamples     int       // default 5
	MinExampleShare float64   // default 0.5
	DeclRange       hcl.Range // zero when there is no score block
	Ranges          map[string]hcl.Range
}

// Server is a `server "name" {}` block: a model server polyglot starts,
// watches and stops around the units whose configs refer to it
// (server.NAME.url).
type Server struct {
	Name     string
	Engine   string   // vllm | sglang | llama.cpp | ollama | command
	Model    string   // what the engine loads and clients ask for
	Command  []string // argv prefix replacing the engine's executable; the whole argv for engine "command"
	Args     []string // extra engine arguments, appended
	Env      map[string]string
	Port     int // 0: a free port chosen at start
	Restarts int // restarts after the server dies before its units fail (default 2)
	// HoldEstimate is the user's estimate of how long the server is held,
	// shown by plan; 0 = unknown.
	HoldEstimate time.Duration
	Ready        ServerReady
	Executor     Executor // Kind "local" (default) or "slurm"
	DeclRange    hcl.Range
	Ranges       map[string]hcl.Range
}

// ServerReady is how polyglot decides that a server is up.
type ServerReady struct {
	Path     string        // GET route that answers 200 when ready; default per engine (DefaultReadyPath)
	Timeout  time.Duration // start-up timeout, default 10m
	Interval time.Duration // poll interval, default 1s
	Ranges   map[string]hcl.Range
}
