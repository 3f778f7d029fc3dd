package score

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxRowErrors bounds how many row errors one import reports, so that a wholly wrong file
// gives a readable message instead of thousands of lines.
const maxRowErrors = 20

// row is the union of every record type's fields; pointers tell "absent" from zero.
type row struct {
	Type              string             `json:"type"`
	Teacher           string             `json:"teacher"`
	Language          string             `json:"language"`
	Strategy          string             `json:"strategy"`
	Seed              *float64           `json:"seed"`
	Metric            string             `json:"metric"`
	Value             *float64           `json:"value"`
	Direction         string             `json:"direction"`
	PerExample        []float64          `json:"per_example"`
	PerExampleKeys    []string           `json:"per_example_keys"`
	N                 *float64           `json:"n"`
	Stderr            *float64           `json:"stderr"`
	Role              string             `json:"role"`
	Student           string             `json:"student"`
	StudentFamily     string             `json:"student_family"`
	Benchmark         string             `json:"benchmark"`
	Score             *float64           `json:"score"`
	Family            string             `json:"family"`
	Parameters        *float64           `json:"parameters"`
	BenchmarkStrength *float64           `json:"benchmark_strength"`
	CostUSD           *float64           `json:"cost_usd"`
	Examples          *float64           `json:"examples"`
	Control           string             `json:"control"`
	Kind              string             `json:"kind"`
	Reference         string             `json:"reference"`
	CaughtBy          []string           `json:"caught_by"`
	ID                string             `json:"id"`
	Prompt            string             `json:"prompt"`
	Response          string             `json:"response"`
	Failures          *float64           `json:"failures"`
	Reasons           map[string]float64 `json:"reasons"`
}

// ImportFile reads a study from a .jsonl/.ndjson/.json (one JSON record per line) or .csv file.
func ImportFile(path string) (*Study, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".ndjson", ".json":
		return ReadJSONL(f, path)
	case ".csv":
		return ReadCSV(f, path)
	default:
		return nil, fmt.Errorf("import %s: unknown file extension %q; use .jsonl (one JSON record per line) or .csv (see core/score/IMPORT.md)", path, filepath.Ext(path))
	}
}

// ReadJSONL reads one JSON object per line; blank lines and lines starting with '#' or '//'
// are skipped. name is used in error messages ("name:line: ...").
func ReadJSONL(r io.Reader, name string) (*Study, error) {
	st := &Study{}
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<30) // per-example arrays make long lines
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' || bytes.HasPrefix(b, []byte("//")) {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var rw row
		if err := dec.Decode(&rw); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: invalid JSON record: %v (each line must be one JSON object with a \"type\" field)", name, line, err))
		} else if err := st.add(&rw); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %v", name, line, err))
		}
		if len(errs) >= maxRowErrors {
			errs = append(errs, fmt.Errorf("%s: stopped after %d errors", name, maxRowErrors))
			break
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s:%d: %v", name, line+1, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return st, nil
}

// csvColumns are the columns a CSV import understands.
var csvColumns = map[string]bool{}

func init() {
	for _, c := range []string{"type", "teacher", "language", "strategy", "seed", "metric", "value", "direction",
		"per_example", "per_example_keys", "n", "stderr", "role", "student", "student_family", "benchmark", "score", "family",
		"parameters", "benchmark_strength", "cost_usd", "examples", "control", "kind", "reference", "caught_by",
		"id", "prompt", "response", "failures", "reasons"} {
		csvColumns[c] = true
	}
}

// ReadCSV reads one CSV file whose header names the columns (a "type" column is required);
// empty cells mean "absent". List cells (per_example, caught_by) separate items with ';'.
func ReadCSV(r io.Reader, name string) (*Study, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s:1: empty CSV file; the first line must be a header with a \"type\" column", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	hasType := false
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		header[i] = h
		if !csvColumns[h] {
			return nil, fmt.Errorf("%s:1: unknown column %q (column %d); see core/score/IMPORT.md for the allowed columns", name, h, i+1)
		}
		hasType = hasType || h == "type"
	}
	if !hasType {
		return nil, fmt.Errorf("%s:1: the header has no \"type\" column; add one with metric|benchmark|teacher|control|example per row", name)
	}
	st := &Study{}
	var errs []error
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", name, err))
			break
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != len(header) {
			errs = append(errs, fmt.Errorf("%s:%d: %d cells but the header has %d columns", name, line, len(rec), len(header)))
		} else if rw, err := csvRow(header, rec); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %v", name, line, err))
		} else if err := st.add(rw); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %v", name, line, err))
		}
		if len(errs) >= maxRowErrors {
			errs = append(errs, fmt.Errorf("%s: stopped after %d errors", name, maxRowErrors))
			break
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return st, nil
}

func csvRow(header, rec []string) (*row, error) {
	rw := &row{}
	for i, h := range header {
		v := strings.TrimSpace(rec[i])
		if v == "" {
			continue
		}
		num := func() (*float64, error) {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("column %q: %q is not a number", h, v)
			}
			return &f, nil
		}
		var err error
		switch h {
		case "type":
			rw.Type = v
		case "teacher":
			rw.Teacher = v
		case "language":
			rw.Language = v
		case "strategy":
			rw.Strategy = v
		case "seed":
			rw.Seed, err = num()
		case "metric":
			rw.Metric = v
		case "value":
			rw.Value, err = num()
		case "direction":
			rw.Direction = v
		case "per_example":
			for _, p := range strings.Split(v, ";") {
				f, perr := strconv.ParseFloat(strings.TrimSpace(p), 64)
				if perr != nil {
					return nil, fmt.Errorf("column \"per_example\": %q is not a number (separate values with ';')", p)
				}
				rw.PerExample = append(rw.PerExample, f)
			}
		case "per_example_keys":
			for _, p := range strings.Split(v, ";") {
				rw.PerExampleKeys = append(rw.PerExampleKeys, strings.TrimSpace(p))
			}
		case "n":
			rw.N, err = num()
		case "stderr":
			rw.Stderr, err = num()
		case "role":
			rw.Role = v
		case "student":
			rw.Student = v
		case "student_family":
			rw.StudentFamily = v
		case "benchmark":
			rw.Benchmark = v
		case "score":
			rw.Score, err = num()
		case "family":
			rw.Family = v
		case "parameters":
			rw.Parameters, err = num()
		case "benchmark_strength":
			rw.BenchmarkStrength, err = num()
		case "cost_usd":
			rw.CostUSD, err = num()
		case "examples":
			rw.Examples, err = num()
		case "control":
			rw.Control = v
		case "kind":
			rw.Kind = v
		case "reference":
			rw.Reference = v
		case "caught_by":
			for _, p := range strings.Split(v, ";") {
				if p = strings.TrimSpace(p); p != "" {
					rw.CaughtBy = append(rw.CaughtBy, p)
				}
			}
		case "id":
			rw.ID = v
		case "prompt":
			rw.Prompt = rec[i] // keep the text exactly
		case "response":
			rw.Response = rec[i]
		case "failures":
			rw.Failures, err = num()
		case "reasons":
			rw.Reasons = map[string]float64{}
			for _, p := range strings.Split(v, ";") {
				if p = strings.TrimSpace(p); p == "" {
					continue
				}
				k, n, ok := strings.Cut(p, "=")
				f, perr := strconv.ParseFloat(strings.TrimSpace(n), 64)
				if !ok || perr != nil || strings.TrimSpace(k) == "" {
					return nil, fmt.Errorf("column \"reasons\": %q is not reason=count (separate reasons with ';', e.g. parse_error=3;call_error:timeout=1)", p)
				}
				rw.Reasons[strings.TrimSpace(k)] = f
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return rw, nil
}

// missing returns an error naming the absent required fields of a record type.
func missing(typ string, fields ...string) error {
	return fmt.Errorf("%s record is missing required field(s) %s", typ, strings.Join(fields, ", "))
}

func need(typ string, pairs ...any) error {
	var miss []string
	for i := 0; i < len(pairs); i += 2 {
		name := pairs[i].(string)
		switch v := pairs[i+1].(type) {
		case string:
			if v == "" {
				miss = append(miss, name)
			}
		case *float64:
			if v == nil {
				miss = append(miss, name)
			}
		}
	}
	if len(miss) > 0 {
		return missing(typ, miss...)
	}
	return nil
}

func finite(name string, v *float64) error {
	if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
		return fmt.Errorf("field %q is %v; it must be a finite number", name, *v)
	}
	return nil
}

func intOf(name string, v *float64) (int, error) {
	if v == nil {
		return 0, nil
	}
	if *v != math.Trunc(*v) {
		return 0, fmt.Errorf("field %q = %v must be a whole number", name, *v)
	}
	return int(*v), nil
}

func val(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}

// add validates a row and appends it to the study.
func (s *Study) add(r *row) error {
	for name, v := range map[string]*float64{"seed": r.Seed, "value": r.Value, "n": r.N, "stderr": r.Stderr,
		"score": r.Score, "parameters": r.Parameters, "benchmark_strength": r.BenchmarkStrength,
		"cost_usd": r.CostUSD, "examples": r.Examples, "failures": r.Failures} {
		if err := finite(name, v); err != nil {
			return err
		}
	}
	seed, err := intOf("seed", r.Seed)
	if err != nil {
		return err
	}
	switch r.Type {
	case "metric":
		if err := need("metric", "teacher", r.Teacher, "language", r.Language, "metric", r.Metric, "value", r.Value, "direction", r.Direction); err != nil {
			return err
		}
		d := Direction(r.Direction)
		if d != Higher && d != Lower && d != None {
			return fmt.Errorf("direction %q is unknown; use higher, lower or none", r.Direction)
		}
		n, err := intOf("n", r.N)
		if err != nil {
			return err
		}
		if val(r.Stderr) < 0 {
			return fmt.Errorf("stderr = %v must be >= 0", val(r.Stderr))
		}
		for i, v := range r.PerExample {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("per_example[%d] is %v; per-example values must be finite", i, v)
			}
		}
		if len(r.PerExampleKeys) > 0 && len(r.PerExampleKeys) != len(r.PerExample) {
			return fmt.Errorf("per_example_keys has %d keys for %d per_example values; give one key per value", len(r.PerExampleKeys), len(r.PerExample))
		}
		s.Metrics = append(s.Metrics, MetricRecord{Teacher: r.Teacher, Language: r.Language, Strategy: r.Strategy,
			Seed: seed, Metric: r.Metric, Value: *r.Value, Direction: d, PerExample: r.PerExample, PerExampleKeys: r.PerExampleKeys, N: n, Stderr: val(r.Stderr)})
	case "benchmark":
		if err := need("benchmark", "role", r.Role, "language", r.Language, "student", r.Student, "benchmark", r.Benchmark, "score", r.Score); err != nil {
			return err
		}
		switch r.Role {
		case RoleStudent:
			if r.Teacher == "" {
				return fmt.Errorf("benchmark record with role \"student\" needs a \"teacher\" (whose data trained the student)")
			}
		case RoleBase, RoleReference:
			if r.Teacher != "" {
				return fmt.Errorf("benchmark record with role %q must not name a teacher (%q); anchors are shared by all teachers", r.Role, r.Teacher)
			}
		default:
			return fmt.Errorf("role %q is unknown; use student, base or reference", r.Role)
		}
		if val(r.Stderr) < 0 {
			return fmt.Errorf("stderr = %v must be >= 0", val(r.Stderr))
		}
		s.Benchmarks = append(s.Benchmarks, BenchmarkRecord{Role: r.Role, Teacher: r.Teacher, Strategy: r.Strategy,
			Language: r.Language, Student: r.Student, StudentFamily: r.StudentFamily, Seed: seed, Benchmark: r.Benchmark,
			Score: *r.Score, Stderr: val(r.Stderr)})
	case "teacher":
		if err := need("teacher", "teacher", r.Teacher); err != nil {
			return err
		}
		ex, err := intOf("examples", r.Examples)
		if err != nil {
			return err
		}
		if val(r.Parameters) < 0 || val(r.CostUSD) < 0 || ex < 0 {
			return fmt.Errorf("parameters, cost_usd and examples must be >= 0")
		}
		for _, t := range s.Teachers {
			if t.Teacher == r.Teacher {
				return fmt.Errorf("teacher %q is described twice; keep one teacher record per teacher", r.Teacher)
			}
		}
		s.Teachers = append(s.Teachers, TeacherInfo{Teacher: r.Teacher, Family: r.Family, Parameters: val(r.Parameters),
			BenchmarkStrength: val(r.BenchmarkStrength), CostUSD: val(r.CostUSD), Examples: ex})
	case "control":
		if err := need("control", "control", r.Control, "reference", r.Reference); err != nil {
			return err
		}
		if len(r.CaughtBy) == 0 {
			return missing("control", "caught_by")
		}
		s.Controls = append(s.Controls, Control{Name: r.Control, Kind: r.Kind, Reference: r.Reference, CaughtBy: r.CaughtBy})
	case "example":
		if err := need("example", "teacher", r.Teacher, "language", r.Language, "metric", r.Metric, "value", r.Value); err != nil {
			return err
		}
		if r.Prompt == "" && r.Response == "" {
			return fmt.Errorf("example record needs a \"prompt\" or a \"response\"")
		}
		s.Examples = append(s.Examples, Example{Teacher: r.Teacher, Language: r.Language, Strategy: r.Strategy,
			Metric: r.Metric, ID: r.ID, Value: *r.Value, Prompt: r.Prompt, Response: r.Response})
	case "generation":
		if err := need("generation", "teacher", r.Teacher, "language", r.Language, "examples", r.Examples, "failures", r.Failures); err != nil {
			return err
		}
		ex, err := intOf("examples", r.Examples)
		if err != nil {
			return err
		}
		fails, err := intOf("failures", r.Failures)
		if err != nil {
			return err
		}
		if ex < 0 || fails < 0 {
			return fmt.Errorf("examples and failures must be >= 0")
		}
		g := GenerationRecord{Teacher: r.Teacher, Language: r.Language, Strategy: r.Strategy, Seed: seed, Examples: ex, Failures: fails}
		sum := 0
		for k, v := range r.Reasons {
			n, err := intOf("reasons."+k, &v)
			if err != nil || n < 0 {
				return fmt.Errorf("reason %q has count %v; counts are whole numbers >= 0", k, v)
			}
			if g.Reasons == nil {
				g.Reasons = map[string]int{}
			}
			g.Reasons[k] = n
			sum += n
		}
		if sum > fails {
			return fmt.Errorf("the reasons count %d failures but failures = %d", sum, fails)
		}
		for _, o := range s.Generation {
			if o.Teacher == g.Teacher && o.Language == g.Language && o.Strategy == g.Strategy && o.Seed == g.Seed {
				return fmt.Errorf("generation of teacher %q, language %q, strategy %q, seed %d is given twice; keep one", g.Teacher, g.Language, g.Strategy, g.Seed)
			}
		}
		s.Generation = append(s.Generation, g)
	case "":
		return fmt.Errorf("record has no \"type\"; use metric, benchmark, teacher, control, example or generation")
	default:
		return fmt.Errorf("type %q is unknown; use metric, benchmark, teacher, control, example or generation", r.Type)
	}
	return nil
}

// Merge appends another study's records (e.g. several imported files).
func (s *Study) Merge(o *Study) {
	s.Metrics = append(s.Metrics, o.Metrics...)
	s.Benchmarks = append(s.Benchmarks, o.Benchmarks...)
	s.Teachers = append(s.Teachers, o.Teachers...)
	s.Controls = append(s.Controls, o.Controls...)
	s.Examples = append(s.Examples, o.Examples...)
	s.Generation = append(s.Generation, o.Generation...)
}

// WriteJSONL writes a study in the import format, so that a run can be re-scored later.
func WriteJSONL(w io.Writer, s *Study) error {
	bw := bufio.NewWriter(w)
	put := func(typ string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		// Splice the type in front of the record's own fields.
		if _, err := fmt.Fprintf(bw, "{\"type\":%q,", typ); err != nil {
			return err
		}
		_, err = bw.Write(append(b[1:], '\n'))
		return err
	}
	for _, t := range s.Teachers {
		if err := put("teacher", t); err != nil {
			return err
		}
	}
	for _, c := range s.Controls {
		if err := put("control", c); err != nil {
			return err
		}
	}
	for _, m := range s.Metrics {
		if err := put("metric", m); err != nil {
			return err
		}
	}
	for _, b := range s.Benchmarks {
		if err := put("benchmark", b); err != nil {
			return err
		}
	}
	for _, e := range s.Examples {
		if err := put("example", e); err != nil {
			return err
		}
	}
	for _, g := range s.Generation {
		if err := put("generation", g); err != nil {
			return err
		}
	}
	return bw.Flush()
}
