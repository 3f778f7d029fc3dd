// Command polyglot ranks teacher models for synthetic multilingual training
// data. See README.md.
package main

import (
	"os"

	"github.com/polyglot-teachers/polyglot/core/command"
	"github.com/polyglot-teachers/polyglot/plugins/metrics/diversity"
	"github.com/polyglot-teachers/polyglot/plugins/metrics/duplicates"
	"github.com/polyglot-teachers/polyglot/plugins/metrics/judge"
	"github.com/polyglot-teachers/polyglot/plugins/metrics/langid"
	"github.com/polyglot-teachers/polyglot/plugins/metrics/length"
	"github.com/polyglot-teachers/polyglot/plugins/metrics/perplexity"
	"github.com/polyglot-teachers/polyglot/plugins/metrics/relevance"
	"github.com/polyglot-teachers/polyglot/plugins/teachers/anthropic"
	"github.com/polyglot-teachers/polyglot/plugins/teachers/cohere"
	"github.com/polyglot-teachers/polyglot/plugins/teachers/dataset"
	"github.com/polyglot-teachers/polyglot/plugins/teachers/gemini"
	"github.com/polyglot-teachers/polyglot/plugins/teachers/openai"
	"github.com/polyglot-teachers/polyglot/plugins/trainers/cpu"
	"github.com/polyglot-teachers/polyglot/plugins/trainers/trl"
	"github.com/polyglot-teachers/polyglot/sdk"
)

// builtins are the plugins compiled into this binary. They still run out of
// process: the host re-executes itself as `polyglot internal-plugin NAME`.
// core never imports a plugin; only this file does.
var builtins = map[string]sdk.ServeOpts{
	"dataset":    {Name: "dataset", Version: command.Version, Teachers: []sdk.Teacher{dataset.New()}},
	"openai":     {Name: "openai", Version: command.Version, Teachers: []sdk.Teacher{openai.New()}},
	"anthropic":  {Name: "anthropic", Version: command.Version, Teachers: []sdk.Teacher{anthropic.New()}},
	"gemini":     {Name: "gemini", Version: command.Version, Teachers: []sdk.Teacher{gemini.New()}},
	"cohere":     {Name: "cohere", Version: command.Version, Teachers: []sdk.Teacher{cohere.New()}},
	"perplexity": {Name: "perplexity", Version: command.Version, Metrics: []sdk.Metric{perplexity.New()}},
	"judge":      {Name: "judge", Version: command.Version, Metrics: []sdk.Metric{judge.New()}},
	"diversity":  {Name: "diversity", Version: command.Version, Metrics: []sdk.Metric{diversity.New()}},
	"duplicates": {Name: "duplicates", Version: command.Version, Metrics: []sdk.Metric{duplicates.New()}},
	"length":     {Name: "length", Version: command.Version, Metrics: []sdk.Metric{length.New()}},
	"langid":     {Name: "langid", Version: command.Version, Metrics: []sdk.Metric{langid.New()}},
	"relevance":  {Name: "relevance", Version: command.Version, Metrics: []sdk.Metric{relevance.New()}},
	"cpu":        {Name: "cpu", Version: command.Version, Trainers: []sdk.Trainer{cpu.Trainer{}}},
	"trl":        {Name: "trl", Version: command.Version, Trainers: []sdk.Trainer{trl.Trainer{}}},
}

func main() {
	os.Exit(command.Main(os.Args[1:], builtins))
}
