// Package dataset is the offline teacher that replays an existing dataset:
// the "public human data" baseline of the study, a way to score data that
// was generated elsewhere, and, with a corruption, the negative controls.
//
// It answers from the rows of JSONL files ({id, language, prompt, response}):
// a text call returns the response whose prompt is the call's seed prompt
// (metadata "seed_prompt") or, failing that, a row of the call's language
// picked by hashing the call id; a JSON call returns a whole row as
// {"prompt", "response"}. Every answer is deterministic, so re-runs and
// resumes give identical data.
package dataset

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// Corruptions are the known failures negative controls inject.
var Corruptions = []string{"none", "repair_prompts", "scramble_words", "truncate", "swap_language", "near_copies"}

type row struct {
	ID, Language, Prompt, Response string
}

type data struct {
	rows     []row
	byLang   map[string][]int
	byPrompt map[string]int
}

// Teacher is the dataset teacher component.
type Teacher struct {
	mu    sync.Mutex
	cache map[string]*data
}

// New returns the component.
func New() *Teacher { return &Teacher{cache: map[string]*data{}} }

func (t *Teacher) Describe() sdk.Description {
	return sdk.Description{
		Name:        "dataset",
		Description: "Replays prompt/response pairs from JSONL files, optionally corrupted (negative controls).",
		Schema: sdk.Schema(
			sdk.Attr("path", cty.String).Required().Doc("JSONL file or glob with id, language, prompt, response fields"),
			sdk.Attr("corruption", cty.String).Default(cty.StringVal("none")).Doc("one of: "+strings.Join(Corruptions, ", ")),
			sdk.Attr("fraction", cty.Number).Default(cty.NumberFloatVal(1)).Doc("share of answers that are corrupted (0-1)"),
			sdk.Attr("seed", cty.Number).Default(cty.NumberIntVal(1)).Doc("seed of the corruption's randomness"),
			sdk.Attr("min_changed", cty.Number).Default(cty.NumberFloatVal(DefaultMinChanged)).Doc("share of each language's rows the corruption must change (0-1); below it the control is an error, not a silent pass"),
		),
		// Calls are answered from the rows by their seed prompt and
		// language: a judge's calls would get a replayed row.
		Teacher: &sdk.TeacherInfo{Replay: true},
	}
}

func (t *Teacher) ValidateConfig(ctx context.Context, cfg sdk.Config) sdk.Diagnostics {
	var diags sdk.Diagnostics
	c := cfg.String("corruption")
	ok := false
	for _, k := range Corruptions {
		ok = ok || k == c
	}
	if !ok {
		diags = append(diags, sdk.AttrError("corruption", "Unknown corruption", "%q is not a corruption; use one of %s.", c, strings.Join(Corruptions, ", ")))
	}
	if f := cfg.Float("fraction"); f < 0 || f > 1 {
		diags = append(diags, sdk.AttrError("fraction", "fraction out of range", "fraction is %g; it must be between 0 and 1.", f))
	}
	if f := cfg.Float("min_changed"); f < 0 || f > 1 {
		diags = append(diags, sdk.AttrError("min_changed", "min_changed out of range", "min_changed is %g; it must be between 0 and 1.", f))
	}
	if m, _ := filepath.Glob(cfg.String("path")); len(m) == 0 {
		diags = append(diags, sdk.AttrError("path", "No dataset file", "No file matches %q (relative paths are relative to the experiment folder).", cfg.String("path")))
	}
	return diags
}

func (t *Teacher) load(pattern string) (*data, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d, ok := t.cache[pattern]; ok {
		return d, nil
	}
	files, _ := filepath.Glob(pattern)
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no file matches %q", pattern)
	}
	d := &data{byLang: map[string][]int{}, byPrompt: map[string]int{}}
	for _, f := range files {
		if err := readJSONL(f, func(r row) {
			d.byLang[r.Language] = append(d.byLang[r.Language], len(d.rows))
			if _, dup := d.byPrompt[r.Prompt]; !dup {
				d.byPrompt[r.Prompt] = len(d.rows)
			}
			d.rows = append(d.rows, r)
		}); err != nil {
			return nil, err
		}
	}
	t.cache[pattern] = d
	return d, nil
}

func readJSONL(path string, fn func(row)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var r struct {
			ID       string `json:"id"`
			Language string `json:"language"`
			Prompt   string `json:"prompt"`
			Response string `json:"response"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s:%d: not a JSON object: %v", path, line, err)
		}
		fn(row{r.ID, r.Language, r.Prompt, r.Response})
	}
	return sc.Err()
}

func (t *Teacher) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
	if d := t.ValidateConfig(ctx, req.Config); d.HasErrors() {
		return nil, d
	}
	d, err := t.load(req.Config.String("path"))
	if err != nil {
		return nil, sdk.Diagnostics{sdk.AttrError("path", "Cannot read dataset", "%v", err)}
	}
	r := &replayer{d: d, corruption: req.Config.String("corruption"), fraction: req.Config.Float("fraction"), seed: uint64(req.Config.Int("seed")), model: req.Model}
	if r.corruption != "none" {
		if err := r.checkChanges(req.Config.Float("min_changed")); err != nil {
			return nil, sdk.Diagnostics{sdk.AttrError("corruption", "The corruption leaves the data unchanged", "%v", err)}
		}
	}
	return r, nil
}

// DefaultMinChanged is the share of rows a corruption must change by default.
const DefaultMinChanged = 0.9

// checkChanges applies the corruption to every row of every language (as
// Generate would, with each row's own random stream) and fails when it
// changes less than min of some language's rows: a control that leaves the
// data as it was cannot be caught, and reporting it as "not caught" would
// blame the metrics for the control's fault.
func (r *replayer) checkChanges(min float64) error {
	var bad []string
	for _, lang := range sortedLangs(r.d.byLang) {
		rows := r.d.byLang[lang]
		changed := 0
		for _, i := range rows {
			x := r.d.rows[i]
			rng := rand.New(rand.NewPCG(r.seed, hash64(x.ID, x.Prompt)))
			if y := r.corrupt(x, lang, rows, rng); y.Prompt != x.Prompt || y.Response != x.Response {
				changed++
			}
		}
		if share := float64(changed) / float64(len(rows)); share < min {
			bad = append(bad, fmt.Sprintf("%s: %d of %d rows changed (%.0f %%)", lang, changed, len(rows), 100*share))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("corruption %q changes too few rows (min_changed = %g): %s; use longer or more varied rows in those languages, or lower min_changed if that is intended",
			r.corruption, min, strings.Join(bad, "; "))
	}
	return nil
}

func sortedLangs(m map[string][]int) []string {
	out := make([]string, 0, len(m))
	for l := range m {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

type replayer struct {
	d          *data
	corruption string
	fraction   float64
	seed       uint64
	model      string
}

func hash64(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func (r *replayer) Generate(ctx context.Context, call *sdk.Call) (*sdk.Result, error) {
	md := call.Metadata
	lang := md["language"]
	rows := r.d.byLang[lang]
	if len(rows) == 0 {
		return nil, &sdk.CallError{Code: sdk.ErrInvalidRequest, Message: fmt.Sprintf("the dataset has no rows in language %q", lang)}
	}
	h := hash64(call.ID, md["seed_id"])
	idx := rows[h%uint64(len(rows))]
	if !call.Output.JSON {
		if i, ok := r.d.byPrompt[md["seed_prompt"]]; ok && r.d.rows[i].Language == lang {
			idx = i
		}
	}
	out := r.d.rows[idx]
	rng := rand.New(rand.NewPCG(r.seed, h))
	if r.corruption != "none" && rng.Float64() < r.fraction {
		out = r.corrupt(out, lang, rows, rng)
	}
	text := out.Response
	if call.Output.JSON {
		b, _ := json.Marshal(map[string]string{"prompt": out.Prompt, "response": out.Response})
		text = string(b)
	}
	in := 0
	for _, m := range call.Messages {
		in += utf8.RuneCountInString(m.Content)
	}
	// Token counts are estimated at four characters a token: replay has no
	// tokenizer, and the cost of replayed data is zero anyway.
	return &sdk.Result{Text: text, FinishReason: "stop", Model: r.model, Usage: sdk.Usage{InputTokens: int64(in / 4), OutputTokens: int64(utf8.RuneCountInString(text) / 4)}}, nil
}

func (r *replayer) corrupt(x row, lang string, rows []int, rng *rand.Rand) row {
	switch r.corruption {
	case "repair_prompts":
		// The response of another row: fluent, in the right language, and
		// unrelated to the prompt.
		for range 8 {
			o := r.d.rows[rows[rng.IntN(len(rows))]]
			if o.Response != x.Response {
				x.Response = o.Response
				break
			}
		}
	case "scramble_words":
		x.Response = scramble(x.Response, rng)
	case "truncate":
		x.Response = truncateText(x.Response)
	case "swap_language":
		var langs []string
		for l := range r.d.byLang {
			if l != lang && l != "en" {
				langs = append(langs, l)
			}
		}
		sort.Strings(langs)
		if len(langs) > 0 {
			other := r.d.byLang[langs[rng.IntN(len(langs))]]
			x.Response = r.d.rows[other[rng.IntN(len(other))]].Response
		}
	case "near_copies":
		// Everything is a light edit of one of three rows.
		base := r.d.rows[rows[rng.IntN(min(3, len(rows)))]]
		x.Prompt, x.Response = base.Prompt, dropWord(base.Response, rng)
	}
	return x
}
