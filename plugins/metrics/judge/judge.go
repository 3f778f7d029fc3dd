// Package judge is the "judge" metric: an LM judge grades each (prompt,
// response) pair of a cell on a rubric, by default the study's (docs/method.md §3):
// language proficiency, cultural fit and helpfulness, each 1–5, with a short
// rationale, as structured output.
//
// The judge is any teacher of the experiment: config teacher names a teacher
// block, and the metric sends its calls through the host (sdk.Host.Generate),
// so the host's rate limits, retries, cache and budget apply. The metric asks
// for the JSON object
//
//	{"scores": {"proficiency": n, "cultural_fit": n, "helpfulness": n}, "rationale": "..."}
//
// (sdk.OutputFormat with a JSON Schema) and parses the answer strictly first;
// if the answer is not exactly one JSON object, the first JSON object in it
// that has "scores" (or, failing that, all the criteria as top-level keys) is
// used, which recovers answers wrapped in prose or code fences. A missing
// criterion, a score that is not a number (numeric strings such as "4" are
// accepted) or one outside 1–5 is a parse failure. Failures are counted and
// reported (aggregate "parse_failures", "call_failures", "failure_rate") and
// each failed example gets a note with the reason; on_parse_failure decides
// whether they are dropped (default) or scored 1 on every criterion, as the
// study did.
//
// Per-example values: each criterion and "overall" (their mean). Cell value:
// the mean overall score (higher is better). The rubric names the target
// language in English ("Japanese", not "ja"), via golang.org/x/text's
// display names.
package judge

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// Failure policies of on_parse_failure.
const (
	Drop     = "drop"
	ScoreAs1 = "score_as_1"
)

// Defaults of the config attributes.
const (
	DefaultMaxTokens = 512
	DefaultBatch     = 16
)

// DefaultCriteria are the study's three criteria, in rubric order.
var DefaultCriteria = []string{"proficiency", "cultural_fit", "helpfulness"}

// DefaultRubric is the study's rubric in polyglot's words. "{language}" is
// replaced by the English name of the cell's language.
const DefaultRubric = `Grade the response below to the user's instruction. The instruction and the response are meant to be in {language}. Give each criterion an integer score from 1 (worst) to 5 (best).

proficiency: how well the response is written in {language}.
  5 = fluent and natural, as a skilled native writer would write it; correct grammar, spelling and register.
  4 = correct and clear, with a few unnatural phrasings.
  3 = understandable, with noticeable grammar or word-choice errors or literal, translated-sounding phrasing.
  2 = hard to read: frequent errors, or long passages in another language.
  1 = not in {language}, or unintelligible.

cultural_fit: how well the response suits people who speak {language}.
  5 = uses the conventions, references, examples, units and politeness norms its readers expect, and avoids stereotypes.
  4 = appropriate, with minor lapses (a foreign example where a local one was natural).
  3 = culturally neutral where local knowledge was called for, or assumes another culture's context.
  2 = contains clear cultural mistakes or misleading claims about the culture.
  1 = offensive, stereotyping, or plainly wrong about the culture.

helpfulness: how well the response does what the instruction asks.
  5 = complete, correct and well organised; follows every constraint of the instruction.
  4 = correct and useful, with small omissions.
  3 = partly correct or partly off-task.
  2 = mostly wrong, evasive or incomplete.
  1 = ignores the instruction or is wrong throughout.

Judge the response on its own merits; its length alone is no reason for a higher score. Write a short rationale (at most three sentences) that names the main strengths and weaknesses.`

const systemPrompt = "You are an impartial expert evaluator of {language} text, fluent in {language} and familiar with the cultures of its speakers. You grade strictly by the rubric you are given and answer with a single JSON object and nothing else."

// Metric is the judge metric component.
type Metric struct{}

var (
	_ sdk.Metric    = Metric{}
	_ sdk.Validator = Metric{}
)

// New returns the judge metric component.
func New() sdk.Metric { return Metric{} }

// Describe implements sdk.Metric.
func (Metric) Describe() sdk.Description {
	crit := make([]cty.Value, len(DefaultCriteria))
	for i, c := range DefaultCriteria {
		crit[i] = cty.StringVal(c)
	}
	return sdk.Description{
		Name:        "judge",
		Description: "an LM judge (any teacher of the experiment) grades each example 1–5 per criterion; cell value = mean overall score",
		Schema: sdk.Schema(
			sdk.Doc("Settings of the LM-judge metric."),
			sdk.Attr("teacher", cty.String).Required().TeacherRef().Doc("name of the teacher block that acts as the judge"),
			sdk.Attr("rubric", cty.String).Doc(`grading instructions; "{language}" is replaced by the language's English name (default: the study's rubric of proficiency, cultural fit and helpfulness)`),
			sdk.Attr("criteria", cty.List(cty.String)).Doc("criterion names the judge scores 1–5; the rubric must define them").Default(cty.ListVal(crit)),
			sdk.Attr("on_parse_failure", cty.String).Doc(`"drop" leaves unparsable verdicts out of the mean; "score_as_1" scores them 1, as the study did`).Default(cty.StringVal(Drop)),
			sdk.Attr("max_tokens", cty.Number).Doc("token limit of the judge's answer").Default(cty.NumberIntVal(DefaultMaxTokens)),
			sdk.Attr("batch", cty.Number).Doc("calls sent to the host per request").Default(cty.NumberIntVal(DefaultBatch)),
			sdk.Attr("temperature", cty.Number).Doc("sampling temperature of the judge (default: the teacher's)"),
		),
		// One call per example to the judge; a verdict that does not parse
		// is not asked again.
		Metric: &sdk.MetricInfo{Direction: "higher", Values: append(slices.Clone(DefaultCriteria), "overall"), CallsPerExample: 1},
	}
}

type settings struct {
	teacher     string
	rubric      string
	criteria    []string
	policy      string
	maxTokens   int
	batch       int
	temperature *float64
}

var criterionName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func parseSettings(cfg sdk.Config) (settings, sdk.Diagnostics) {
	var ds sdk.Diagnostics
	s := settings{
		teacher:   cfg.String("teacher"),
		rubric:    cfg.String("rubric"),
		criteria:  cfg.Strings("criteria"),
		policy:    cfg.String("on_parse_failure"),
		maxTokens: DefaultMaxTokens,
		batch:     DefaultBatch,
	}
	if s.teacher == "" {
		ds = append(ds, sdk.AttrError("teacher", "teacher is missing", `name the teacher block that judges, e.g. teacher = "prometheus"`))
	}
	if cfg.Has("rubric") && strings.TrimSpace(s.rubric) == "" {
		ds = append(ds, sdk.AttrError("rubric", "rubric is empty", "write the grading instructions, or remove rubric to use the study's"))
	}
	if !cfg.Has("criteria") {
		s.criteria = slices.Clone(DefaultCriteria)
	}
	if len(s.criteria) == 0 {
		ds = append(ds, sdk.AttrError("criteria", "no criteria", "list at least one criterion, e.g. criteria = [\"proficiency\"]"))
	}
	seen := map[string]bool{}
	for i, c := range s.criteria {
		path := cty.GetAttrPath("criteria").Index(cty.NumberIntVal(int64(i)))
		switch {
		case !criterionName.MatchString(c):
			ds = append(ds, sdk.Errorf(path, "bad criterion name", "%q: use lower-case letters, digits and underscores, starting with a letter", c))
		case c == "overall":
			ds = append(ds, sdk.Errorf(path, "reserved criterion name", `"overall" is the mean of the criteria; name the criterion differently`))
		case seen[c]:
			ds = append(ds, sdk.Errorf(path, "criterion listed twice", "%q: list each criterion once", c))
		case s.rubric == "" && !slices.Contains(DefaultCriteria, c):
			ds = append(ds, sdk.Errorf(path, "criterion not in the default rubric", "%q is not defined by the default rubric (%s); write a rubric that defines it", c, strings.Join(DefaultCriteria, ", ")))
		}
		seen[c] = true
	}
	switch s.policy {
	case "":
		s.policy = Drop
	case Drop, ScoreAs1:
	default:
		ds = append(ds, sdk.AttrError("on_parse_failure", "unknown failure policy", "%q: use \"drop\" or \"score_as_1\"", s.policy))
	}
	if cfg.Has("max_tokens") {
		if s.maxTokens = cfg.Int("max_tokens"); s.maxTokens < 1 {
			ds = append(ds, sdk.AttrError("max_tokens", "max_tokens out of range", "max_tokens is %d; use 1 or more (a verdict with a rationale needs about 200)", s.maxTokens))
		}
	}
	if cfg.Has("batch") {
		if s.batch = cfg.Int("batch"); s.batch < 1 {
			ds = append(ds, sdk.AttrError("batch", "batch out of range", "batch is %d; use 1 or more", s.batch))
		}
	}
	if cfg.Has("temperature") {
		t := cfg.Float("temperature")
		if t < 0 || t > 2 {
			ds = append(ds, sdk.AttrError("temperature", "temperature out of range", "temperature is %g; use a value from 0 to 2", t))
		}
		s.temperature = &t
	}
	return s, ds
}

// ValidateConfig implements sdk.Validator.
func (Metric) ValidateConfig(_ context.Context, cfg sdk.Config) sdk.Diagnostics {
	_, ds := parseSettings(cfg)
	return ds
}

// nameOverrides fixes tags whose x/text display name is an alias: x/text
// canonicalises "tl" to "fil" (Filipino) and "sr-Latn" to the deprecated "sh"
// (Serbo-Croatian), while the study and its users mean Tagalog and Serbian.
var nameOverrides = map[string]string{
	"tl":      "Tagalog",
	"tl-ph":   "Tagalog",
	"sr-latn": "Serbian (Latin script)",
}

// LanguageName returns the English name of a BCP-47 tag ("de" → "German"),
// or the tag itself when it has none.
func LanguageName(tag string) string {
	if name, ok := nameOverrides[strings.ToLower(tag)]; ok {
		return name
	}
	t, err := language.Parse(tag)
	if err != nil {
		return tag
	}
	if name := display.English.Tags().Name(t); name != "" {
		return name
	}
	return tag
}

// Open implements sdk.Metric.
func (Metric) Open(_ context.Context, req sdk.MetricRequest) (sdk.Accumulator, sdk.Diagnostics) {
	s, ds := parseSettings(req.Config)
	if ds.HasErrors() {
		return nil, ds
	}
	if req.Host == nil {
		return nil, append(ds, sdk.AttrError("teacher", "the judge needs the host's teachers",
			"this metric asks teacher %q to grade each example through the polyglot host, and no host is connected; run it inside an experiment (polyglot run), not stand-alone", s.teacher))
	}
	name := LanguageName(req.Language)
	rubric := s.rubric
	if rubric == "" {
		rubric = DefaultRubric
	}
	schema, err := verdictSchema(s.criteria)
	if err != nil {
		return nil, append(ds, sdk.Diagnostic{Severity: sdk.Error, Summary: "building the verdict schema", Detail: err.Error()})
	}
	return &accumulator{
		s:        s,
		host:     req.Host,
		language: req.Language,
		cell:     req.Cell,
		system:   strings.ReplaceAll(systemPrompt, "{language}", name),
		rubric:   strings.ReplaceAll(rubric, "{language}", name),
		format:   formatInstruction(s.criteria),
		schema:   schema,
		langName: name,
		sums:     make([]float64, len(s.criteria)),
	}, ds
}

// verdictSchema is the JSON Schema of the verdict object.
func verdictSchema(criteria []string) (string, error) {
	props := map[string]any{}
	for _, c := range criteria {
		props[c] = map[string]any{"type": "integer", "minimum": 1, "maximum": 5}
	}
	schema := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"scores":    map[string]any{"type": "object", "properties": props, "required": criteria, "additionalProperties": false},
			"rationale": map[string]any{"type": "string"},
		},
		"required":             []string{"scores", "rationale"},
		"additionalProperties": false,
	}
	b, err := json.Marshal(schema)
	return string(b), err
}

// formatInstruction spells the expected object out in the prompt too, for
// teachers whose API cannot enforce a schema.
func formatInstruction(criteria []string) string {
	var parts []string
	for _, c := range criteria {
		parts = append(parts, fmt.Sprintf("%q: <1-5>", c))
	}
	return `Answer with exactly this JSON object and nothing else: {"scores": {` + strings.Join(parts, ", ") + `}, "rationale": "<at most three sentences>"}`
}
