// Package perplexity is the "perplexity" metric: per example, the perplexity
// of the response given the prompt (prompt tokens are context only and do not
// count), and as the cell value the mean over examples (docs/method.md §3; lower is
// better, the score applies −log(1 + PPL) itself).
//
// Two back ends, chosen by config backend:
//
//   - "offline" (default): an interpolated Kneser-Ney character model (package
//     plugins/internal/kn) trained on a per-language reference corpus, config
//     reference = "data/reference/{lang}.txt" (one document per line; the
//     lines are learnt as a stream separated by "\n", see trainModel, so that
//     the default separator "\n" is a known character). The value of an
//     example is kn.Perplexity(prompt + separator, response), a
//     per-character perplexity. Trained models are cached in memory per
//     (absolute path, order, SHA-256 of the file) and, with cache_dir, on disk
//     by (SHA-256, order), so a corpus is trained once per process and once
//     per machine. Scoring runs on all cores, each worker with a memo of
//     n-gram log-probabilities (memo.go) that kn itself does not keep.
//   - "endpoint": an OpenAI-compatible /completions endpoint that echoes the
//     prompt's log-probabilities (vLLM; llama-cpp-python's server). The
//     request sends prompt + separator + response as the prompt with echo and
//     logprobs, and, unless prompt_logprobs = false, vLLM's prompt_logprobs.
//     Both answer shapes are read: the OpenAI legacy
//     choices[i].logprobs{tokens, token_logprobs, text_offset} and vLLM's
//     choices[i].prompt_logprobs (a list of {token_id: {logprob, rank,
//     decoded_token}}, the first entry null). A token counts as a response
//     token when it contains at least one character of the response; its
//     position comes from text_offset, or, for prompt_logprobs, from the
//     decoded tokens' lengths counted back from the end of the text (the
//     first token has no decoded text). Offsets are in Unicode code points,
//     as vLLM computes them. One text goes as a string, several as a list
//     (servers that take only a string answer a list with HTTP 400). Whether
//     the server can return prompt log-probabilities at all is asked once,
//     with one short text, when the metric opens (and at validation for a
//     fixed URL that answers): llama.cpp's llama-server rejects echo and
//     Ollama returns log-probabilities of generated tokens only, and both are
//     refused then, with the engines that can named, before any example is
//     sent.
//
// The per-example values are "perplexity" and "tokens" (characters offline,
// model tokens with an endpoint). An example with an empty response has no
// perplexity; it gets a note and is counted in the aggregate's "skipped".
package perplexity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zclconf/go-cty/cty"
	"gonum.org/v1/gonum/floats"

	"github.com/polyglot-teachers/polyglot/plugins/internal/kn"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// Backend names.
const (
	Offline  = "offline"
	Endpoint = "endpoint"
)

// Defaults of the config attributes.
const (
	DefaultReference   = "data/reference/{lang}.txt"
	DefaultSeparator   = "\n"
	DefaultBatch       = 8
	DefaultTimeout     = "120s"
	DefaultMaxRetries  = 5
	DefaultConcurrency = 2
)

// Metric is the perplexity metric component.
type Metric struct{}

var (
	_ sdk.Metric    = Metric{}
	_ sdk.Validator = Metric{}
)

// New returns the perplexity metric component.
func New() sdk.Metric { return Metric{} }

// Describe implements sdk.Metric.
func (Metric) Describe() sdk.Description {
	return sdk.Description{
		Name:        "perplexity",
		Description: "perplexity of each response given its prompt under a reference language model; cell value = mean (lower is better)",
		Schema: sdk.Schema(
			sdk.Doc("Settings of the perplexity metric."),
			sdk.Attr("backend", cty.String).Doc(`"offline" (built-in Kneser-Ney character model) or "endpoint" (an OpenAI-compatible completions server returning prompt log-probabilities)`).Default(cty.StringVal(Offline)),
			sdk.Attr("separator", cty.String).Doc("text placed between prompt and response; it is context, never scored").Default(cty.StringVal(DefaultSeparator)),
			sdk.Attr("reference", cty.String).Doc(`offline: reference corpus, one document per line; "{lang}" is replaced by the cell language`).Default(cty.StringVal(DefaultReference)),
			sdk.Attr("order", cty.Number).Doc("offline: n-gram order of the character model (1 to 8)").Default(cty.NumberIntVal(kn.DefaultOrder)),
			sdk.Attr("cache_dir", cty.String).Doc("offline: directory where trained reference models are kept between runs"),
			sdk.Attr("base_url", cty.String).Doc("endpoint: API root including the version, e.g. http://127.0.0.1:8000/v1"),
			sdk.Attr("model", cty.String).Doc("endpoint: model name sent with each request"),
			sdk.Attr("api_key", cty.String).Doc("endpoint: bearer token, if the server wants one").Sensitive(),
			sdk.Attr("batch", cty.Number).Doc("endpoint: prompts per request").Default(cty.NumberIntVal(DefaultBatch)),
			sdk.Attr("concurrency", cty.Number).Doc("endpoint: requests in flight at once").Default(cty.NumberIntVal(DefaultConcurrency)),
			sdk.Attr("timeout", cty.String).Doc("endpoint: time limit of one request, a Go duration such as 90s").Default(cty.StringVal(DefaultTimeout)),
			sdk.Attr("max_retries", cty.Number).Doc("endpoint: retries of a request after 429, 5xx or a transport error (Retry-After is honoured)").Default(cty.NumberIntVal(DefaultMaxRetries)),
			sdk.Attr("prompt_logprobs", cty.Bool).Doc("endpoint: also send vLLM's prompt_logprobs parameter; set false for servers that reject unknown parameters").Default(cty.True),
		),
		Metric: &sdk.MetricInfo{Direction: "lower", Values: []string{"perplexity", "tokens"}},
	}
}

// settings is the decoded config. Zero values mean "absent": the host fills
// schema defaults, but a Config built by hand may lack them.
type settings struct {
	backend   string
	separator string

	reference string
	order     int
	cacheDir  string

	baseURL        string
	model          string
	apiKey         string
	batch          int
	concurrency    int
	timeout        time.Duration
	maxRetries     int
	promptLogprobs bool
}

func parseSettings(cfg sdk.Config) (settings, sdk.Diagnostics) {
	var ds sdk.Diagnostics
	s := settings{
		backend:        cfg.String("backend"),
		separator:      DefaultSeparator,
		reference:      cfg.String("reference"),
		order:          kn.DefaultOrder,
		cacheDir:       cfg.String("cache_dir"),
		baseURL:        strings.TrimRight(cfg.String("base_url"), "/"),
		model:          cfg.String("model"),
		apiKey:         cfg.String("api_key"),
		batch:          DefaultBatch,
		concurrency:    DefaultConcurrency,
		maxRetries:     DefaultMaxRetries,
		promptLogprobs: !cfg.Has("prompt_logprobs") || cfg.Bool("prompt_logprobs"),
	}
	if s.backend == "" {
		s.backend = Offline
	}
	if cfg.Has("separator") {
		s.separator = cfg.String("separator")
	}
	if s.reference == "" {
		s.reference = DefaultReference
	}
	if cfg.Has("order") {
		s.order = cfg.Int("order")
		if f := cfg.Float("order"); s.order < 1 || s.order > kn.MaxOrder || f != math.Trunc(f) {
			ds = append(ds, sdk.AttrError("order", "order out of range", "order is %g; use a whole number from 1 to %d (%d is the default)", f, kn.MaxOrder, kn.DefaultOrder))
		}
	}
	ints := []struct {
		name string
		dst  *int
		min  int
	}{{"batch", &s.batch, 1}, {"concurrency", &s.concurrency, 1}, {"max_retries", &s.maxRetries, 0}}
	for _, it := range ints {
		if !cfg.Has(it.name) {
			continue
		}
		*it.dst = cfg.Int(it.name)
		if *it.dst < it.min {
			ds = append(ds, sdk.AttrError(it.name, it.name+" out of range", "%s is %d; use %d or more", it.name, *it.dst, it.min))
		}
	}
	timeout := DefaultTimeout
	if cfg.Has("timeout") {
		timeout = cfg.String("timeout")
	}
	d, err := time.ParseDuration(timeout)
	switch {
	case err != nil:
		ds = append(ds, sdk.AttrError("timeout", "timeout is not a duration", "%q: write a Go duration such as \"90s\" or \"2m\"", timeout))
	case d <= 0:
		ds = append(ds, sdk.AttrError("timeout", "timeout must be positive", "%q: write a duration such as \"90s\"", timeout))
	}
	s.timeout = d

	switch s.backend {
	case Offline:
		if s.baseURL != "" {
			ds = append(ds, sdk.Diagnostic{Severity: sdk.Warning, Summary: "base_url is ignored", Detail: `the backend is "offline"; set backend = "endpoint" to use the server`, Path: cty.GetAttrPath("base_url")})
		}
	case Endpoint:
		switch {
		case s.baseURL == "":
			ds = append(ds, sdk.AttrError("base_url", "base_url is missing", `the endpoint backend needs the server's API root, e.g. base_url = "http://127.0.0.1:8000/v1"`))
		case !strings.HasPrefix(s.baseURL, "http://") && !strings.HasPrefix(s.baseURL, "https://"):
			ds = append(ds, sdk.AttrError("base_url", "base_url is not an http(s) URL", "%q must start with http:// or https://", s.baseURL))
		}
		if s.model == "" {
			ds = append(ds, sdk.AttrError("model", "model is missing", "the endpoint backend needs the model name the server serves (vLLM: the --served-model-name or the model path)"))
		}
	default:
		ds = append(ds, sdk.AttrError("backend", "unknown backend", "%q: use \"offline\" or \"endpoint\"", s.backend))
	}
	return s, ds
}

// ValidateConfig implements sdk.Validator. It reads no files: the reference
// path depends on the cell's language, which validation does not know.
//
// A fixed endpoint that answers is asked once whether it returns prompt
// log-probabilities, so that a server that cannot (Ollama, llama-server)
// is refused now and not after generation. A server polyglot starts itself
// (its URL a placeholder until then) is asked when the metric opens, once
// it runs; an endpoint that does not answer yet is not an error here.
func (Metric) ValidateConfig(ctx context.Context, cfg sdk.Config) sdk.Diagnostics {
	s, ds := parseSettings(cfg)
	if ds.HasErrors() || s.backend != Endpoint || managedURL(s.baseURL) {
		return ds
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var inc *incapable
	if err := probeOnce(pctx, s); errors.As(err, &inc) {
		ds = append(ds, sdk.AttrError("base_url", "endpoint cannot score prompts", "%v", inc))
	}
	return ds
}

// managedURL reports whether u is the placeholder of a server block
// (server.NAME.url), which the host replaces once the server runs; see
// core/spec.ServerHostSuffix.
func managedURL(u string) bool {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return false
	}
	host, _, _ := strings.Cut(rest, "/")
	return strings.HasSuffix(host, ".server.polyglot.invalid")
}

// probed remembers the probe's outcome per endpoint and model: every cell
// opens the metric, and one answer is enough.
var probed sync.Map // "url\x00model" -> error (nil when capable)

func probeOnce(ctx context.Context, s settings) error {
	key := s.baseURL + "\x00" + s.model
	if v, ok := probed.Load(key); ok {
		err, _ := v.(error)
		return err
	}
	err := newClient(s).probe(ctx)
	var inc *incapable
	if err == nil || errors.As(err, &inc) {
		probed.Store(key, err)
	}
	return err
}

// scoreFunc returns the negative log-likelihood and the number of scored
// units of each example's response, in batch order.
type scoreFunc func(ctx context.Context, batch []sdk.Example) ([]score, error)

type score struct {
	nll float64
	n   int
}

// Open implements sdk.Metric. With the offline backend it trains (or fetches
// from a cache) the reference model of the cell's language.
func (Metric) Open(ctx context.Context, req sdk.MetricRequest) (sdk.Accumulator, sdk.Diagnostics) {
	s, ds := parseSettings(req.Config)
	if ds.HasErrors() {
		return nil, ds
	}
	acc := &accumulator{details: map[string]any{"backend": s.backend}}
	switch s.backend {
	case Offline:
		path := strings.ReplaceAll(s.reference, "{lang}", req.Language)
		m, info, diag := referenceModel(ctx, path, s.order, s.cacheDir)
		if diag != nil {
			return nil, append(ds, *diag)
		}
		acc.details["reference"] = path
		acc.details["reference_sha256"] = info.sum
		acc.details["order"] = s.order
		acc.details["reference_chars"] = m.Chars()
		acc.details["model_source"] = info.source
		acc.offline = newOfflineScorer(m, s.separator)
		acc.score = acc.offline.score
	case Endpoint:
		// Refuse at once a server that cannot return prompt
		// log-probabilities, before any example is sent.
		var inc *incapable
		if err := probeOnce(ctx, s); errors.As(err, &inc) {
			return nil, append(ds, sdk.AttrError("base_url", "endpoint cannot score prompts", "%v", inc))
		}
		c := newClient(s)
		acc.details["base_url"] = s.baseURL
		acc.details["model"] = s.model
		sep := s.separator
		acc.score = func(ctx context.Context, batch []sdk.Example) ([]score, error) {
			return c.scoreBatch(ctx, batch, sep)
		}
	}
	return acc, ds
}

// offlineScorer scores batches on all cores: a trained kn.Model is safe for
// concurrent scoring, and scoring is the metric's whole cost. Each worker
// keeps its memo (see memoScorer) across batches.
type offlineScorer struct {
	sep     string
	workers []*memoScorer
}

func newOfflineScorer(m *kn.Model, sep string) *offlineScorer {
	o := &offlineScorer{sep: sep}
	for range runtime.GOMAXPROCS(0) {
		o.workers = append(o.workers, newMemoScorer(m))
	}
	return o
}

func (o *offlineScorer) score(ctx context.Context, batch []sdk.Example) ([]score, error) {
	out := make([]score, len(batch))
	var wg sync.WaitGroup
	var next atomic.Int64
	const chunk = 64
	for _, w := range o.workers[:min(len(o.workers), (len(batch)+chunk-1)/chunk)] {
		wg.Go(func() {
			for ctx.Err() == nil {
				lo := int(next.Add(chunk)) - chunk
				if lo >= len(batch) {
					return
				}
				for i := lo; i < min(lo+chunk, len(batch)); i++ {
					ex := &batch[i]
					out[i].nll, out[i].n = w.score(ex.Prompt+o.sep, ex.Response)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// hitRate is the share of characters answered from the memos.
func (o *offlineScorer) hitRate() float64 {
	var h, m uint64
	for _, w := range o.workers {
		h += w.hits
		m += w.misses
	}
	if h+m == 0 {
		return 0
	}
	return float64(h) / float64(h+m)
}

// bypassed counts the workers that gave up their memo.
func (o *offlineScorer) bypassed() int {
	n := 0
	for _, w := range o.workers {
		if w.bypass {
			n++
		}
	}
	return n
}

// accumulator keeps one float per scored example: O(n) memory, a few bytes
// per example.
type accumulator struct {
	score   scoreFunc
	offline *offlineScorer // nil with an endpoint
	ppl     []float64
	skipped int
	details map[string]any
}

// Add implements sdk.Accumulator; every example's value is returned at once.
func (a *accumulator) Add(ctx context.Context, batch []sdk.Example) ([]sdk.ExampleValue, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	scores, err := a.score(ctx, batch)
	if err != nil {
		return nil, fmt.Errorf("perplexity: %w", err)
	}
	out := make([]sdk.ExampleValue, len(batch))
	for i, sc := range scores {
		out[i].ID = batch[i].ID
		if sc.n == 0 {
			out[i].Note = "no response tokens to score (empty response): no perplexity"
			a.skipped++
			continue
		}
		p := math.Exp(sc.nll / float64(sc.n))
		out[i].Values = map[string]float64{"perplexity": p, "tokens": float64(sc.n)}
		a.ppl = append(a.ppl, p)
	}
	return out, nil
}

// Finish implements sdk.Accumulator.
func (a *accumulator) Finish(context.Context) ([]sdk.ExampleValue, *sdk.Aggregate, error) {
	if len(a.ppl) == 0 {
		return nil, nil, fmt.Errorf("perplexity: no example could be scored (%d examples had empty responses); the cell needs responses", a.skipped)
	}
	if a.offline != nil {
		a.details["memo_hit_rate"] = a.offline.hitRate()
		a.details["memo_bypassed_workers"] = a.offline.bypassed()
	}
	sorted := slices.Clone(a.ppl)
	slices.Sort(sorted)
	mean := floats.Sum(a.ppl) / float64(len(a.ppl))
	var logSum float64
	for _, p := range a.ppl {
		logSum += math.Log(p)
	}
	return nil, &sdk.Aggregate{
		Values: map[string]float64{
			"value":    mean,
			"mean":     mean,
			"median":   quantile(sorted, 0.5),
			"p90":      quantile(sorted, 0.9),
			"geo_mean": math.Exp(logSum / float64(len(a.ppl))),
			"n":        float64(len(a.ppl)),
			"skipped":  float64(a.skipped),
		},
		Details: a.details,
	}, nil
}

// quantile interpolates linearly between order statistics at (n−1)·q, the
// common definition (R type 7, NumPy's default); gonum's LinInterp is R type
// 4, which puts the median of three values between two of them.
func quantile(sorted []float64, q float64) float64 {
	h := float64(len(sorted)-1) * q
	lo := int(math.Floor(h))
	if lo+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}
