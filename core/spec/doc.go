// Package spec loads an experiment spec: the *.hcl files of one folder,
// parsed with hashicorp/hcl/v2, evaluated, checked, and decoded into typed
// structs that keep their source ranges.
//
// # Loading
//
//	e, diags := spec.LoadDir("experiments/arabic", spec.LoadOptions{Vars: cliVars})
//	if diags.HasErrors() {
//		e.WriteDiagnostics(os.Stderr, diags, true) // file:line:col, snippet, what to do
//	}
//
// Files are read in name order and form one experiment. Relative paths
// (seeds, templates, store, file()) resolve against the spec folder.
// Evaluation order follows references: variables first, then locals and
// blocks sorted by what they refer to; a cycle is an error at the reference
// that closes it. Plugin-owned `config {}` blocks are not evaluated: the
// raw hcl.Body is kept (Config) and the host decodes it later with
// DecodeBody(body, pluginSpec, e.EvalContext()).
//
// # Blocks
//
//	experiment "NAME" {                 exactly one
//	  languages         = ["ar", "de"]  BCP-47 tags (required)
//	  seeds             = [1, 2, 3]     random seeds; default [1]
//	  store             = ".polyglot"   store folder
//	  examples_per_cell = 10500         per (teacher, language), split by strategy share
//	  metric_sample     = 10000         examples per cell seen by metrics
//	  budget_usd        = 100           optional spend cap
//	}
//	variable "NAME" { type = list(string)  default = [...]  description = ""  sensitive = false }
//	locals { a = "x"  b = "${local.a}-y" }
//	required_plugins { echo = { source = "github.com/acme/polyglot-plugin-echo", version = ">= 0.1.0" } }
//	seeds "NAME" {
//	  path = "data/*.jsonl"  format = "jsonl|csv|parquet" (default: extension)  language = "en"
//	  columns { id prompt response language strategies tags }   column names; defaults = field names
//	}
//	teacher "NAME" {
//	  plugin = "NAME" or "NAME/COMPONENT"  model = "..."  (both required)
//	  family  parameters  benchmark_strength  batch = false  batch_max_requests = 10000
//	  price    { input_per_mtok  output_per_mtok }                       USD per million tokens
//	  sampling { temperature  top_p  top_k  max_tokens  seed  stop }     unset = plugin/family default
//	  limits   { concurrency = 4  requests_per_minute  tokens_per_minute  timeout = "120s"
//	             max_retries = 5  budget_usd  reasks = 0  adaptive = false }
//	  config { ... }                                                     plugin-owned
//	}
//	control "NAME" { kind = "repair_prompts|scramble_words|truncate|swap_language|near_copies"
//	                 seeds = "NAME" or seeds.NAME  caught_by = ["metric"]  fraction = 1 }
//	strategy "NAME" {
//	  share = 1  in_context = 0
//	  input { seeds = "NAME"  language = "target" or a tag  tags = [] }
//	  step "NAME" { teacher = "self"  system = "file"  template = "file"  output = "text|json"
//	                schema = { field = "string|number|integer|bool|array|object" }  max_tokens }
//	  emit { prompt = "seed.prompt"  response = "steps.LAST.text" }
//	}
//	metric "NAME"    { plugin  direction = "higher|lower|none"  in_score = true  sample  config {} }
//	student "NAME"   { base_model  family  reference  trainer  hyperparameters = {}
//	                   executor "local|slurm" { partition account qos time gpus extra }  config {} }
//	server "NAME"    { engine = "vllm|sglang|llama.cpp|ollama|command"  model  command = []  args = []  env = {}
//	                   port = 0  restarts = 2  hold_estimate  ready { path  timeout = "10m"  interval = "1s" }
//	                   executor "local|slurm" { partition account qos time gpus cpus memory gres extra } }
//	benchmark "NAME" { languages (default: experiment's)  task (default: NAME)  shots = 0  metric = "acc"  weight = 1 }
//	score { alpha = 0.5  metrics (default: in_score metrics)  pgr = "ratio_then_mean|mean_then_ratio"
//	        standardize = "published|restandardized"  confidence = 0.95  bootstrap = 1000
//	        alphas = [0, 0.25, 0.5, 0.75, 1] }
//
// # Expressions
//
// Any attribute may use var.NAME, local.NAME, experiment.ATTR,
// score.ATTR and TYPE.NAME.ATTR for the labeled blocks (seeds, teacher,
// control, strategy, metric, student, benchmark, server); nested blocks appear as
// objects (teacher.x.limits.timeout, strategy.x.step.NAME.template).
// server.NAME.url and server.NAME.address are placeholders (ServerAddress)
// that the run replaces with the server's real address.
// Functions are go-cty's stdlib under their Terraform names, try/can, and:
//
//	env("NAME")            environment variable; error if unset
//	env("NAME", "default") with a default
//	file("path")           a file's text, relative to the spec folder
//
// Variables take their value from LoadOptions.Vars (-var), then the
// environment variable POLYGLOT_VAR_<name>, then their default.
//
// # Sensitive values
//
// env() results and variables declared sensitive carry the cty mark
// Sensitive, which propagates through expressions. Addresses holding such
// values are listed in Experiment.Sensitive; Redact, FormatValue and
// Experiment.String show them as "(sensitive)". Unmark strips the marks and
// returns their paths for values that must be sent on, e.g. to a plugin.
//
// # Implementation notes
//
// Blocks are described by a small declarative schema (schema.go) rather than
// gohcl struct tags, because gohcl drops cty marks and per-attribute ranges
// and cannot express defaults; each block evaluates to a cty object (what
// references see) and is then read into its typed struct. The dependency
// sort is a plain depth-first search: specs have tens of nodes.
// WriteDiagnostics is hand-written because hcl's text writer prints
// "on FILE line N" without the file:line:col that editors link.
package spec
