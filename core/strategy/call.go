package strategy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// StepOutput is what one step returned.
type StepOutput struct {
	// Text is the answer of a text step, or the JSON object of a json step.
	Text string
	// Fields are a json step's fields (numbers as json.Number).
	Fields map[string]any
}

// Field renders a step output for a template or emit: "text" is Text, any
// other name a field (strings as is, other values as JSON).
func (o StepOutput) Field(name string) (string, bool) {
	if name == "text" && o.Fields == nil {
		return o.Text, true
	}
	v, ok := o.Fields[name]
	if !ok {
		if name == "text" {
			return o.Text, true
		}
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	case nil:
		return "", false
	}
	return marshal(v), true
}

func marshal(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // prompts are not HTML; keep <, > and & readable
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// FormatExamples writes in-context pairs as the {{examples}} placeholder
// shows them.
func FormatExamples(rows []Row) string {
	var b strings.Builder
	for i, r := range rows {
		if i > 0 {
			b.WriteString("\n\n")
		}
		fmt.Fprintf(&b, "Example %d\nPrompt:\n%s\nResponse:\n%s", i+1, strings.TrimSpace(r.Prompt), strings.TrimSpace(r.Response))
	}
	return b.String()
}

func familyDescription(name string) string {
	for _, f := range TaskFamilies {
		if f.Name == name {
			return f.Description
		}
	}
	return name
}

// requestVars are the placeholder values for a request after the steps in
// prior have run. Values are looked up when a template asks for them, not
// put in a map first: building the map (and the examples text, which most
// templates do not use) was a visible share of a call's CPU.
type requestVars struct {
	req   *Request
	prior map[string]StepOutput
	lang  Language
}

func (v requestVars) Lookup(name string) (string, bool) {
	if s, ok := (languageVars{v.lang}).Lookup(name); ok {
		return s, true
	}
	switch name {
	case "seed.prompt":
		return v.req.Seed.Prompt, true
	case "seed.response":
		return v.req.Seed.Response, true
	case "seed.id":
		return v.req.Seed.ID, true
	case "seed.language":
		return v.req.Seed.Language, true
	case "examples":
		return FormatExamples(v.req.Examples), true
	case "task_family":
		if v.req.TaskFamily == "" {
			return "", false
		}
		return familyDescription(v.req.TaskFamily), true
	}
	rest, ok := strings.CutPrefix(name, "steps.")
	if !ok {
		return "", false
	}
	step, field, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	out, ok := v.prior[step]
	if !ok {
		return "", false
	}
	return out.Field(field)
}

// JSONSchema builds the JSON schema of a json step's field schema: an
// object with exactly those fields, all required.
func JSONSchema(fields map[string]string) string {
	props := map[string]any{}
	req := make([]string, 0, len(fields))
	for f, t := range fields {
		if t == "bool" {
			t = "boolean"
		}
		props[f] = map[string]any{"type": t}
		req = append(req, f)
	}
	sort.Strings(req)
	return marshal(map[string]any{
		"type":                 "object",
		"properties":           props,
		"required":             req,
		"additionalProperties": false,
	})
}

// schemas memoizes each step's JSON schema: a step is fixed for a run, and
// building the schema per call was a visible share of a request's CPU.
var schemas sync.Map // *spec.Step -> string

func stepSchema(step *spec.Step) string {
	if s, ok := schemas.Load(step); ok {
		return s.(string)
	}
	s := JSONSchema(step.Schema)
	schemas.Store(step, s)
	return s
}

// BuildCall makes the call of one step for a request: the rendered system
// and user messages, the output format and max tokens, and the metadata
// (strategy, step, language, seed_id, task_family). Sampling beyond max
// tokens is the teacher's: set it with ResolveSampling.
func BuildCall(step *spec.Step, req *Request, prior map[string]StepOutput, lang Language) (*sdk.Call, error) {
	call, err := BuildBareCall(step, req, prior, lang)
	if err != nil {
		return nil, err
	}
	call.Metadata = map[string]string{
		"strategy": req.Strategy,
		"step":     step.Name,
		"language": req.Language,
		"seed_id":  req.Seed.ID,
	}
	if req.TaskFamily != "" {
		call.Metadata["task_family"] = req.TaskFamily
	}
	return call, nil
}

// BuildBareCall is BuildCall without the metadata, for teachers that never
// read it (sdk.MetadataIgnorer).
func BuildBareCall(step *spec.Step, req *Request, prior map[string]StepOutput, lang Language) (*sdk.Call, error) {
	vars := requestVars{req, prior, lang}
	call := &sdk.Call{ID: req.ID + "/" + step.Name}
	if step.System != "" {
		t, err := loadCached(step.System)
		if err != nil {
			return nil, fmt.Errorf("strategy %q step %q: %w", req.Strategy, step.Name, err)
		}
		s, err := t.Render(vars)
		if err != nil {
			return nil, fmt.Errorf("strategy %q step %q: %w", req.Strategy, step.Name, err)
		}
		call.Messages = append(call.Messages, sdk.Message{Role: "system", Content: s})
	}
	t, err := loadCached(step.Template)
	if err != nil {
		return nil, fmt.Errorf("strategy %q step %q: %w", req.Strategy, step.Name, err)
	}
	user, err := t.Render(vars)
	if err != nil {
		return nil, fmt.Errorf("strategy %q step %q: %w", req.Strategy, step.Name, err)
	}
	call.Messages = append(call.Messages, sdk.Message{Role: "user", Content: user})
	if step.Output == "json" {
		call.Output = sdk.OutputFormat{JSON: true, JSONSchema: stepSchema(step)}
	}
	if step.MaxTokens != nil {
		call.Sampling.MaxTokens = *step.MaxTokens
	}
	return call, nil
}

// Failure is an unusable step output. Reason is one of "call_error:<code>",
// "empty", "truncated", "too_long", "parse_error", "missing_field:<f>",
// "bad_field:<f>"; Raw keeps the text as received.
type Failure struct {
	Reason string
	Detail string
	Raw    string
}

func (f *Failure) Error() string {
	if f.Detail == "" {
		return f.Reason
	}
	return f.Reason + ": " + f.Detail
}

// ParseOutput checks a step's answer. maxChars > 0 bounds the length (in
// characters) of a text answer and of each string field. JSON answers are
// parsed strictly first; if that fails, the first JSON object embedded in
// fences or prose is used.
func ParseOutput(step *spec.Step, res *sdk.Result, maxChars int) (StepOutput, *Failure) {
	if res == nil {
		return StepOutput{}, &Failure{Reason: "empty", Detail: "no result"}
	}
	if res.Err != nil {
		return StepOutput{}, &Failure{Reason: "call_error:" + res.Err.Code.String(), Detail: res.Err.Message, Raw: res.Err.Raw}
	}
	raw := res.Text
	if res.FinishReason == "length" {
		return StepOutput{}, &Failure{Reason: "truncated", Detail: "the answer hit max_tokens; raise max_tokens for this step", Raw: raw}
	}
	text := strings.TrimSpace(raw)
	if text == "" {
		return StepOutput{}, &Failure{Reason: "empty", Raw: raw}
	}
	tooLong := func(s string) bool { return maxChars > 0 && utf8.RuneCountInString(s) > maxChars }
	if step.Output != "json" {
		if tooLong(text) {
			return StepOutput{}, &Failure{Reason: "too_long", Detail: fmt.Sprintf("%d characters, limit %d", utf8.RuneCountInString(text), maxChars), Raw: raw}
		}
		return StepOutput{Text: text}, nil
	}
	obj, src, ok := parseObject(text)
	if !ok {
		return StepOutput{}, &Failure{Reason: "parse_error", Detail: "no JSON object found in the answer", Raw: raw}
	}
	fields := make([]string, 0, len(step.Schema))
	for f := range step.Schema {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		v, present := obj[f]
		if s, isStr := v.(string); !present || v == nil || isStr && strings.TrimSpace(s) == "" {
			return StepOutput{}, &Failure{Reason: "missing_field:" + f, Raw: raw}
		}
		if !hasType(v, step.Schema[f]) {
			return StepOutput{}, &Failure{Reason: "bad_field:" + f, Detail: fmt.Sprintf("want %s, got %s", step.Schema[f], marshal(v)), Raw: raw}
		}
		if s, isStr := v.(string); isStr {
			s = strings.TrimSpace(s)
			obj[f] = s
			if tooLong(s) {
				return StepOutput{}, &Failure{Reason: "too_long", Detail: fmt.Sprintf("field %q has %d characters, limit %d", f, utf8.RuneCountInString(s), maxChars), Raw: raw}
			}
		}
	}
	return StepOutput{Text: src, Fields: obj}, nil
}

func hasType(v any, t string) bool {
	switch t {
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case "bool":
		_, ok := v.(bool)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

func decodeObject(s string) (map[string]any, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	if dec.More() {
		return nil, false
	}
	return m, true
}

// maxObjectStarts bounds the fallback's attempts on prose full of braces.
const maxObjectStarts = 64

// parseObject parses text as one JSON object, or else finds the first
// balanced {...} in it that parses as one (models wrap JSON in fences and
// chatter). It returns the object and its source text.
func parseObject(text string) (map[string]any, string, bool) {
	if m, ok := decodeObject(text); ok {
		return m, text, true
	}
	tries := 0
	for start := strings.IndexByte(text, '{'); start >= 0 && tries < maxObjectStarts; tries++ {
		if end := objectEnd(text[start:]); end > 0 {
			src := text[start : start+end]
			if m, ok := decodeObject(src); ok {
				return m, src, true
			}
		}
		next := strings.IndexByte(text[start+1:], '{')
		if next < 0 {
			break
		}
		start += 1 + next
	}
	return nil, "", false
}

// objectEnd returns the length of the balanced {...} at the start of s
// (strings and escapes respected), or 0.
func objectEnd(s string) int {
	depth, inStr, esc := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return 0
}

// Emit returns the final pair from the strategy's emit sources:
// "seed.prompt", "seed.response", "seed.id", "seed.language",
// "steps.NAME.text" or "steps.NAME.FIELD".
func Emit(st *spec.Strategy, req *Request, outputs map[string]StepOutput) (prompt, response string, err error) {
	prompt, err = source(st.Emit.Prompt, req, outputs)
	if err != nil {
		return "", "", fmt.Errorf("strategy %q emit prompt: %w", st.Name, err)
	}
	response, err = source(st.Emit.Response, req, outputs)
	if err != nil {
		return "", "", fmt.Errorf("strategy %q emit response: %w", st.Name, err)
	}
	return prompt, response, nil
}

func source(src string, req *Request, outputs map[string]StepOutput) (string, error) {
	// Cut rather than Split: source runs twice per example.
	head, rest, _ := strings.Cut(src, ".")
	step, field, three := strings.Cut(rest, ".")
	var v string
	switch {
	case head == "seed" && rest != "" && !strings.Contains(rest, "."):
		switch rest {
		case "prompt":
			v = req.Seed.Prompt
		case "response":
			v = req.Seed.Response
		case "id":
			v = req.Seed.ID
		case "language":
			v = req.Seed.Language
		default:
			return "", fmt.Errorf("%q: unknown seed field; use seed.prompt, seed.response, seed.id or seed.language", src)
		}
	case head == "steps" && three && !strings.Contains(field, "."):
		out, ok := outputs[step]
		if !ok {
			return "", fmt.Errorf("%q: step %q has no output", src, step)
		}
		if v, ok = out.Field(field); !ok {
			return "", fmt.Errorf("%q: step %q returned no field %q", src, step, field)
		}
	default:
		return "", fmt.Errorf("%q is not a source; use seed.FIELD or steps.STEP.FIELD", src)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("%q is empty for seed row %q", src, req.Seed.ID)
	}
	return v, nil
}

// languageVars serves only a language's placeholders.
type languageVars struct{ lang Language }

func (v languageVars) Lookup(name string) (string, bool) {
	switch name {
	case "language":
		return v.lang.Name, true
	case "language_native":
		return v.lang.Native, true
	case "language_code":
		return v.lang.Tag, true
	case "script":
		return v.lang.Script, true
	}
	return "", false
}

// SystemPrompt renders the system message of the step whose text a
// strategy emits as the response (its last step when emit names none), for
// exports that carry it next to each example. It is the same for every
// request of a language only when the template uses the language's
// placeholders alone; ok is false otherwise, and when the step has no
// system template.
func SystemPrompt(s *spec.Strategy, lang Language) (text string, ok bool, err error) {
	if len(s.Steps) == 0 {
		return "", false, nil
	}
	step := s.Steps[len(s.Steps)-1]
	if rest, found := strings.CutPrefix(s.Emit.Response, "steps."); found {
		name, _, _ := strings.Cut(rest, ".")
		for _, st := range s.Steps {
			if st.Name == name {
				step = st
			}
		}
	}
	if step.System == "" {
		return "", false, nil
	}
	t, err := loadCached(step.System)
	if err != nil {
		return "", false, fmt.Errorf("strategy %q step %q: %w", s.Name, step.Name, err)
	}
	for _, p := range t.parts {
		if p.ph != nil {
			if _, known := (languageVars{lang}).Lookup(p.ph.Name); !known {
				return "", false, nil
			}
		}
	}
	text, err = t.Render(languageVars{lang})
	return text, err == nil, err
}
