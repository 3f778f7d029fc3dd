package strategy

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/spec"
)

// Validate loads every template of the strategy and checks each
// placeholder against it: a step output must come from an earlier step and
// name text (text steps) or a schema field (json steps), {{examples}} needs
// in_context > 0. Errors give file:line:col; all are reported together.
func Validate(st *spec.Strategy) error {
	var errs []error
	earlier := map[string]*spec.Step{}
	var names []string
	for _, step := range st.Steps {
		for _, path := range []string{step.System, step.Template} {
			if path == "" {
				continue
			}
			t, err := loadCached(path)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, p := range t.Placeholders() {
				if msg := checkUse(st, step, p.Name, earlier, names); msg != "" {
					errs = append(errs, fmt.Errorf("%s:%d:%d: {{%s}}: %s", path, p.Line, p.Col, p.Name, msg))
				}
			}
		}
		earlier[step.Name] = step
		names = append(names, step.Name)
	}
	if len(errs) > 0 {
		return fmt.Errorf("strategy %q: %w", st.Name, errors.Join(errs...))
	}
	return nil
}

func checkUse(st *spec.Strategy, step *spec.Step, name string, earlier map[string]*spec.Step, names []string) string {
	if name == "examples" && st.InContext == 0 {
		return "the strategy has in_context = 0, so there are no examples; set in_context or remove the placeholder"
	}
	parts := strings.Split(name, ".")
	if parts[0] != "steps" {
		return ""
	}
	src, ok := earlier[parts[1]]
	if !ok {
		if parts[1] == step.Name {
			return "a step cannot use its own output"
		}
		hint := "no earlier step has that name"
		if len(names) > 0 {
			hint += "; earlier steps: " + strings.Join(names, ", ")
		} else {
			hint += "; this is the first step"
		}
		return hint
	}
	if parts[2] == "text" {
		return ""
	}
	if src.Output != "json" {
		return fmt.Sprintf("step %q returns text; use {{steps.%s.text}}", src.Name, src.Name)
	}
	if _, ok := src.Schema[parts[2]]; !ok {
		fields := make([]string, 0, len(src.Schema))
		for f := range src.Schema {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		return fmt.Sprintf("step %q's schema has no field %q; fields: %s", src.Name, parts[2], strings.Join(fields, ", "))
	}
	return ""
}
