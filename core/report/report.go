package report

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/polyglot-teachers/polyglot/core/analysis"
	"github.com/polyglot-teachers/polyglot/core/score"
)

// Model is everything a report shows.
type Model struct {
	Title    string
	Created  time.Time // zero = not shown (keeps reports byte-identical across runs)
	Study    *score.Study
	Result   *score.Result
	Analysis *analysis.Analysis // nil = analysis.Run with default options
	// Examples for the example browser; nil = Study.Examples.
	Examples []score.Example
	// ExamplesShown is how many best and worst examples to show per metric and cell; 0 = 3.
	ExamplesShown int
	// Missing are the results the study lacks because their units failed;
	// the report names each and why, and scores what is there.
	Missing []Missing
	// Servers are the model servers the experiment ran itself, with the
	// GPU time they held: the cost of self-hosted teachers, next to API spend.
	Servers []ServerCost
	// Screening is what a screened run decided; nil without screening.
	Screening *Screening
}

// ServerCost is the GPU time one model server held, summed over runs.
type ServerCost struct {
	Server    string  `json:"server"`
	Engine    string  `json:"engine"`
	Model     string  `json:"model,omitempty"`
	Executor  string  `json:"executor"`
	GPUs      int     `json:"gpus"`
	HeldHours float64 `json:"held_hours"`
	GPUHours  float64 `json:"gpu_hours"`
}

// Missing is a metric or evaluation result whose unit failed.
type Missing struct {
	Stage    string `json:"stage"`
	Unit     string `json:"unit"`
	Metric   string `json:"metric,omitempty"`
	Student  string `json:"student,omitempty"`
	Teacher  string `json:"teacher,omitempty"`
	Language string `json:"language,omitempty"`
	Seed     int    `json:"seed,omitempty"`
	Reason   string `json:"reason"`
}

//go:embed report.html.tmpl
var htmlTemplate string

// ExamplesJS is the example browser's script, which the live view
// (`polyglot ui`) shares: polyglotExamples.mount over a local or a remote
// source of examples.
//
//go:embed examples.js
var ExamplesJS string

// Write writes report.html, report.md, report.json and the CSV tables into dir (created if needed).
func Write(dir string, m *Model) error {
	if m == nil || m.Result == nil || m.Study == nil {
		return fmt.Errorf("report: the model needs a Study and a Result")
	}
	if m.Analysis == nil {
		m.Analysis = analysis.Run(m.Study, m.Result, analysis.Options{Seed: m.Result.Settings.Seed})
	}
	if m.Title == "" {
		m.Title = "polyglot report"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	v := newView(m)
	var html bytes.Buffer
	if err := pageTemplate.Execute(&html, v); err != nil {
		return fmt.Errorf("report: rendering report.html: %w", err)
	}
	files := map[string][]byte{"report.html": html.Bytes(), "report.md": markdown(v)}
	js, err := json.MarshalIndent(jsonSafe(reflect.ValueOf(struct {
		Title     string             `json:"title"`
		Created   string             `json:"created,omitempty"`
		Result    *score.Result      `json:"result"`
		Analysis  *analysis.Analysis `json:"analysis"`
		Missing   []Missing          `json:"missing,omitempty"`
		Servers   []ServerCost       `json:"servers,omitempty"`
		Screening *Screening         `json:"screening,omitempty"`
	}{m.Title, v.Created, m.Result, m.Analysis, m.Missing, m.Servers, m.Screening})), "", "  ")
	if err != nil {
		return fmt.Errorf("report: report.json: %w", err)
	}
	files["report.json"] = js
	for name, rows := range tables(v) {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		if err := w.WriteAll(rows); err != nil {
			return fmt.Errorf("report: %s: %w", name, err)
		}
		files[name] = b.Bytes()
	}
	for name, data := range files {
		if err := writeAtomic(filepath.Join(dir, name), data); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	return nil
}

// writeAtomic replaces path with data through a temporary file and a
// rename, so a run killed while writing the report leaves the previous
// file whole rather than half a new one.
func writeAtomic(path string, data []byte) error {
	// A run killed while writing left its temporary file; only a report
	// write makes these, and a store has one run at a time.
	if stale, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".*")); len(stale) > 0 {
		for _, p := range stale {
			if suffix := p[strings.LastIndexByte(p, '.')+1:]; strings.Trim(suffix, "0123456789") == "" {
				os.Remove(p)
			}
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"num": num,
	"pct": func(v float64) string { return fmt.Sprintf("%.1f%%", v*100) },
	"ci": func(c *score.Interval) string {
		if c == nil {
			return "–"
		}
		return fmt.Sprintf("[%s, %s]", num(c.Lo), num(c.Hi))
	},
	"mark":      mark,
	"add1":      func(i int) int { return i + 1 },
	"savedText": savedText,
	"undNote": func(ms []score.MetricStat) string {
		if hasLangid(ms) {
			return undNote
		}
		return ""
	},
}).Parse(htmlTemplate))

// mark is the symbol for a standing: ★ best, ≈ indistinguishable from it, ? no information.
func mark(s string) string {
	switch s {
	case score.StandingBest:
		return "★"
	case score.StandingIndistinguishable:
		return "≈"
	case score.StandingUnknown:
		return "?"
	}
	return ""
}

type controlRow struct {
	Control, Kind, Language string
	Cells                   []controlCell
}

type controlCell struct {
	Present, Designated, Caught bool
	Control, Reference          float64
	Effect, RelEffect           float64
	CI                          *score.Interval
	Test                        string
}

type alphaRow struct {
	Alpha float64
	Rho   []float64
}

// alphaTable is one α-robustness matrix with its label.
type alphaTable struct {
	Title, Level string
	Primary      bool // the study's cell-level form, which the advice uses
	N, MinN      int
	Rows         []alphaRow
}

// view is the report's data, prepared once for the HTML, Markdown and CSV writers.
type view struct {
	*Model
	Created    string
	Settings   score.Settings
	Languages  []string
	RankingSVG template.HTML
	HeatmapSVG template.HTML
	// LangCells are the ranking cells by language, best rank first.
	LangCells []score.CellScore
	// BestStrategyCols: some language has a best strategy (else those columns are left out).
	BestStrategyCols bool
	// ScaleWhy says in one line why the scale analysis has nothing to show ("" = it has).
	ScaleWhy string
	// ExamplesJSON is every example, for the example browser's script.
	ExamplesJSON   template.JS
	ExamplesScript template.JS
	ExampleCount   int
	ScreeSVG       template.HTML
	ScaleSVG       template.HTML
	InExSVG        template.HTML
	Alpha          []alphaTable
	ControlMetrics []string
	ControlRows    []controlRow
	StrategyLangs  []string
	WarningCount   int
	// GenerationRows are the cells with failed requests (worst first).
	GenerationRows []score.CellGeneration
	// MinControlEffect is the effect a control needs when no interval exists.
	MinControlEffect float64
}

func newView(m *Model) *view {
	v := &view{Model: m, Settings: m.Result.Settings, Languages: m.Result.Languages, MinControlEffect: analysis.MinControlEffect,
		ExamplesScript: template.JS(ExamplesJS)}
	if !m.Created.IsZero() {
		v.Created = m.Created.UTC().Format(time.RFC3339)
	}
	res, a := m.Result, m.Analysis
	var teachers []string
	style := map[string]int{} // a teacher's colour and shape, by its place in the ranking
	var fr []forestRow
	for i, t := range res.Teachers {
		teachers = append(teachers, t.Teacher)
		style[t.Teacher] = i
		r := forestRow{Teacher: t.Teacher, Standing: t.Standing, PG: t.PG, Style: i}
		if t.CI != nil {
			r.CI = &[2]float64{t.CI.Lo, t.CI.Hi}
		}
		fr = append(fr, r)
	}
	if len(fr) > 0 {
		v.RankingSVG = forest("ranking-chart", "PG-Score (mean over languages of α·intrinsic + (1−α)·extrinsic; z units)", fr)
	}
	pg := map[[2]string]float64{}
	standing := map[[2]string]string{}
	for _, c := range res.Cells {
		pg[[2]string{c.Teacher, c.Language}] = c.PG
		standing[[2]string{c.Teacher, c.Language}] = c.Standing
	}
	if len(res.Cells) > 0 {
		v.HeatmapSVG = heatmap("heatmap", teachers, res.Languages, func(r, c string) (float64, bool) {
			x, ok := pg[[2]string{r, c}]
			return x, ok
		}, func(r, c string) bool { return standing[[2]string{r, c}] == score.StandingBest })
	}
	v.LangCells = append([]score.CellScore(nil), res.Cells...)
	sort.SliceStable(v.LangCells, func(i, j int) bool {
		a, b := v.LangCells[i], v.LangCells[j]
		if a.Language != b.Language {
			return a.Language < b.Language
		}
		return a.Rank < b.Rank
	})
	for _, b := range a.BestByLanguage {
		if b.Strategy != "" || b.StrategyTeacher != "" {
			v.BestStrategyCols = true
		}
	}
	if a.PCA != nil {
		v.ScreeSVG = scree("scree", a.PCA.Explained, a.PCA.Cumulative)
	}
	var sp []point
	for _, t := range res.Teachers {
		if p := m.Study.Teacher(t.Teacher).Parameters; p > 0 {
			sp = append(sp, point{math.Log10(p), t.PG, t.Teacher, style[t.Teacher]})
		}
	}
	styles := func(pts []point) (names []string, st []int) {
		seen := map[int]bool{}
		for _, p := range pts {
			seen[p.style] = true
		}
		for i, t := range teachers {
			if seen[i] {
				names, st = append(names, t), append(st, i)
			}
		}
		return names, st
	}
	if len(sp) > 0 {
		var line *[2]float64
		if f := a.ScaleParams; f != nil {
			line = &[2]float64{f.Intercept, f.Slope}
		}
		n, st := styles(sp)
		v.ScaleSVG = scatter("scale", "PG-Score against log10(parameter count)", "log10(parameter count)", "PG-Score (z units)", sp, line, n, st)
	}
	if a.ScaleParams == nil && a.ScaleStrength == nil && len(sp) == 0 {
		v.ScaleWhy = "Not run: no teacher declares its parameter count or benchmark strength."
		for _, n := range a.Notes {
			if strings.HasPrefix(n, "PG vs ") {
				v.ScaleWhy = "Not run: " + n
				break
			}
		}
	}
	var ie []point
	for _, c := range res.Cells {
		if c.HasIntrinsic && c.HasExtrinsic {
			st, ok := style[c.Teacher]
			if !ok {
				st = -1
			}
			ie = append(ie, point{c.Intrinsic, c.Extrinsic, c.Teacher + " / " + c.Language, st})
		}
	}
	if len(ie) > 0 {
		n, st := styles(ie)
		v.InExSVG = scatter("inex", "Intrinsic against extrinsic quality per cell", "intrinsic (mean z-score of the metrics)", "extrinsic (PGR, share of the gap closed)", ie, nil, n, st)
	}
	for _, am := range []*analysis.AlphaMatrix{a.AlphaRobustness, a.AlphaTeachers} {
		if am == nil {
			continue
		}
		t := alphaTable{Title: "teacher × language cells", Level: "cells", Primary: am.Level == "cells", N: am.N, MinN: am.MinN}
		if !t.Primary {
			t.Title, t.Level = "teacher averages", "teachers"
		}
		for i, al := range am.Alphas {
			t.Rows = append(t.Rows, alphaRow{al, am.Rho[i]})
		}
		v.Alpha = append(v.Alpha, t)
	}
	for _, g := range res.Generation {
		if g.Failures > 0 {
			v.GenerationRows = append(v.GenerationRows, g)
		}
	}
	v.controls()
	v.examples()
	for _, d := range res.Diagnostics {
		if d.Severity == "warning" {
			v.WarningCount++
		}
	}
	return v
}

func (v *view) controls() {
	type key struct{ c, l string }
	cells := map[key]map[string]analysis.ControlCheck{}
	metrics := map[string]bool{}
	var order []key
	kinds := map[string]string{}
	for _, c := range v.Analysis.Controls {
		k := key{c.Control, c.Language}
		if cells[k] == nil {
			cells[k] = map[string]analysis.ControlCheck{}
			order = append(order, k)
		}
		cells[k][c.Metric] = c
		metrics[c.Metric] = true
		kinds[c.Control] = c.Kind
	}
	for m := range metrics {
		v.ControlMetrics = append(v.ControlMetrics, m)
	}
	sort.Strings(v.ControlMetrics)
	for _, k := range order {
		r := controlRow{Control: k.c, Kind: kinds[k.c], Language: k.l}
		for _, m := range v.ControlMetrics {
			c, ok := cells[k][m]
			r.Cells = append(r.Cells, controlCell{Present: ok, Designated: c.Designated, Caught: c.Caught, Control: c.ControlValue, Reference: c.ReferenceValue,
				Effect: c.Effect, RelEffect: c.RelEffect, CI: c.CI, Test: c.Test})
		}
		v.ControlRows = append(v.ControlRows, r)
	}
}

// examples prepares the example browser's data: every example, as compact JSON that the
// page's script filters, sorts and renders on demand (names are indices into lists).
func (v *view) examples() {
	ex := v.Examples
	if ex == nil {
		ex = v.Study.Examples
	}
	n := v.ExamplesShown
	if n == 0 {
		n = 3
	}
	dir := map[string]score.Direction{}
	for _, m := range v.Result.Metrics {
		dir[m.Metric] = m.Direction
	}
	type index struct {
		names []string
		at    map[string]int
	}
	idx := func(x *index, s string) int {
		if x.at == nil {
			x.at = map[string]int{}
		}
		i, ok := x.at[s]
		if !ok {
			i = len(x.names)
			x.at[s] = i
			x.names = append(x.names, s)
		}
		return i
	}
	// The store gives examples in the order their metric units finished,
	// which a resumed run changes: sort, so the same results give the same
	// report byte for byte.
	order := make([]int, len(ex))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := &ex[order[a]], &ex[order[b]]
		if c := cmp.Or(strings.Compare(x.Teacher, y.Teacher), strings.Compare(x.Language, y.Language),
			strings.Compare(x.Strategy, y.Strategy), strings.Compare(x.Metric, y.Metric), strings.Compare(x.ID, y.ID)); c != 0 {
			return c < 0
		}
		return false
	})
	var ts, ls, ss, ms index
	rows := make([][]any, 0, len(ex))
	for _, i := range order {
		e := &ex[i]
		var val any = e.Value
		if math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
			val = nil
		}
		rows = append(rows, []any{idx(&ts, e.Teacher), idx(&ls, e.Language), idx(&ss, e.Strategy), idx(&ms, e.Metric), e.ID, val, e.Prompt, e.Response})
	}
	higher := make([]bool, len(ms.names))
	for i, m := range ms.names {
		// "Best" follows the metric's direction (unknown metrics: higher is better).
		higher[i] = dir[m] != score.Lower
	}
	// encoding/json escapes <, > and & as \u003c…, so no model output can close the script element.
	js, err := json.Marshal(map[string]any{"shown": n, "teachers": ts.names, "languages": ls.names, "strategies": ss.names,
		"metrics": ms.names, "higher": higher, "examples": rows})
	if err != nil { // cannot happen: every value is a string, an int, a bool or a finite float
		js = []byte(`{"examples":[]}`)
	}
	v.ExamplesJSON = template.JS(js)
	v.ExampleCount = len(rows)
}

func ciLo(c *score.Interval) float64 {
	if c == nil {
		return 0
	}
	return c.Lo
}

func ciHi(c *score.Interval) float64 {
	if c == nil {
		return 0
	}
	return c.Hi
}
