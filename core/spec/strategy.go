package spec

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var strategyInputSpec = &blockSpec{attrs: []attrSpec{
	{name: "seeds", ty: cty.DynamicPseudoType},
	{name: "language", ty: cty.String, def: cty.StringVal("target")},
	{name: "tags", ty: cty.List(cty.String)},
}}

var stepSpec = &blockSpec{attrs: []attrSpec{
	{name: "teacher", ty: cty.DynamicPseudoType, def: cty.StringVal("self")},
	{name: "system", ty: cty.String},
	{name: "template", ty: cty.String, required: true},
	{name: "output", ty: cty.String, def: cty.StringVal("text")},
	{name: "schema", ty: cty.Map(cty.String)},
	{name: "max_tokens", ty: cty.Number},
}}

var emitSpec = &blockSpec{attrs: []attrSpec{
	{name: "prompt", ty: cty.String, def: cty.StringVal("seed.prompt")},
	{name: "response", ty: cty.String},
}}

var strategySpec = &blockSpec{
	attrs: []attrSpec{
		{name: "share", ty: cty.Number, def: cty.NumberIntVal(1)},
		{name: "in_context", ty: cty.Number, def: cty.Zero},
	},
	blocks: []nestedSpec{
		{typeName: "input", spec: strategyInputSpec, max: 1},
		{typeName: "step", label: "name", spec: stepSpec, min: 1},
		{typeName: "emit", spec: emitSpec, max: 1},
	},
}

var schemaTypes = []string{"string", "number", "integer", "bool", "array", "object"}

func (l *loader) evalStrategy(n *node, ctx *hcl.EvalContext) {
	ev := l.evalBlockNode(n, strategySpec, ctx)
	r := newReader(ev, &l.diags)
	s := &Strategy{Name: n.name, DeclRange: n.block.DefRange, Ranges: r.ranges()}
	s.Share = r.num("share")
	if s.Share <= 0 {
		r.errorf("share", "Invalid share", "share must be greater than zero (it is this strategy's relative share of a cell's examples), got %g.", s.Share)
	}
	s.InContext = r.nonNegInt("in_context")

	in := r.sub("input")
	s.Input = StrategyInput{Seeds: in.nameRef("seeds", "seeds"), Language: in.str("language"), Tags: in.strList("tags"), Ranges: in.ranges()}
	if s.Input.Language != "target" {
		s.Input.Language = in.lang("language")
	}

	for _, sb := range ev.blocks["step"] {
		sr := newReader(sb.ev, &l.diags)
		st := &Step{Name: sb.block.Labels[0], DeclRange: sb.block.DefRange, Ranges: sr.ranges()}
		st.Teacher = sr.nameRef("teacher", "teacher")
		if st.Teacher == "" && !sr.has("teacher") {
			st.Teacher = "self"
		}
		st.System = sr.existingFile("system", l.read, "system template")
		st.Template = sr.existingFile("template", l.read, "template")
		st.Output = sr.oneOf("output", "step output", "text", "json")
		if st.Output == "" && !sr.has("output") {
			st.Output = "text"
		}
		st.Schema = sr.strMap("schema")
		for _, k := range sortedKeys(st.Schema) {
			if !contains(schemaTypes, st.Schema[k]) {
				sr.errorf("schema", "Invalid schema type", "Field %q has type %q.%s Use one of: %s.", k, st.Schema[k], didYouMean(st.Schema[k], schemaTypes), quoteList(schemaTypes))
			}
		}
		if st.Output == "json" && len(st.Schema) == 0 {
			sr.errorf("output", "Missing schema", "Step %q returns json; add schema = { field = \"string\", ... } naming the fields it must return.", st.Name)
		}
		if st.Output == "text" && sr.has("schema") {
			sr.errorf("schema", "Schema on a text step", "schema only applies to output = \"json\"; remove it or set output = \"json\".")
		}
		st.MaxTokens = sr.intOptPtr("max_tokens")
		s.Steps = append(s.Steps, st)
	}

	em := r.sub("emit")
	s.Emit = Emit{Prompt: em.str("prompt"), Response: em.str("response"), Ranges: em.ranges()}
	if s.Emit.Response == "" && len(s.Steps) > 0 && !em.has("response") {
		last := s.Steps[len(s.Steps)-1]
		if last.Output == "json" {
			s.Emit.Response = "steps." + last.Name + ".response"
		} else {
			s.Emit.Response = "steps." + last.Name + ".text"
		}
	}
	if len(s.Steps) > 0 {
		l.checkEmit(s, em)
	}
	l.strategies[n.name] = s
}

// checkEmit checks that emit names a seed field or a field a step returns:
// "seed.prompt", "seed.response", "steps.NAME.text" (text steps) or
// "steps.NAME.FIELD" (a field of a json step's schema).
func (l *loader) checkEmit(s *Strategy, em *reader) {
	steps := map[string]*Step{}
	var names []string
	for _, st := range s.Steps {
		steps[st.Name] = st
		names = append(names, st.Name)
	}
	for _, attr := range []string{"prompt", "response"} {
		v := s.Emit.Prompt
		if attr == "response" {
			v = s.Emit.Response
		}
		parts := splitDots(v)
		switch {
		case len(parts) == 2 && parts[0] == "seed":
			if !contains([]string{"prompt", "response", "id", "language"}, parts[1]) {
				em.errorf(attr, "Invalid emit source", "%q names an unknown seed field; use seed.prompt, seed.response, seed.id or seed.language.", v)
			}
		case len(parts) == 3 && parts[0] == "steps":
			st, ok := steps[parts[1]]
			if !ok {
				em.errorf(attr, "Invalid emit source", "%q names step %q, which this strategy does not have.%s", v, parts[1], didYouMean(parts[1], names))
				continue
			}
			if st.Output == "text" && parts[2] != "text" {
				em.errorf(attr, "Invalid emit source", "Step %q returns text; refer to it as steps.%s.text.", st.Name, st.Name)
			}
			if st.Output == "json" && st.Schema != nil {
				if _, ok := st.Schema[parts[2]]; !ok {
					em.errorf(attr, "Invalid emit source", "Step %q's schema has no field %q.%s", st.Name, parts[2], didYouMean(parts[2], sortedKeys(st.Schema)))
				}
			}
		default:
			em.errorf(attr, "Invalid emit source", "%q is not a source. Use \"seed.FIELD\" or \"steps.STEP.FIELD\" (e.g. \"steps.answer.text\").", v)
		}
	}
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
