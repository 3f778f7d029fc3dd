// Package compose builds a training set from a scored study: the rows of
// the teachers a dataset block's rule picks per language (Select, Plan),
// deduplicated across teachers and strategies with the duplicates metric's
// MinHash (sdk/minhash), decontaminated against benchmark items by n-gram
// overlap, filtered by the langid metric's per-example verdicts, with
// provenance per row and a seeded train/held-out split, written by
// core/export's DatasetWriter with a dataset card.
//
// Languages are composed one after the other and rows stream from the
// store to the files: memory holds one language's deduplication index
// (the kept rows' signatures, LSH buckets and ids, about 1 KB a row), its benchmark index
// and one Parquet row group per open file, whatever the dataset's size.
package compose

import (
	"encoding/csv"
	"fmt"
	"hash/fnv"

	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/polyglot-teachers/polyglot/core/export"
	"github.com/polyglot-teachers/polyglot/core/score"
	"github.com/polyglot-teachers/polyglot/core/spec"
	"github.com/polyglot-teachers/polyglot/core/store"
	"github.com/polyglot-teachers/polyglot/sdk/minhash"
)

// Source is where rows come from; *store.Store implements it.
type Source interface {
	Examples(f store.Filter, fn func(*store.Example) error) error
}

// SeedRow is one row of seed data, for deduplication against the seeds.
type SeedRow struct{ ID, Prompt, Response string }

// Options say what to compose and where.
type Options struct {
	Dataset *spec.Dataset
	Plans   []LanguagePlan // Select, then Plan
	Source  Source
	// Units holds the keys of the current plan's generate units: rows of
	// units no longer in the spec are left out. Nil keeps every row.
	Units map[string]bool
	Seeds []int // the experiment's random seeds (nil = all)
	// Study holds the per-example metric values (provenance and the
	// language filter); LangidMetric names the langid metric ("" = none).
	Study        *score.Study
	LangidMetric string
	// SeedRows reads a language's seed rows (dedup.seeds); nil = none.
	SeedRows func(lang string, fn func(SeedRow) error) error
	// System gives the system prompt of a language and strategy.
	System func(lang, strategy string) string
	Out    string
	JSONL  bool
	// Parquet and JSONL say which formats to write (at least one).
	Parquet bool
	Card    CardInfo
	// Workers prepare rows (normalise, sign, check against the benchmarks)
	// in parallel; default GOMAXPROCS.
	Workers int
}

// Drop reasons, as the summary and dropped.csv name them.
const (
	DropDuplicate     = "duplicate"      // equal to an earlier row after normalisation
	DropNearDuplicate = "near_duplicate" // MinHash Jaccard ≥ threshold with an earlier row
	DropSeedCopy      = "seed_copy"      // duplicates a seed row
	DropContaminated  = "contaminated"   // shares an n-gram with a benchmark item
	DropLanguage      = "off_target"     // the langid metric found another language
)

// LanguageResult is what one language's composition kept and dropped.
type LanguageResult struct {
	Language string         `json:"language"`
	Kept     int            `json:"kept"`
	Train    int            `json:"train"`
	HeldOut  int            `json:"heldout"`
	Tokens   int            `json:"tokens"`
	Read     int            `json:"read"`
	PerPick  []int          `json:"kept_per_pick"`
	Dropped  map[string]int `json:"dropped"`
	// OffTargetKept counts rows the langid metric judged off target that
	// were kept (langid = "keep"); Unmeasured rows had no langid value.
	OffTargetKept int `json:"off_target_kept"`
	Unmeasured    int `json:"langid_unmeasured"`
	// Unchecked lists benchmark files that have no version for this
	// language (a {lang} file that does not exist).
	Unchecked []string `json:"benchmarks_unchecked,omitempty"`
	Items     int      `json:"benchmark_items"`
	TooShort  int      `json:"benchmark_items_too_short"`
	// Short lists slots that ran out of rows before their quota.
	Short []string `json:"short,omitempty"`
}

// Result describes a composed dataset.
type Result struct {
	Languages []LanguageResult `json:"languages"`
	Rows      int              `json:"rows"`
	Files     []string         `json:"-"`
}

// Run composes the dataset and writes it.
func Run(opts Options) (*Result, error) {
	d := opts.Dataset
	w, err := export.NewDatasetWriter(opts.Out, opts.JSONL, opts.Parquet)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			w.Abort()
		}
	}()
	dropFile, err := w.Stream("dropped.csv")
	if err != nil {
		return nil, err
	}
	drops := csv.NewWriter(dropFile)
	_ = drops.Write([]string{"id", "language", "teacher", "strategy", "reason", "of", "detail"})
	res := &Result{}
	benches := &benchCache{}
	for _, lp := range opts.Plans {
		lr, err := composeLanguage(opts, lp, w, drops, benches)
		if err != nil {
			return nil, err
		}
		if err := w.CloseLanguage(lp.Language); err != nil {
			return nil, err
		}
		res.Languages = append(res.Languages, *lr)
		res.Rows += lr.Kept
	}
	drops.Flush()
	if err := drops.Error(); err != nil {
		return nil, err
	}
	card := opts.Card
	card.Dataset, card.Plans, card.Result, card.JSONL, card.Parquet = d, opts.Plans, res, opts.JSONL, opts.Parquet
	side := map[string][]byte{"README.md": card.Render(), "summary.json": card.Summary()}
	if licenseNote := card.LicenseNote(); licenseNote != nil {
		side["LICENSE.md"] = licenseNote
	}
	for _, name := range sortedKeys(side) {
		if err := w.WriteFile(name, side[name]); err != nil {
			return nil, err
		}
	}
	if res.Files, err = w.Commit(); err != nil {
		return nil, err
	}
	ok = true
	return res, nil
}

// row is one example on its way through the filters.
type row struct {
	e      *store.Example
	text   minhash.Text
	tokens int
	hit    Hit
	dirty  bool
}

// language holds one language's indexes.
type language struct {
	opts    Options
	lp      LanguagePlan
	hasher  *minhash.Hasher
	kept    *minhash.Index
	keptIDs []string
	seeds   *minhash.Index
	seedIDs []string
	bench   *Contamination
	metrics map[metricKey][]export.MetricValue
	langid  map[metricKey]float64
	res     *LanguageResult
}

type metricKey struct {
	teacher string
	seed    int
	prompt  string // score.PairKey of the prompt
}

// benchCache keeps the last benchmark index: languages whose files are
// the same (no {lang} in them) share it instead of reading them again.
type benchCache struct {
	key string
	c   *Contamination
}

func composeLanguage(opts Options, lp LanguagePlan, w *export.DatasetWriter, drops *csv.Writer, benches *benchCache) (*LanguageResult, error) {
	d := opts.Dataset
	lg := &language{opts: opts, lp: lp, res: &LanguageResult{Language: lp.Language, Dropped: map[string]int{}, PerPick: make([]int, len(lp.Picks))}}
	const k, bands, maxCand = minhash.DefaultNumHashes, minhash.DefaultBands, 256
	if d.Dedup.Exact || d.Dedup.Near || d.Dedup.Seeds {
		lg.hasher = minhash.NewHasher(d.Dedup.Shingle, k, 0)
		lg.kept = minhash.NewIndex(k, bands, maxCand)
	}
	if d.Dedup.Seeds && opts.SeedRows != nil {
		lg.seeds = minhash.NewIndex(k, bands, maxCand)
		var sc minhash.Scratch
		err := opts.SeedRows(lp.Language, func(s SeedRow) error {
			t := lg.hasher.Sign(s.Prompt+"\n"+s.Response, make([]uint32, k), &sc)
			lg.seeds.Insert(int32(len(lg.seedIDs)), t)
			lg.seedIDs = append(lg.seedIDs, s.ID)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if c := d.Decontaminate; c != nil {
		var paths []string
		for _, f := range c.Files {
			p := strings.ReplaceAll(f, "{lang}", lp.Language)
			if _, err := os.Stat(p); err != nil && strings.Contains(f, "{lang}") {
				lg.res.Unchecked = append(lg.res.Unchecked, p)
				continue
			}
			paths = append(paths, p)
		}
		if key := strings.Join(paths, "\x00"); benches.c == nil || benches.key != key {
			var items []Item
			for _, p := range paths {
				its, err := ReadItems(p, c.Fields)
				if err != nil {
					return nil, err
				}
				items = append(items, its...)
			}
			benches.key, benches.c = key, NewContamination(items, c.NGram, c.MinTokens)
		}
		lg.bench = benches.c
		lg.res.Items, lg.res.TooShort = len(lg.bench.Items), lg.bench.TooShort
	}
	lg.indexMetrics()

	for si, s := range lp.Slots {
		if err := lg.slot(si, s, w, drops); err != nil {
			return nil, err
		}
	}
	return lg.res, nil
}

// indexMetrics collects the per-example metric values of the language's
// picked teachers, by prompt.
func (lg *language) indexMetrics() {
	if lg.opts.Study == nil {
		return
	}
	picked := map[string]bool{}
	for _, p := range lg.lp.Picks {
		picked[p.Teacher] = true
	}
	lg.metrics, lg.langid = map[metricKey][]export.MetricValue{}, map[metricKey]float64{}
	for _, m := range lg.opts.Study.Metrics {
		if m.Language != lg.lp.Language || m.Strategy != "" || !picked[m.Teacher] || len(m.PerExampleKeys) != len(m.PerExample) {
			continue
		}
		for i, key := range m.PerExampleKeys {
			mk := metricKey{m.Teacher, m.Seed, key}
			lg.metrics[mk] = append(lg.metrics[mk], export.MetricValue{Metric: m.Metric, Value: m.PerExample[i]})
			if m.Metric == lg.opts.LangidMetric {
				lg.langid[mk] = m.PerExample[i]
			}
		}
	}
}

// slot reads one slot's rows until its quota is met.
func (lg *language) slot(si int, s Slot, w *export.DatasetWriter, drops *csv.Writer) error {
	d, opts := lg.opts.Dataset, lg.opts
	p := lg.lp.Picks[s.Pick]
	f := store.Filter{Teachers: []string{p.Teacher}, Languages: []string{lg.lp.Language}, Seeds: opts.Seeds}
	if s.Strategy != "" {
		f.Strategies = []string{s.Strategy}
	}
	used := 0 // rows or tokens kept
	full := func() bool { return s.Quota > 0 && used >= s.Quota }
	batch := make([]row, 0, 256)
	sigs := make([]uint32, cap(batch)*minhash.DefaultNumHashes)
	var werr error
	flush := func() error {
		lg.prepare(batch, sigs)
		for i := range batch {
			if full() {
				return store.ErrStop
			}
			r := &batch[i]
			lg.res.Read++
			if reason, of, detail := lg.judge(r); reason != "" {
				lg.res.Dropped[reason]++
				if err := drops.Write([]string{r.e.Key, r.e.Language, r.e.Teacher, r.e.Strategy, reason, of, detail}); err != nil {
					return err
				}
				continue
			}
			if lg.kept != nil && !r.text.Empty {
				lg.kept.Insert(int32(len(lg.keptIDs)), r.text)
				lg.keptIDs = append(lg.keptIDs, r.e.Key)
			}
			out := lg.row(r)
			if err := w.Write(&out); err != nil {
				werr = err
				return err
			}
			lg.res.Kept++
			lg.res.PerPick[s.Pick]++
			lg.res.Tokens += r.tokens
			if out.Split == export.SplitHeldOut {
				lg.res.HeldOut++
			} else {
				lg.res.Train++
			}
			if d.Tokens > 0 {
				used += r.tokens
			} else {
				used++
			}
		}
		batch = batch[:0]
		return nil
	}
	err := opts.Source.Examples(f, func(e *store.Example) error {
		if opts.Units != nil && !opts.Units[e.Unit] {
			return nil
		}
		batch = append(batch, row{e: e})
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 && !full() {
		if err = flush(); err == store.ErrStop {
			err = nil
		}
	}
	if werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	if s.Quota > 0 && used < s.Quota {
		name := p.Teacher
		if s.Strategy != "" {
			name += "/" + s.Strategy
		}
		unit := "rows"
		if d.Tokens > 0 {
			unit = "tokens"
		}
		lg.res.Short = append(lg.res.Short, fmt.Sprintf("%s: %d of %d %s", name, used, s.Quota, unit))
	}
	return nil
}

// prepare normalises, signs and checks a batch's rows on the workers.
func (lg *language) prepare(batch []row, sigs []uint32) {
	workers := lg.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(1, len(batch)/32))
	k := minhash.DefaultNumHashes
	var wg sync.WaitGroup
	chunk := (len(batch) + workers - 1) / workers
	for wi := range workers {
		lo, hi := wi*chunk, min((wi+1)*chunk, len(batch))
		wg.Go(func() {
			var sc minhash.Scratch
			var ts []token
			for i := lo; i < hi; i++ {
				r := &batch[i]
				norm := minhash.Normalize(r.e.Prompt + "\n" + r.e.Response)
				if lg.hasher != nil {
					r.text = lg.hasher.SignNormal(norm, sigs[i*k:(i+1)*k:(i+1)*k], &sc)
				}
				if lg.bench != nil {
					r.hit, r.dirty, ts = lg.bench.Check(norm, ts)
				}
				if lg.bench == nil || r.dirty || lg.opts.Dataset.Tokens > 0 {
					r.tokens, ts = Tokens(norm, ts)
				} else {
					r.tokens = len(ts)
				}
			}
		})
	}
	wg.Wait()
}

// judge returns why a row is dropped ("" = kept), what it hit and a detail.
func (lg *language) judge(r *row) (reason, of, detail string) {
	d := lg.opts.Dataset
	if d.Langid != "off" && lg.opts.LangidMetric != "" {
		v, measured := lg.langid[metricKey{r.e.Teacher, r.e.Seed, score.PairKey(r.e.Prompt)}]
		switch {
		case !measured:
			lg.res.Unmeasured++
		case v < 0.5 && d.Langid == "drop":
			return DropLanguage, lg.opts.LangidMetric, "prompt or response identified as another language"
		case v < 0.5:
			lg.res.OffTargetKept++
		}
	}
	if r.dirty {
		it := lg.bench.Items[r.hit.Item]
		return DropContaminated, it.File + "#" + it.ID, r.hit.Gram
	}
	if lg.hasher == nil || r.text.Empty {
		return "", "", ""
	}
	if lg.seeds != nil {
		if id, j, _, ok := lg.seeds.Best(r.text, d.Dedup.Threshold); ok {
			return DropSeedCopy, lg.seedIDs[id], strconv.FormatFloat(j, 'f', 3, 64)
		}
	}
	if !d.Dedup.Exact && !d.Dedup.Near {
		return "", "", ""
	}
	threshold := d.Dedup.Threshold
	if !d.Dedup.Near {
		threshold = 2 // only exact matches reach it
	}
	if id, j, exact, ok := lg.kept.Best(r.text, threshold); ok {
		if exact && d.Dedup.Exact {
			return DropDuplicate, lg.keptIDs[id], "1"
		}
		if !exact && d.Dedup.Near {
			return DropNearDuplicate, lg.keptIDs[id], strconv.FormatFloat(j, 'f', 3, 64)
		}
	}
	return "", "", ""
}

// row builds the output row with its provenance and split.
func (lg *language) row(r *row) export.Row {
	d, e := lg.opts.Dataset, r.e
	out := export.Row{ID: e.Key, Language: e.Language, Teacher: e.Teacher, Model: e.Model, Strategy: e.Strategy,
		Seed: int64(e.Seed), SeedRow: e.SeedRowID, Params: string(e.Params), Split: Split(d.SplitSeed, d.HeldOut, e.Key)}
	if lg.metrics != nil {
		out.Metrics = lg.metrics[metricKey{e.Teacher, e.Seed, score.PairKey(e.Prompt)}]
	}
	if out.Metrics == nil {
		out.Metrics = []export.MetricValue{}
	}
	if d.System != "none" && lg.opts.System != nil {
		out.System = lg.opts.System(e.Language, e.Strategy)
	}
	if d.System == "messages" && out.System != "" {
		out.Messages = []export.Message{{Role: "system", Content: out.System}, {Role: "user", Content: e.Prompt}, {Role: "assistant", Content: e.Response}}
	} else {
		out.Messages = []export.Message{{Role: "user", Content: e.Prompt}, {Role: "assistant", Content: e.Response}}
	}
	return out
}

// Split is a row's split: held out when a hash of the split seed and the
// row's id falls below share, so the split of a row never depends on the
// other rows.
func Split(seed int64, share float64, id string) string {
	h := fnv.New64a()
	h.Write([]byte(id))
	x := mix(h.Sum64() ^ uint64(seed)*0x9e3779b97f4a7c15)
	if float64(x>>11)/float64(1<<53) < share {
		return export.SplitHeldOut
	}
	return export.SplitTrain
}
