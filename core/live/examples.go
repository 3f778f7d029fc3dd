package live

import (
	"cmp"
	"errors"
	"math"
	"sort"
	"strings"

	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// ExamplesPerCell is how many best and how many worst examples per cell
// and metric value the live view's example browser holds: the report's
// selection (engine.Prepared.BrowserExamples), deeper.
const ExamplesPerCell = 10

// ExampleQuery is one request of the example browser: the report's filters
// (by name; nil = all, and "" is a name: the strategy of unsplit data),
// order and search, and a page of cells, or of one cell's examples when
// Cell is set.
type ExampleQuery struct {
	Teacher, Language, Strategy, Metric *string
	Order                               string // best (default) | worst | desc | asc
	Search                              string
	Cell                                *ExampleCell // nil: page through the cells
	From, Count                         int
	Shown                               int // examples sent with each cell of a cells page
}

// ExampleCell names one cell of the browser: a metric in a teacher,
// language and strategy.
type ExampleCell struct {
	Metric   string `json:"metric"`
	Teacher  string `json:"teacher"`
	Language string `json:"language"`
	Strategy string `json:"strategy"`
}

// ExamplePage is the answer: the filters' choices, counts, and the cells
// (each with its first Shown examples) or one cell's examples.
type ExamplePage struct {
	Version    string          `json:"version"`
	Total      int             `json:"total"`
	Matched    int             `json:"matched"`
	CellsTotal int             `json:"cells_total"`
	Teachers   []string        `json:"teachers"`
	Languages  []string        `json:"languages"`
	Strategies []string        `json:"strategies"`
	Metrics    []string        `json:"metrics"`
	Higher     map[string]bool `json:"higher"` // a metric's best is its highest value
	Cells      []PageCell      `json:"cells"`
	Items      []Item          `json:"items,omitempty"`
}

// PageCell is a cell of a page with its count and first examples.
type PageCell struct {
	ExampleCell
	N     int    `json:"n"`
	Items []Item `json:"items"`
}

// Item is one example under one metric.
type Item struct {
	ID       string   `json:"id"`
	Value    *float64 `json:"value"`
	Prompt   string   `json:"prompt"`
	Response string   `json:"response"`
}

type exampleSet struct {
	ex     []score.Example
	higher map[string]bool
	lists  [4][]string // teachers, languages, strategies, metrics
}

// ErrNoPlan: the example browser needs the plan, which is still loading.
var ErrNoPlan = errors.New("the plan is still loading; try again in a moment")

// Examples answers one request of the example browser. The examples are
// read again when new metric values landed since the last request.
func (v *View) Examples(q ExampleQuery) (*ExamplePage, error) {
	v.mu.Lock()
	p := v.p
	v.mu.Unlock()
	if p == nil {
		return nil, ErrNoPlan
	}
	aggs, err := v.st.MetricAggregateValues()
	if err != nil {
		return nil, err
	}
	fp := fingerprint(aggs, nil)
	v.exMu.Lock()
	set := v.ex
	if set == nil || v.exFP != fp {
		ex, err := p.BrowserExamples(v.st, ExamplesPerCell)
		if err != nil {
			v.exMu.Unlock()
			return nil, err
		}
		set = newExampleSet(ex, aggs)
		v.ex, v.exFP = set, fp
	}
	v.exMu.Unlock()
	page := set.query(q)
	page.Version = fp
	return page, nil
}

func newExampleSet(ex []score.Example, aggs []store.MetricAggregate) *exampleSet {
	s := &exampleSet{ex: ex, higher: map[string]bool{}}
	dir := map[string]string{}
	for _, a := range aggs {
		dir[a.Metric] = a.Direction
	}
	seen := [4]map[string]bool{{}, {}, {}, {}}
	for _, e := range ex {
		for i, name := range [4]string{e.Teacher, e.Language, e.Strategy, e.Metric} {
			if !seen[i][name] {
				seen[i][name] = true
				s.lists[i] = append(s.lists[i], name)
			}
		}
	}
	for i := range s.lists {
		sort.Strings(s.lists[i])
		if s.lists[i] == nil {
			s.lists[i] = []string{}
		}
	}
	for _, m := range s.lists[3] {
		// "Best" follows the metric's direction (unknown: higher is better), as in the report.
		s.higher[m] = dir[m] != string(score.Lower)
	}
	return s
}

// query filters, groups, sorts and pages the way the report's example
// browser does in the page (core/report/examples.js), here on the server
// so the page loads only what it shows.
func (s *exampleSet) query(q ExampleQuery) *ExamplePage {
	page := &ExamplePage{Total: len(s.ex), Teachers: s.lists[0], Languages: s.lists[1], Strategies: s.lists[2], Metrics: s.lists[3],
		Higher: s.higher, Cells: []PageCell{}}
	search := strings.ToLower(q.Search)
	groups := map[ExampleCell][]*score.Example{}
	var keys []ExampleCell
	for i := range s.ex {
		e := &s.ex[i]
		if !is(q.Teacher, e.Teacher) || !is(q.Language, e.Language) || !is(q.Strategy, e.Strategy) || !is(q.Metric, e.Metric) {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(e.ID+"\n"+e.Prompt+"\n"+e.Response), search) {
			continue
		}
		k := ExampleCell{Metric: e.Metric, Teacher: e.Teacher, Language: e.Language, Strategy: e.Strategy}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], e)
		page.Matched++
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return cmp.Or(strings.Compare(a.Metric, b.Metric), strings.Compare(a.Language, b.Language),
			strings.Compare(a.Teacher, b.Teacher), strings.Compare(a.Strategy, b.Strategy)) < 0
	})
	page.CellsTotal = len(keys)
	sorted := func(k ExampleCell) []*score.Example {
		es := groups[k]
		hi := s.higher[k.Metric]
		sort.SliceStable(es, func(i, j int) bool { return less(es[i].Value, es[j].Value, q.Order, hi) })
		return es
	}
	from, count := max(q.From, 0), q.Count
	if count <= 0 || count > 100 {
		count = 30
	}
	if q.Cell != nil {
		es := sorted(*q.Cell)
		page.Items = []Item{}
		for _, e := range es[min(from, len(es)):min(from+count, len(es))] {
			page.Items = append(page.Items, item(e))
		}
		return page
	}
	shown := q.Shown
	if shown <= 0 || shown > 20 {
		shown = 3
	}
	for _, k := range keys[min(from, len(keys)):min(from+count, len(keys))] {
		es := sorted(k)
		c := PageCell{ExampleCell: k, N: len(es), Items: []Item{}}
		for _, e := range es[:min(shown, len(es))] {
			c.Items = append(c.Items, item(e))
		}
		page.Cells = append(page.Cells, c)
	}
	return page
}

// is says whether name passes filter f (nil passes all).
func is(f *string, name string) bool { return f == nil || *f == name }

// less orders two values as the report's browser does: missing values
// last, then by the order asked for ("best" and "worst" follow the
// metric's direction).
func less(a, b float64, order string, higher bool) bool {
	na, nb := math.IsNaN(a) || math.IsInf(a, 0), math.IsNaN(b) || math.IsInf(b, 0)
	if na || nb {
		return !na && nb
	}
	switch order {
	case "asc":
		return a < b
	case "desc":
		return a > b
	case "worst":
		if higher {
			return a < b
		}
		return a > b
	}
	if higher {
		return a > b
	}
	return a < b
}

func item(e *score.Example) Item {
	return Item{ID: e.ID, Value: finite(e.Value), Prompt: e.Prompt, Response: e.Response}
}
