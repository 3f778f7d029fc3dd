package spec

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// The reference is generated from the block specs the loader uses (names,
// types, required flags, schema defaults, nesting) so that it cannot drift
// from what the loader accepts. Only the prose lives here: a description per
// block and attribute, the allowed values of enum attributes, and the
// defaults the loader computes in code instead of declaring in the schema.
// reference_test.go fails when an attribute has no description, when a
// description names an attribute that no longer exists, and when an enum
// list here disagrees with the loader's error message.

// refBlock ties a block type to its spec and prose.
type refBlock struct {
	typeName string
	label    string // "" for unlabeled blocks
	spec     *blockSpec
	count    string // how many may appear
	doc      string
}

// attrDoc is the prose of one attribute. Addresses are "BLOCK.ATTR" or
// "BLOCK.NESTED.ATTR".
type attrDoc struct {
	doc     string
	def     string   // default computed in code; only for attributes without a schema default
	allowed []string // enum values
}

// topBlocks documents the top-level blocks in the order of rootSchema.
// variable, locals and required_plugins have no blockSpec: their bodies are
// decoded by hand (variableSchema) or are free-form.
var topBlocks = map[string]refBlock{
	"experiment": {label: "NAME", spec: experimentSpec, count: "exactly one",
		doc: "Names the experiment and sets its axes: target languages, random seeds, data sizes and the spend cap."},
	"variable": {label: "NAME", count: "any number",
		doc: "An input value, referenced as `var.NAME`. The value comes from `-var NAME=VALUE`, then the environment variable `POLYGLOT_VAR_NAME`, then `default`; a variable without a default must be set."},
	"locals": {count: "any number (merged)",
		doc: "Named expressions, referenced as `local.NAME`. Each attribute of the block is one local: `locals { prefix = \"run\" }`."},
	"required_plugins": {count: "any number (merged)",
		doc: "Plugins the experiment needs beyond the built-ins. Each attribute is `NAME = { source = \"...\", version = \">= 0.1.0\" }`; `version` is a version constraint checked against the installed plugin. An installed plugin named like a built-in (`openai`, ...) is refused, since it would receive the built-in's configuration and API keys, unless its entry says `replaces_builtin = true`."},
	"seeds":     {label: "NAME", spec: seedsSpec, count: "any number", doc: "A seed data set: human-written (prompt, response) rows that strategies consume. The data is read when the experiment runs, not at load time."},
	"teacher":   {label: "NAME", spec: teacherSpec, count: "any number", doc: "A candidate teacher model, served by a teacher plugin. The `config {}` block belongs to the plugin; see the plugin section of this reference or `polyglot plugins describe PLUGIN`."},
	"control":   {label: "NAME", spec: controlSpec, count: "any number", doc: "A negative control: a pseudo-teacher whose data is seed data damaged in a known way. It is ranked next to the teachers; the metrics in `caught_by` are expected to rank it last."},
	"strategy":  {label: "NAME", spec: strategySpec, count: "any number", doc: "How a teacher turns seed rows into (prompt, response) pairs: one or more steps, each a call to a teacher with a template, then `emit` names the final pair. Templates use placeholders such as `{{language}}`, `{{seed.prompt}}`, `{{examples}}`, `{{task_family}}` and `{{steps.NAME.text}}`."},
	"metric":    {label: "NAME", spec: metricSpec, count: "any number", doc: "An intrinsic metric, computed per cell by a metric plugin over a sample of the cell's data."},
	"student":   {label: "NAME", spec: studentSpec, count: "any number", doc: "A student model that is finetuned on each cell's data and evaluated on the benchmarks (extrinsic quality). The base model and the reference are trained and evaluated too, for the Performance Gap Recovered."},
	"benchmark": {label: "NAME", spec: benchmarkSpec, count: "any number", doc: "A benchmark the students are evaluated on. The trainer plugin decides how `task` is run."},
	"server": {label: "NAME", spec: serverSpec, count: "any number",
		doc: "A model server polyglot starts, watches and stops: vLLM, SGLang, llama.cpp's `llama-server`, Ollama, or any command that serves HTTP. Configs of teachers and metrics refer to it as `server.NAME.url` (its OpenAI base URL, `http://HOST:PORT/v1`) or `server.NAME.address` (`http://HOST:PORT`); until the server runs these are placeholders (`http://NAME.server.polyglot.invalid`) that polyglot replaces when a unit opens, so the plan, cache keys and stored configs do not depend on the node or port the server gets. The server starts when the first unit whose config refers to it is ready to run, is shared by every such unit, and stops after the last one, at the end of the run or on Ctrl-C (`--keep-servers` leaves it up for the next run, which re-attaches; `--max-servers N` bounds how many run at once). Its log is `STORE/servers/NAME/logs/`; a server that dies is restarted up to `restarts` times while the units waiting on it resume, and one that cannot start fails its units with the engine's last log lines."},
	"dataset": {label: "NAME", spec: datasetSpec, count: "any number",
		doc: "A training set built from the scored study by `polyglot export --compose NAME` (`polyglot plan --compose NAME` shows its expected rows first). Per language it picks teachers by `rule` from the PG-Score ranking (negative controls never; the reference data of controls is real data and may win), takes their rows in the store's order up to the size, drops exact and near duplicates across teachers and strategies (the duplicates metric's MinHash), rows that overlap benchmark items and rows the langid metric judged off target, and writes `data/LANG/{train,heldout}.{jsonl,parquet}` (Hugging Face `messages` with provenance per row), a dataset card with a config per language and one for all, `dropped.csv` (every dropped row and why; contaminated rows with the benchmark item they hit) and `summary.json`. Rows stream; memory grows only with one language's deduplication index (about 1 KB a kept row: its signature, LSH buckets and id; 1.4 M rows of 10 languages composed in a peak RSS under 5× a plain export's)."},
	"score":     {spec: scoreSpec, count: "at most one", doc: "How the Polyglot Score is computed (docs/method.md §5). Without a score block every attribute takes its default."},
	"screening": {spec: screeningSpec, count: "at most one", doc: "Adaptive screening (docs/method.md §9): every cell first generates a prefix of its data, stage by stage; after each stage the teachers clearly behind are dropped and the rest of the budget goes to the others. Each stage's data is a prefix of the next one's, so nothing is generated twice, and a dropped teacher keeps its partial scores, marked as such. Set `enabled = false` to continue a screened run in full."},
}

// nestedDocs describe nested blocks, by address.
var nestedDocs = map[string]string{
	"dataset.dedup":         "Deduplication across the dataset's teachers and strategies, within a language: a row is compared, as prompt and response together, with every row kept before it (and with the seed rows when `seeds` is true); the first of a group is kept.",
	"dataset.decontaminate": "Decontamination: a row is dropped when its prompt or response shares an n-gram of tokens with a benchmark item. Texts are normalised (NFKC, lower case) and cut into words at non-letters, each character of scripts written without spaces being a word. An item shorter than `ngram` tokens but at least `min_tokens` long matches when it occurs whole; shorter items are not checked (counted in the summary). Item files: JSONL/JSON lines, CSV, TSV (MGSM's headerless `question<TAB>answer` too) or Parquet; the fields compared are `question` and its options (`choices`, `option_a`..., Global-MMLU-Lite's shape), or `prompt` (M-RewardBench), or `fields`.",
	"seeds.columns":         "Column names in the seed files, for files whose columns are named differently.",
	"teacher.price":         "Price in USD per million tokens, used for cost estimates and budgets.",
	"teacher.sampling":      "Decoding parameters. An attribute left out takes the model family's recommended value (gemma: T=1.0, top-p 0.95, top-k 64; llama: T=0.6, top-p 0.9; aya, command: T=0.3; others: T=0.8, top-p 0.9), which a plugin may refine.",
	"teacher.limits":        "Traffic and spend limits of this teacher, enforced by the host for every call (generation and judge calls alike).",
	"strategy.input":        "Which seed rows the strategy consumes.",
	"strategy.step":         "One call to a teacher. Steps run in order; later templates can use earlier outputs as `{{steps.NAME.text}}` or `{{steps.NAME.FIELD}}`.",
	"strategy.emit":         "Where the final (prompt, response) pair comes from.",
	"student.executor":      "Where training and evaluation jobs run. The label is the executor kind; without the block jobs run locally.",
	"server.ready":          "How polyglot decides that the server is up: it polls `path` on the server until it answers 200.",
	"server.executor":       "Where the server runs. The label is the executor kind; without the block it runs on this machine. On Slurm the server is a job; its node is read from the job and the port chosen before submission, and a restarted polyglot re-attaches to a server job that is still running.",
}

// nestedLabels are the allowed labels of labeled nested blocks.
var nestedLabels = map[string][]string{
	"student.executor": executorKinds,
	"server.executor":  executorKinds,
}

// variableDocs document variableSchema's attributes (decoded by hand in
// variable.go, so they have no blockSpec).
var variableDocs = map[string][2]string{ // name -> {type, description}
	"type":        {"type expression", "type constraint such as `string`, `number`, `list(string)` or `map(number)`; the value is converted to it"},
	"default":     {"any", "value used when neither `-var` nor `POLYGLOT_VAR_NAME` sets one; without it the variable is required"},
	"description": {"string", "what the variable is for"},
	"sensitive":   {"bool", "hide the value in output and plan keys (default false); env() results are sensitive anyway"},
}

var attrDocs = map[string]attrDoc{
	"experiment.languages":         {doc: "target languages as BCP-47 tags, e.g. `[\"ar\", \"de\", \"pt-BR\"]`; each becomes a cell per teacher"},
	"experiment.seeds":             {doc: "random seeds; the whole experiment is repeated once per seed"},
	"experiment.store":             {doc: "folder of the experiment store (results, caches, artifacts), relative to the spec folder"},
	"experiment.examples_per_cell": {doc: "examples generated per (teacher, language) and seed, split between strategies by their `share`"},
	"experiment.metric_sample":     {doc: "examples per cell that metrics see, stratified by strategy"},
	"experiment.budget_usd":        {doc: "spend cap in USD for the whole experiment, over every run of its store", def: "no cap"},
	"experiment.allow_read":        {doc: "folders (or files) outside the spec folder that `file()`, `template`, `system` and seed `path` may read, as literal paths relative to the spec folder; otherwise a spec reads only inside its folder (also: `--allow-read DIR`, and paths given as `-var` values)", def: "none"},

	"seeds.path":     {doc: "file or glob (`data/*.jsonl`), relative to the spec folder"},
	"seeds.format":   {doc: "file format", def: "from the file extension", allowed: seedFormats},
	"seeds.language": {doc: "language of every row, for files without a language column", def: "the language column"},

	"seeds.columns.id":         {doc: "column holding a stable row id"},
	"seeds.columns.prompt":     {doc: "column holding the prompt"},
	"seeds.columns.response":   {doc: "column holding the response"},
	"seeds.columns.language":   {doc: "column holding the row's BCP-47 language tag"},
	"seeds.columns.strategies": {doc: "column listing the strategies a row may feed (empty: any)"},
	"seeds.columns.tags":       {doc: "column holding tags that `strategy.input.tags` selects on"},

	"teacher.plugin":             {doc: "teacher plugin, `\"NAME\"` or `\"NAME/COMPONENT\"`"},
	"teacher.model":              {doc: "model name sent to the plugin, e.g. `\"gpt-4o\"`"},
	"teacher.family":             {doc: "model family (`gemma`, `llama`, `qwen`, `aya`, `command`, `gpt`, ...), used for sampling defaults and teacher-student family matching", def: "none"},
	"teacher.parameters":         {doc: "parameter count, for the scale analysis", def: "unknown"},
	"teacher.benchmark_strength": {doc: "the teacher's own benchmark score, for the analysis of whether strength predicts effectiveness", def: "unknown"},
	"teacher.batch":              {doc: "use the provider's batch API (cheaper, slower) when the plugin supports one; resumes polling after a restart; each step of every strategy must call this teacher (`self`)"},
	"teacher.batch_max_requests": {doc: "with `batch = true`, the most calls in one provider batch; a larger unit is sent as several batches (also split at about 100 MB of request text)"},
	"teacher.context_tokens":     {doc: "the model's context window in tokens; seed prompts too long to fit with max_tokens of answer are skipped", def: "no limit"},
	"teacher.generate":           {doc: "false for a teacher that only serves other blocks (an LM judge, the translation model of a two-step strategy): it generates no cells and is not ranked"},

	"teacher.price.input_per_mtok":  {doc: "USD per million input tokens"},
	"teacher.price.output_per_mtok": {doc: "USD per million output tokens"},

	"teacher.sampling.temperature": {doc: "sampling temperature (0 or more)", def: "family default"},
	"teacher.sampling.top_p":       {doc: "nucleus sampling mass, in (0, 1]", def: "family default"},
	"teacher.sampling.top_k":       {doc: "top-k sampling (sent only where the API takes it)", def: "family default"},
	"teacher.sampling.max_tokens":  {doc: "output token limit per call; a step's `max_tokens` wins", def: "plugin default"},
	"teacher.sampling.seed":        {doc: "sampling seed sent to APIs that take one", def: "none"},
	"teacher.sampling.stop":        {doc: "stop sequences", def: "none"},

	"teacher.limits.concurrency":         {doc: "calls in flight at once"},
	"teacher.limits.requests_per_minute": {doc: "request rate limit (0: unlimited)"},
	"teacher.limits.tokens_per_minute":   {doc: "token rate limit (0: unlimited)"},
	"teacher.limits.timeout":             {doc: "time limit of one attempt of a call, a Go duration such as `\"90s\"`; the one per-request timeout, sent to the plugin with every call (plugins have no timeout of their own)"},
	"teacher.limits.max_retries":         {doc: "retries after rate limits, server errors and timeouts, with backoff"},
	"teacher.limits.max_retry_wait":      {doc: "longest wait a provider may ask for before a retry (`Retry-After`, rate-limit reset headers); a longer one stops the teacher with an error, its requests kept for the next run"},
	"teacher.limits.budget_usd":          {doc: "spend cap in USD for this teacher, over every run of the store", def: "no cap"},
	"teacher.limits.reasks":              {doc: "re-asks after a structured output that does not parse (a failure is recorded either way)"},
	"teacher.limits.adaptive":            {doc: "lower concurrency on rate-limit answers and raise it again when they stop"},

	"control.kind":      {doc: "the corruption applied to the seed data", allowed: controlKinds},
	"control.seeds":     {doc: "seeds block the control is built from, `\"NAME\"` or `seeds.NAME`"},
	"control.caught_by": {doc: "metrics expected to catch this control, i.e. to rank it below the real teachers; `\"NAME\"` or one value of a metric, `\"NAME.VALUE\"` (e.g. `\"diversity.response\"`)", def: "none"},
	"control.fraction":  {doc: "share of rows corrupted, in (0, 1]"},

	"strategy.share":      {doc: "relative share of a cell's examples (shares are normalised over the strategies)"},
	"strategy.in_context": {doc: "number of seed pairs shown as in-context examples (`{{examples}}`); the study's generate strategy uses 3"},

	"strategy.input.seeds":    {doc: "seeds block to read, `\"NAME\"` or `seeds.NAME`", def: "every seeds block"},
	"strategy.input.language": {doc: "`\"target\"` takes rows in the cell's language; a BCP-47 tag (e.g. `\"en\"`) takes rows in that language, as the translate strategy does"},
	"strategy.input.tags":     {doc: "only rows carrying one of these tags", def: "all rows"},

	"strategy.step.teacher":    {doc: "`\"self\"` (the cell's teacher) or another teacher's name, e.g. a fixed judge or translator"},
	"strategy.step.system":     {doc: "system message template file, relative to the spec folder", def: "none"},
	"strategy.step.template":   {doc: "user message template file, relative to the spec folder"},
	"strategy.step.output":     {doc: "what the call returns", allowed: []string{"text", "json"}},
	"strategy.step.schema":     {doc: "fields a json step must return, each with a type", def: "none", allowed: schemaTypes},
	"strategy.step.max_tokens": {doc: "output token limit of this step, overriding the teacher's", def: "the teacher's"},

	"strategy.emit.prompt":   {doc: "source of the final prompt: `seed.FIELD` or `steps.NAME.FIELD`"},
	"strategy.emit.response": {doc: "source of the final response", def: "`steps.LAST.text`, or `steps.LAST.response` for a json step"},

	"metric.plugin":    {doc: "metric plugin, `\"NAME\"` or `\"NAME/COMPONENT\"`"},
	"metric.direction": {doc: "whether higher values are better; overrides the plugin's own direction", def: "the plugin's", allowed: []string{"higher", "lower", "none"}},
	"metric.in_score":  {doc: "include the metric in the intrinsic part of the score (unless `score.metrics` lists metrics explicitly)"},
	"metric.sample":    {doc: "examples per cell this metric sees", def: "`experiment.metric_sample`"},

	"student.base_model":      {doc: "base model to finetune (hub id or path)"},
	"student.family":          {doc: "model family, for teacher-student family matching", def: "none"},
	"student.reference":       {doc: "reference model for the Performance Gap Recovered: the same base after a strong, known SFT", def: "none"},
	"student.trainer":         {doc: "trainer plugin, `\"NAME\"` or `\"NAME/COMPONENT\"`"},
	"student.hyperparameters": {doc: "object of training hyper-parameters passed to the trainer, e.g. `{ learning_rate = 5e-5, epochs = 2 }`; the trainer checks the keys", def: "the trainer's defaults"},

	"student.executor.partition": {doc: "slurm partition (required for slurm)", def: "none"},
	"student.executor.account":   {doc: "slurm account", def: "none"},
	"student.executor.qos":       {doc: "slurm quality of service", def: "none"},
	"student.executor.time":      {doc: "slurm time limit, e.g. `\"04:00:00\"`", def: "none"},
	"student.executor.gpus":      {doc: "GPUs per job", def: "none"},
	"student.executor.extra":     {doc: "extra scheduler options, e.g. `{ constraint = \"a100\" }`", def: "none"},

	"server.engine":        {doc: "what serves the model; the engine decides the command line (rendered from the engine's own argument list at a pinned version), the port flag and the readiness route", allowed: Engines},
	"server.model":         {doc: "the model the engine loads (hub id or path for vLLM and SGLang, a GGUF path for llama.cpp, a tag for Ollama) and the name clients ask for (`server.NAME.model`)", def: "required except for `command` and `ollama` (which serves every model it has)"},
	"server.command":       {doc: "the engine's executable and leading arguments, replacing its default (`vllm`, `python3 -m sglang.launch_server`, `llama-server`, `ollama`); for `engine = \"command\"` the whole command line, where `{host}`, `{port}` and `{model}` are replaced", def: "the engine's"},
	"server.args":          {doc: "extra engine arguments, appended; checked against the engine's argument list where one is known", def: "none"},
	"server.env":           {doc: "environment variables added to the server's", def: "none"},
	"server.port":          {doc: "port the server listens on; 0 chooses a free port when it starts (locally) or before the job is submitted (Slurm)"},
	"server.restarts":      {doc: "how many times a server that dies is started again before the units waiting on it fail"},
	"server.hold_estimate": {doc: "how long you expect the server to be held, shown by `plan` and used for its GPU-hour estimate, e.g. `\"3h\"`", def: "unknown"},

	"server.ready.path":     {doc: "route polled until it answers 200", def: "`\"/health\"` for llama.cpp, `\"/v1/models\"` otherwise"},
	"server.ready.timeout":  {doc: "how long the server may take to become ready before its units fail with its last log lines"},
	"server.ready.interval": {doc: "time between two polls"},

	"server.executor.partition": {doc: "slurm partition (required for slurm)", def: "none"},
	"server.executor.account":   {doc: "slurm account", def: "none"},
	"server.executor.qos":       {doc: "slurm quality of service", def: "none"},
	"server.executor.time":      {doc: "time limit of the server job, e.g. `\"12:00:00\"` or `\"12h\"`", def: "none"},
	"server.executor.gpus":      {doc: "GPUs of the server; also what the report's GPU-hours count", def: "none"},
	"server.executor.cpus":      {doc: "CPUs per task", def: "none"},
	"server.executor.memory":    {doc: "memory, e.g. `\"64G\"`", def: "none"},
	"server.executor.gres":      {doc: "generic resources, e.g. `\"gpu:a100:2\"`, instead of `gpus`", def: "none"},
	"server.executor.extra":     {doc: "extra scheduler options, e.g. `{ constraint = \"a100\" }`", def: "none"},

	"benchmark.languages": {doc: "languages the benchmark exists for", def: "`experiment.languages`"},
	"benchmark.task":      {doc: "task name or path as the trainer's evaluation harness knows it", def: "the block name"},
	"benchmark.shots":     {doc: "few-shot examples"},
	"benchmark.metric":    {doc: "the harness metric read as the score"},
	"benchmark.weight":    {doc: "weight in the mean over benchmarks (greater than 0)"},

	"dataset.rule":                     {doc: "how each language's teachers are picked: `best` (the best-ranked teacher), `best_strategy` (the best teacher × strategy cell), `top_k` (the `k` best, rows in proportion to their PG-Score) or `table` (the weights in `table`)", allowed: []string{"best", "best_strategy", "top_k", "table"}},
	"dataset.k":                        {doc: "teachers per language under `rule = \"top_k\"`"},
	"dataset.pool":                     {doc: "under `best` and `best_strategy`, also take the teachers whose score the confidence intervals cannot tell apart from the best, mixed in proportion to PG-Score"},
	"dataset.table":                    {doc: "under `rule = \"table\"`: language (or `\"*\"` for the others; rows of languages the experiment lacks are unused) → `{ TEACHER = weight }` or `{ \"TEACHER/STRATEGY\" = weight }`"},
	"dataset.rows":                     {doc: "rows per language (0: every row that passes the filters)"},
	"dataset.tokens":                   {doc: "instead of rows: tokens (words of prompt and response, as the decontamination counts them) per language (0: no bound)"},
	"dataset.strategy_mix":             {doc: "strategy → weight: each teacher's rows are split between the strategies in these proportions; strategies not named are left out", def: "every strategy as generated"},
	"dataset.held_out":                 {doc: "share of rows put in the `heldout` split, in [0, 1); which rows is fixed by `split_seed` and the row's id"},
	"dataset.split_seed":               {doc: "seed of the train/held-out split"},
	"dataset.langid":                   {doc: "rows whose prompt or response the langid metric identified as another language than the row's: `drop` them, `keep` them (counted), or `off` (not read)", allowed: []string{"drop", "keep", "off"}},
	"dataset.langid_metric":            {doc: "the metric block whose per-example values the language filter reads", def: "the metric using the `langid` plugin"},
	"dataset.system":                   {doc: "the system prompt the teacher answered under: a `system` field, also the first turn of `messages`, or left out", allowed: []string{"field", "messages", "none"}},
	"dataset.license":                  {doc: "Hugging Face licence id of the dataset card"},
	"dataset.license_name":             {doc: "the card's `license_name` when the licence is `other`", def: "`teacher-model-terms`"},
	"dataset.license_link":             {doc: "the card's `license_link` when the licence is `other`", def: "a LICENSE.md written next to the card"},
	"dataset.dedup.exact":              {doc: "drop rows equal to an earlier one after normalisation"},
	"dataset.dedup.near":               {doc: "drop rows whose estimated Jaccard similarity with an earlier one reaches `threshold`"},
	"dataset.dedup.threshold":          {doc: "near-duplicate threshold, in (0, 1]"},
	"dataset.dedup.shingle":            {doc: "characters per MinHash shingle, in 1..64"},
	"dataset.dedup.seeds":              {doc: "also drop rows that duplicate a row of the experiment's seed data"},
	"dataset.decontaminate.files":      {doc: "benchmark item files, relative to the spec folder; `{lang}` is replaced by each language (a language without its file is listed as unchecked)"},
	"dataset.decontaminate.ngram":      {doc: "tokens per n-gram, in 1..64"},
	"dataset.decontaminate.min_tokens": {doc: "items shorter than this are too short to check; in 1..`ngram`"},
	"dataset.decontaminate.fields":     {doc: "item fields to compare (strings or lists of strings)", def: "by file shape"},
	"score.alpha":                      {doc: "weight of intrinsic against extrinsic quality, in [0, 1]"},
	"score.metrics":                    {doc: "metrics in the intrinsic part: `\"NAME\"` (every value the metric reports) or `\"NAME.VALUE\"` (one of them, e.g. `\"diversity.prompt\"`)", def: "every metric with `in_score = true`"},
	"score.pgr":                        {doc: "`ratio_then_mean`: PGR per benchmark, then the mean (the paper's equation); `mean_then_ratio`: mean of the scores, then one ratio (the study's code)", allowed: []string{"ratio_then_mean", "mean_then_ratio"}},
	"score.standardize":                {doc: "`published`: the sum of pooled z-scores as in the published tables; `restandardized`: the sum standardised again, as the paper's text says", allowed: []string{"published", "restandardized"}},
	"score.confidence":                 {doc: "confidence level of the intervals, in (0, 1)"},
	"score.bootstrap":                  {doc: "bootstrap resamples for the intervals (0: none)"},
	"score.alphas":                     {doc: "alphas of the robustness analysis (rank correlation between the rankings of all teacher × language cells, and of teacher averages)", def: formatNums(defaultAlphas)},
	"score.pca":                        {doc: "features of the PCA: `scored` (every metric present in all cells, oriented as in the score) or `study` (the study's six, raw: prompt and response diversity, perplexity, judge, prompt and response length)", allowed: []string{"scored", "study"}},
	"score.components":                 {doc: "principal components the regressions of student results use (0: the fewest explaining at least 90 % of the variance)"},
	"score.min_examples":               {doc: "a cell with fewer generated examples than this (or than it asked for, if that is fewer) is reported but not ranked"},
	"screening.stages":                 {doc: "examples per cell each stage scores, increasing and below `experiment.examples_per_cell`, which is the final stage; e.g. `[500, 2000]`"},
	"screening.score":                  {doc: "what a stage decides on: `intrinsic` (the intrinsic part of the PG-Score over the score block's metrics) or `metrics` (the intrinsic part over `metrics` only); students are trained only on the survivors' full data", allowed: []string{"intrinsic", "metrics"}},
	"screening.metrics":                {doc: "with `score = \"metrics\"`: the metrics a stage decides on, `\"NAME\"` or `\"NAME.VALUE\"`", def: "none"},
	"screening.rule":                   {doc: "`racing`: drop a teacher once its confidence interval lies wholly below the best's; `halving`: keep the best `keep` share at each stage", allowed: []string{"racing", "halving"}},
	"screening.scope":                  {doc: "`language`: decide within each language (a teacher may stay in one and be dropped in another); `overall`: decide on the teacher's mean over languages and drop it everywhere", allowed: []string{"language", "overall"}},
	"screening.min_keep":               {doc: "teachers every decision keeps at least (per language, or overall)"},
	"screening.keep":                   {doc: "with `rule = \"halving\"`: share of teachers kept at each stage, in (0, 1)"},
	"screening.confidence":             {doc: "with `rule = \"racing\"`: confidence level of the compared intervals, in (0, 1)"},
	"screening.enabled":                {doc: "false continues a screened run without screening: every cell, dropped or not, generates the rest of its data; nothing done is lost (unit and request keys do not depend on this block)"},
	"screening.assume_noise":           {doc: "per-example noise of the stage score, in units of the spread of teacher effects, that `plan`'s expected cost assumes (docs/method.md §9.3)"},
	"score.min_example_share":          {doc: "a cell that generated less than this share of the examples it asked for (the rest failed) is reported but not ranked, in [0, 1]"},
}

// Reference returns the Markdown reference of the spec language: every
// block, its attributes with type, default, allowed values and meaning,
// and the expression functions.
func Reference() string {
	var b strings.Builder
	b.WriteString("# Spec reference\n\n")
	b.WriteString("An experiment is the set of `*.hcl` files in one folder, read in name order as one document. ")
	b.WriteString("Relative paths resolve against that folder. This reference is generated from the loader's own schema ")
	b.WriteString("(`polyglot docs`); plugin `config {}` blocks are described by the plugins (`polyglot docs --plugins`).\n\n")
	b.WriteString("Blocks:")
	for i, h := range rootSchema.Blocks {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " [`%s`](#%s)", h.Type, h.Type)
	}
	b.WriteString(".\n")
	for _, h := range rootSchema.Blocks {
		rb := topBlocks[h.Type]
		rb.typeName = h.Type
		if len(h.LabelNames) == 0 {
			rb.label = ""
		}
		writeTop(&b, rb)
	}
	writeExpressions(&b)
	return b.String()
}

func header(typeName, label string) string {
	if label == "" {
		return typeName
	}
	return fmt.Sprintf("%s \"%s\"", typeName, label)
}

func writeTop(b *strings.Builder, rb refBlock) {
	fmt.Fprintf(b, "\n<a id=\"%s\"></a>\n## `%s { ... }`\n\n%s\n\nHow many: %s.\n", rb.typeName, header(rb.typeName, rb.label), rb.doc, rb.count)
	switch rb.typeName {
	case "variable":
		b.WriteString("\n| attribute | type | description |\n|---|---|---|\n")
		for _, a := range variableSchema.Attributes {
			d := variableDocs[a.Name]
			fmt.Fprintf(b, "| `%s` | %s | %s |\n", a.Name, d[0], d[1])
		}
		return
	}
	if rb.spec == nil {
		return
	}
	writeSpec(b, rb.typeName, rb.spec)
}

func writeSpec(b *strings.Builder, addr string, bs *blockSpec) {
	if len(bs.attrs) > 0 {
		b.WriteString("\n| attribute | type | default | description |\n|---|---|---|---|\n")
		for _, a := range bs.attrs {
			d := attrDocs[addr+"."+a.name]
			desc := d.doc
			if len(d.allowed) > 0 {
				desc += "; one of " + codeList(d.allowed)
			}
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", a.name, TypeString(a.ty), refDefault(a, d), escapeCell(desc))
		}
	}
	if bs.config {
		b.WriteString("\nA plugin-owned `config { ... }` block is allowed (at most one); its attributes are the plugin's.\n")
	}
	for _, nb := range bs.blocks {
		sub := addr + "." + nb.typeName
		label := ""
		if nb.label != "" {
			label = strings.ToUpper(nb.label)
		}
		fmt.Fprintf(b, "\n### `%s` › `%s { ... }`\n\n%s\n\nHow many: %s.", addr, header(nb.typeName, label), nestedDocs[sub], nestedCount(nb))
		if ls := nestedLabels[sub]; len(ls) > 0 {
			fmt.Fprintf(b, " Label: one of %s.", codeList(ls))
		}
		b.WriteString("\n")
		writeSpec(b, sub, nb.spec)
	}
}

func nestedCount(nb nestedSpec) string {
	switch {
	case nb.min > 0 && nb.max == 0:
		return fmt.Sprintf("at least %d", nb.min)
	case nb.min > 0:
		return fmt.Sprintf("%d to %d", nb.min, nb.max)
	case nb.max == 1:
		return "at most one"
	case nb.max > 1:
		return fmt.Sprintf("at most %d", nb.max)
	}
	return "any number"
}

// TypeString writes a type as a spec author would write its constraint:
// "string", "list(string)", "map(number)", "any".
func TypeString(t cty.Type) string {
	switch {
	case t == cty.DynamicPseudoType:
		return "any"
	case t.IsListType():
		return "list(" + TypeString(t.ElementType()) + ")"
	case t.IsSetType():
		return "set(" + TypeString(t.ElementType()) + ")"
	case t.IsMapType():
		return "map(" + TypeString(t.ElementType()) + ")"
	}
	return t.FriendlyName()
}

func refDefault(a attrSpec, d attrDoc) string {
	switch {
	case a.required:
		return "**required**"
	case a.def != cty.NilVal:
		return "`" + hclLiteral(a.def) + "`"
	case d.def != "":
		return escapeCell(d.def)
	}
	return "none"
}

// hclLiteral writes a default value as it would be written in a spec.
func hclLiteral(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.String:
		return strconv.Quote(v.AsString())
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('g', -1)
	case v.Type() == cty.Bool:
		return strconv.FormatBool(v.True())
	case v.CanIterateElements():
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			parts = append(parts, hclLiteral(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return v.GoString()
}

func formatNums(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return "`[" + strings.Join(parts, ", ") + "]`"
}

func codeList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = "`\"" + x + "\"`"
	}
	return strings.Join(q, ", ")
}

// escapeCell keeps a table cell on one row.
func escapeCell(s string) string {
	return strings.ReplaceAll(s, "|", "\\|")
}

func writeExpressions(b *strings.Builder) {
	b.WriteString("\n<a id=\"expressions\"></a>\n## Expressions\n\n")
	b.WriteString("Any attribute may be an expression. References: `var.NAME`, `local.NAME`, `experiment.ATTR`, `score.ATTR`, and `TYPE.NAME.ATTR` for ")
	b.WriteString(codeListPlain(blockTypes))
	b.WriteString(" blocks; nested blocks are objects (`teacher.x.limits.timeout`). Blocks are evaluated in the order their references require; a cycle is an error.\n\n")
	b.WriteString("`env(\"NAME\")` reads an environment variable and fails when it is unset; `env(\"NAME\", \"default\")` falls back to the default. ")
	b.WriteString("Values from `env()` and from variables declared `sensitive` are sensitive: they are shown as `(sensitive)` and never written into plan keys. ")
	b.WriteString("`file(\"path\")` is a file's text, relative to the spec folder.\n\nFunctions: ")
	names := make([]string, 0, 80)
	for n := range functions("", nil, nil) {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "`%s`", n)
	}
	b.WriteString(".\n")
}

func codeListPlain(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = "`" + x + "`"
	}
	return strings.Join(q, ", ")
}
