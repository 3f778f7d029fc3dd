package langid

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// Metric is the `langid` metric component: language fidelity of a cell.
// An example is on target when both its prompt and its response are
// identified as the cell's language (MetricRequest.Language); "value" is the
// share of such examples. Reported: "prompt_rate" and "response_rate" (share
// of examples with that text on target), "und_rate" (share of all texts,
// prompts and responses, left undetermined), "script_mismatch_rate" (share of
// examples with a script mismatch in either text, the mean of the
// per-example "script_mismatch") and "n"; Details counts the texts
// identified as another language, by language.
type Metric struct{}

// New returns the component; the host serves it as the built-in plugin
// "langid".
func New() sdk.Metric { return Metric{} }

func (Metric) Describe() sdk.Description {
	return sdk.Description{
		Name:        "langid",
		Description: "Language fidelity: share of examples whose prompt and response are identified (fastText lid.176) as the cell's language; script mismatch and drift languages reported.",
		Schema: sdk.Schema(
			sdk.Attr("model", cty.String).Doc("language-identification model: a local fastText .ftz/.bin file or npm tarball, or an http(s) URL; default: the built-in lid.176.ftz (fastText, CC BY-SA 3.0)"),
			sdk.Attr("cache_dir", cty.String).Doc("where a fetched model is kept (default: the user cache directory, polyglot/langid)"),
		),
		Metric: &sdk.MetricInfo{Direction: "higher", Values: []string{"value"}},
	}
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

// ValidateConfig checks only what needs no network: a local model file
// must exist. Fetching is left to Open, because `polyglot validate` must
// have no side effects.
func (Metric) ValidateConfig(_ context.Context, cfg sdk.Config) sdk.Diagnostics {
	src := cfg.String("model")
	if src == "" || isURL(src) {
		return nil
	}
	st, err := os.Stat(src)
	switch {
	case err != nil:
		return sdk.Diagnostics{sdk.AttrError("model", "model file not found", "%v; give the path of a fastText model (such as lid.176.ftz), an http(s) URL, or leave model unset for the default", err)}
	case st.IsDir():
		return sdk.Diagnostics{sdk.AttrError("model", "model is a directory", "%q: give the model file itself, e.g. %s", src, src+string(os.PathSeparator)+ModelFileName)}
	}
	return nil
}

// loadedModel is one model loaded in this plugin process.
type loadedModel struct {
	once  sync.Once
	det   *Detector
	langs map[string]bool // base languages the model can name
	err   error
}

var (
	modelsMu sync.Mutex
	// models holds a detector per (cache_dir, model) so that every cell of
	// a run shares one loaded model: loading and checksumming cost far more
	// than measuring a cell, and the host opens the metric once per cell.
	models = map[[2]string]*loadedModel{}
	// modelLoads counts loads, for tests.
	modelLoads atomic.Int64
)

// detectorFor returns the shared detector for a model source. A failure is
// kept for the life of the plugin process (one run), so a model that cannot
// be had is fetched once and every cell reports that one error, instead of
// each cell waiting on the same download; the next run tries again.
func detectorFor(ctx context.Context, cacheDir, src string) (*loadedModel, error) {
	key := [2]string{cacheDir, src}
	modelsMu.Lock()
	lm := models[key]
	if lm == nil {
		lm = &loadedModel{}
		models[key] = lm
	}
	modelsMu.Unlock()
	lm.once.Do(func() {
		modelLoads.Add(1)
		m, err := LoadModel(ctx, cacheDir, src)
		if err != nil {
			lm.err = err
			return
		}
		p, err := DefaultProfile()
		if err != nil {
			lm.err = err
			return
		}
		lm.det = NewDetector(m, DefaultCalibration).WithProfile(p)
		lm.langs = map[string]bool{}
		for _, l := range m.Labels() {
			lm.langs[BaseLang(LabelLang(l))] = true
		}
	})
	if lm.err != nil {
		if ctx.Err() != nil { // cancelled, not unavailable: let a later open try again
			modelsMu.Lock()
			if models[key] == lm {
				delete(models, key)
			}
			modelsMu.Unlock()
		}
		return nil, lm.err
	}
	return lm, nil
}

func (m Metric) Open(ctx context.Context, req sdk.MetricRequest) (sdk.Accumulator, sdk.Diagnostics) {
	if d := m.ValidateConfig(ctx, req.Config); d.HasErrors() {
		return nil, d
	}
	if req.Language == "" {
		return nil, sdk.Diagnostics{sdk.Errorf(nil, "No target language", "the langid metric compares texts with the cell's language, and the cell has none")}
	}
	lm, err := detectorFor(ctx, req.Config.String("cache_dir"), req.Config.String("model"))
	if err != nil {
		return nil, sdk.Diagnostics{sdk.AttrError("model", "Cannot get the language-identification model", "%v", err)}
	}
	target := BaseLang(req.Language)
	if !lm.langs[target] {
		return nil, sdk.Diagnostics{sdk.AttrError("model", "The model does not know the cell's language",
			"%q is not among the languages the model identifies, so every text would count as off target; give a model that covers it, or leave langid out for this language", req.Language)}
	}
	return &component{det: lm.det, target: req.Language, expected: ExpectedScript(req.Language), wrong: map[string]int{}}, nil
}

// component counts verdicts as examples stream by (O(1) memory, unlike
// Aggregator, which keeps every verdict); per-example values go back from Add.
type component struct {
	det              *Detector
	target, expected string

	n, both, promptOn, responseOn, promptUnd, responseUnd, mismatch int
	wrong                                                           map[string]int
}

func (c *component) Add(ctx context.Context, batch []sdk.Example) ([]sdk.ExampleValue, error) {
	texts := make([]string, 0, 2*len(batch))
	for _, e := range batch {
		texts = append(texts, e.Prompt, e.Response)
	}
	rs := c.det.DetectBatch(texts, 0)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]sdk.ExampleValue, len(batch))
	for i, e := range batch {
		p := judgeSide(rs[2*i], c.target, c.expected)
		r := judgeSide(rs[2*i+1], c.target, c.expected)
		c.n++
		v := map[string]float64{"value": 0, "prompt_on_target": b2f(p.OnTarget), "response_on_target": b2f(r.OnTarget),
			"script_mismatch": b2f(p.ScriptMismatch || r.ScriptMismatch)}
		if p.OnTarget && r.OnTarget {
			v["value"] = 1
			c.both++
		}
		for _, s := range []struct {
			side    Side
			on, und *int
		}{{p, &c.promptOn, &c.promptUnd}, {r, &c.responseOn, &c.responseUnd}} {
			switch {
			case s.side.OnTarget:
				*s.on++
			case s.side.Undetermined:
				*s.und++
			default:
				c.wrong[s.side.Lang]++
			}
		}
		if p.ScriptMismatch || r.ScriptMismatch {
			c.mismatch++
		}
		out[i] = sdk.ExampleValue{ID: e.ID, Values: v, Note: "prompt " + describe(p, c.expected) + "; response " + describe(r, c.expected)}
	}
	return out, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// describe says what was detected in one text: "de (0.98)",
// "und (short; guess de 0.41)", "en (0.95), script Latn, expected Cyrl".
func describe(s Side, expected string) string {
	var b strings.Builder
	if s.Undetermined {
		fmt.Fprintf(&b, "und (%s", s.Reason)
		if s.Guess != "" {
			fmt.Fprintf(&b, "; guess %s %.2f", s.Guess, s.Prob)
		}
		b.WriteString(")")
	} else {
		fmt.Fprintf(&b, "%s (%.2f)", s.Lang, s.Prob)
	}
	if s.ScriptMismatch {
		fmt.Fprintf(&b, ", script %s, expected %s", s.Script, expected)
	}
	return b.String()
}

func (c *component) Finish(context.Context) ([]sdk.ExampleValue, *sdk.Aggregate, error) {
	agg := &sdk.Aggregate{Values: map[string]float64{"n": float64(c.n)}, Details: c.wrong}
	if c.n == 0 {
		// Shares of nothing are undefined, and the store cannot hold NaN.
		return nil, agg, nil
	}
	n := float64(c.n)
	agg.Values["value"] = float64(c.both) / n
	agg.Values["prompt_rate"] = float64(c.promptOn) / n
	agg.Values["response_rate"] = float64(c.responseOn) / n
	agg.Values["und_rate"] = float64(c.promptUnd+c.responseUnd) / (2 * n)
	agg.Values["script_mismatch_rate"] = float64(c.mismatch) / n
	return nil, agg, nil
}
