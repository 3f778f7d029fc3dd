// Package strategy turns the declarative `strategy` blocks of a spec into
// teacher calls and back into (prompt, response) pairs. Strategies are data:
// the study's generate, translate and respond strategies (docs/method.md §2), and
// any multi-step variant a user writes, run through the same code.
//
// The flow for one cell (teacher × language) is:
//
//	reqs := Expand(st, rows, "sr-Latn", n, seed)       // which seed rows, examples, task families
//	lang, _ := ResolveLanguage("sr-Latn")              // CLDR names for the templates
//	for each request, for each step in order:
//	    call, _ := BuildCall(step, &req, outputs, lang) // messages, JSON schema, metadata
//	    call.Sampling = ResolveSampling(teacher, step)  // family defaults < teacher block < step
//	    out, fail := ParseOutput(step, result, maxChars)
//	    outputs[step.Name] = out
//	prompt, response, _ := Emit(st, &req, outputs)
//
// Templates are plain text files with named placeholders such as
// {{language}} or {{steps.translate.prompt}}; see LoadTemplate. The
// placeholder syntax is deliberately not text/template: a template is data a
// user writes, so it has no logic, and every placeholder can be checked
// against the strategy before anything runs (Validate).
//
// Language, autonym and script names come from the CLDR tables of
// golang.org/x/text, so that any BCP-47 tag works without a list kept here.
// Selection is deterministic: a seeded PCG generator with a hand-written
// bounded draw, so that the same inputs give the same requests across Go
// releases (math/rand's helpers may change their algorithms).
package strategy
