package sdk

import "context"

// Description tells the host what a component is and which config it takes.
type Description struct {
	Name        string
	Description string
	Schema      *Block
	// Metric is set by metrics only.
	Metric *MetricInfo
	// Teacher is set by teachers that need to say more about themselves.
	Teacher *TeacherInfo
}

// TeacherInfo describes what a teacher can answer.
type TeacherInfo struct {
	// Replay: the teacher replays stored answers found by the calls'
	// metadata (seed prompt, language), so it answers the experiment's own
	// generation calls and nothing else: a judge may not name it.
	Replay bool `json:"replay,omitempty"`
}

// MetricInfo describes what a metric returns.
type MetricInfo struct {
	// Direction is "higher", "lower" or "none" for the aggregate "value".
	Direction string
	// Values names the per-example values the metric emits.
	Values []string
	// WantsReference asks the host to send the experiment's seed rows
	// before the cell (for metrics that compare against them).
	WantsReference bool
	// CallsPerExample is at most how many calls the metric sends per
	// example it scores to the teacher its config names (an attribute
	// marked TeacherRef); 0: none. The plan counts them.
	CallsPerExample int
}

// Validator is implemented by components that check their config beyond
// the schema (a URL that must parse, two attributes that exclude each
// other). It must have no side effects: `polyglot validate` calls it.
type Validator interface {
	ValidateConfig(ctx context.Context, cfg Config) Diagnostics
}

// ---------------------------------------------------------------- teacher

// Teacher is a component that answers calls: a vendor API, a local server,
// a dataset replay.
type Teacher interface {
	Describe() Description
	// Open prepares a generator for one teacher block of the experiment.
	Open(ctx context.Context, req OpenRequest) (Generator, Diagnostics)
}

// OpenRequest carries one teacher block's settings.
type OpenRequest struct {
	Model  string
	Config Config
}

// Generator answers calls. The SDK calls Generate concurrently (up to the
// concurrency the host asks for), so implementations must be safe for
// concurrent use. A failed call returns a *CallError that classifies it;
// the host owns retries, rate limits and budgets, so Generate makes one
// attempt.
type Generator interface {
	Generate(ctx context.Context, call *Call) (*Result, error)
}

// MetadataIgnorer is implemented by generators that never read
// Call.Metadata, such as API teachers, which send the provider only the
// messages. When IgnoresMetadata returns true the host leaves metadata out
// of the calls it streams: encoding a map per call on both sides of the
// stream was a measurable share of a call's CPU at high request rates.
// Replay teachers, which look calls up by their metadata, must not opt out.
type MetadataIgnorer interface {
	IgnoresMetadata() bool
}

// GeneratorFunc adapts a function to Generator.
type GeneratorFunc func(ctx context.Context, call *Call) (*Result, error)

func (f GeneratorFunc) Generate(ctx context.Context, call *Call) (*Result, error) {
	return f(ctx, call)
}

// BatchGenerator is implemented by generators whose provider has a batch
// API (cheaper, slower). The host persists the batch id so that polling
// survives a restart.
type BatchGenerator interface {
	SubmitBatch(ctx context.Context, calls []*Call) (batchID string, err error)
	// PollBatch returns status "running", "done", "failed" or "expired",
	// and the results once done.
	PollBatch(ctx context.Context, batchID string) (status string, results []*Result, err error)
}

// ---------------------------------------------------------------- metric

// Metric is a component that measures the examples of one cell.
type Metric interface {
	Describe() Description
	Open(ctx context.Context, req MetricRequest) (Accumulator, Diagnostics)
}

// MetricRequest describes the cell a metric is about to measure.
type MetricRequest struct {
	Config   Config
	Language string
	Cell     string
	// Host lets the metric call back into the host (a judge asks a teacher).
	// It is nil in contexts without a host, such as validation.
	Host Host
}

// Accumulator receives a cell's examples in batches. Add may return values
// for the batch's examples right away or nil, and Finish returns the
// remaining per-example values and the aggregate.
type Accumulator interface {
	Add(ctx context.Context, batch []Example) ([]ExampleValue, error)
	Finish(ctx context.Context) ([]ExampleValue, *Aggregate, error)
}

// ReferenceAccepter is implemented by accumulators that compare a cell
// against the seed data (MetricInfo.WantsReference); Reference is called
// before the first Add.
type ReferenceAccepter interface {
	Reference(ctx context.Context, batch []Example) error
}

// ---------------------------------------------------------------- trainer

// Trainer trains students and evaluates them; one component does both
// because both need the same environment.
type Trainer interface {
	Describe() Description
	Train(ctx context.Context, req *TrainRequest, r Reporter) (*TrainResult, error)
	Evaluate(ctx context.Context, req *EvalRequest, r Reporter) (*EvalResult, error)
}

// TrainRequest asks for one model to be trained.
type TrainRequest struct {
	Config Config
	// DatasetPath is a chat-format JSONL file; empty for Role "base".
	DatasetPath     string
	BaseModel       string
	Hyperparameters map[string]any
	WorkDir         string
	Language        string
	Role            string // "student", "reference" or "base"
	Key             string
	Host            Host
}

// TrainResult points at the trained model.
type TrainResult struct {
	Artifact string
	Metrics  map[string]float64
}

// Benchmark names an evaluation task.
type Benchmark struct {
	Name   string
	Task   string
	Shots  int
	Metric string
}

// EvalRequest asks for a model to be evaluated in one language.
type EvalRequest struct {
	Config     Config
	Model      string
	Benchmarks []Benchmark
	Language   string
	WorkDir    string
	Key        string
	Host       Host
}

// BenchmarkScore is one benchmark's result with its standard error.
type BenchmarkScore struct {
	Benchmark string
	Score     float64
	StdErr    float64
	N         int64
}

// EvalResult is the outcome of Evaluate.
type EvalResult struct {
	Scores []BenchmarkScore
}

// Reporter streams progress and log lines of a long call to the host.
type Reporter interface {
	Progress(p Progress)
	Log(level, msg string)
}

// ---------------------------------------------------------------- host

// Host is what the host offers plugins during a call.
type Host interface {
	// Generate sends calls to a teacher block of the experiment, through the
	// host's rate limits, retries, cache and budget.
	Generate(ctx context.Context, teacher string, calls []*Call) ([]*Result, error)
	// RunJob runs a job on the executor the experiment declares for this
	// student, streaming log lines to onLog.
	RunJob(ctx context.Context, job *Job, onLog func(string)) (*JobResult, error)
}

// Job is a command a trainer wants run by the host's executor.
type Job struct {
	Key       string
	Name      string
	Argv      []string
	Env       map[string]string
	Files     map[string][]byte
	WorkDir   string
	GPUs      int
	CPUs      int
	MemoryMB  int64
	TimeLimit string
	Array     int
}

// JobResult is how a job ended.
type JobResult struct {
	ExitCode  int
	State     string
	Error     string
	Retryable bool
	WorkDir   string
}
