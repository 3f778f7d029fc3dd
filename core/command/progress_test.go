package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/polyglot-teachers/polyglot/core/plan"
)

// TestRateMeterFollowsThePace: a minute at 10 items/s, then half a minute
// at 1 item/s. The ETA must follow the current pace (the average since
// the start, ~7.8/s, would promise the last 100 items in 13 s), and there
// is no ETA in the first seconds.
func TestRateMeterFollowsThePace(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var m rateMeter
	m.add(t0, 0)
	n := 0
	at := t0
	for i := 1; i <= 600; i++ { // 10/s for 60 s
		at = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		n++
		m.add(at, n)
		if at.Sub(t0) < etaAfter && m.eta(at, 1000) != "?" {
			t.Fatalf("an ETA after %s: %s", at.Sub(t0), m.eta(at, 1000))
		}
	}
	if r := m.rate(at); r < 9.5 || r > 10.5 {
		t.Errorf("rate at 10/s measured %.2f/s", r)
	}
	if e := m.eta(at, 100); e != "10s" {
		t.Errorf("ETA of 100 items at 10/s: %s", e)
	}
	for i := 1; i <= 30; i++ { // then 1/s for 30 s
		at = at.Add(time.Second)
		n++
		m.add(at, n)
	}
	if r := m.rate(at); r < 0.9 || r > 1.2 {
		t.Errorf("rate after 30 s at 1/s measured %.2f/s; the window should have forgotten the fast minute", r)
	}
	if e, _ := time.ParseDuration(m.eta(at, 100)); e < 80*time.Second || e > 115*time.Second {
		t.Errorf("ETA of 100 items at 1/s: %s", m.eta(at, 100))
	}
	// A stall lowers the rate as it lasts.
	if r := m.rate(at.Add(60 * time.Second)); r > 0.4 {
		t.Errorf("rate after a minute without progress: %.2f/s", r)
	}
	if len(m.samples) > int(rateWindow/sampleEvery)+2 {
		t.Errorf("%d samples kept", len(m.samples))
	}
}

// syncBuffer is a bytes.Buffer for writers on several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProgressBarsOnTerminal draws bars as on a terminal while logging.
// The final screen must show every log line once, above the bars, and
// each stage's bar once with its final count; a resumed stage's bar
// starts at what was done; the score bar reaches 1/1.
func TestProgressBarsOnTerminal(t *testing.T) {
	out := &syncBuffer{}
	sink := &logSink{base: out}
	log := zerolog.New(zerolog.ConsoleWriter{Out: sink, NoColor: true, PartsExclude: []string{zerolog.TimestampFieldName}})
	p := &progress{out: out, tty: true, forceTTY: true, log: log, sink: sink, now: time.Now, stages: map[plan.Stage]*stageProgress{}}

	p.StageStart(plan.Generate, 2, 10, 4) // resumed: 4 of 10 done before
	time.Sleep(300 * time.Millisecond)    // a frame with the resumed count
	for i := 0; i < 6; i++ {
		log.Warn().Int("request", i).Msg("slow answer")
		p.Advance(plan.Generate, 1, 0.01)
		time.Sleep(50 * time.Millisecond)
	}
	p.StageDone(plan.Generate)
	p.StageStart(plan.Score, 1, 1, 0)
	p.Advance(plan.Score, 1, 0)
	p.StageDone(plan.Score)
	log.Info().Msg("after the bars")
	p.Close()
	log.Info().Msg("bars closed")

	raw := out.String()
	if !regexp.MustCompile(`generate +4/10`).MatchString(raw) {
		t.Errorf("the resumed bar did not start at 4/10:\n%q", raw)
	}
	lines := screen(raw)
	text := strings.Join(lines, "\n")
	count := func(sub string) int { return strings.Count(text, sub) }
	for i := 0; i < 6; i++ {
		if c := count("slow answer request=" + strconv.Itoa(i)); c != 1 {
			t.Errorf("log line %d shown %d times", i, c)
		}
	}
	for _, l := range lines {
		if strings.Contains(l, "slow answer") && strings.Contains(l, "[") {
			t.Errorf("a log line shares a line with a bar: %q", l)
		}
	}
	bars := map[string]int{}
	barAt := map[string]int{}
	for i, l := range lines {
		if m := regexp.MustCompile(`^(\w+) +\d+/\d+ \[`).FindStringSubmatch(l); m != nil {
			bars[m[1]]++
			barAt[m[1]] = i
		}
	}
	if bars["generate"] != 1 || bars["score"] != 1 || len(bars) != 2 {
		t.Errorf("want each bar once, got %v:\n%s", bars, text)
	}
	n := len(lines)
	if n < 3 || !regexp.MustCompile(`^generate +10/10 `).MatchString(lines[n-3]) || !regexp.MustCompile(`^score +1/1 `).MatchString(lines[n-2]) || lines[n-1] != "INF bars closed" {
		t.Errorf("want the log lines, then the generate bar at 10/10, the score bar at 1/1, then the log again; got:\n%s", text)
	}
	if !strings.Contains(lines[n-3], "took") {
		t.Errorf("a finished bar shows no duration: %q", lines[n-3])
	}
	if i := slices.Index(lines, "INF after the bars"); i < 0 || i > barAt["generate"] {
		t.Errorf("a line logged while the bars were drawn is below them:\n%s", text)
	}
}

// TestProgressLogsWithoutTerminal: without a terminal, progress is logged
// every few seconds, counting from what a resumed stage had done.
func TestProgressLogsWithoutTerminal(t *testing.T) {
	var out syncBuffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &progress{out: &out, log: zerolog.New(&out), now: func() time.Time { return now }, stages: map[plan.Stage]*stageProgress{}}
	p.StageStart(plan.Generate, 1, 100, 40)
	for i := 0; i < 20; i++ {
		now = now.Add(time.Second)
		p.Advance(plan.Generate, 1, 0)
	}
	p.StageDone(plan.Generate)
	p.Close()
	type event struct {
		Message string  `json:"message"`
		Done    int     `json:"done"`
		Total   int     `json:"total"`
		Items   int     `json:"items"`
		Rate    float64 `json:"rate"`
		ETA     string  `json:"eta"`
	}
	var evs []event
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not a JSON log line: %q", l)
		}
		evs = append(evs, e)
	}
	if evs[0].Message != "stage started" || evs[0].Done != 40 || evs[0].Items != 100 {
		t.Errorf("first event %+v; want stage started, 40 of 100 done", evs[0])
	}
	if len(evs) != 1+4 { // one every 5 s of 20 s
		t.Fatalf("%d events, want 5: %s", len(evs), out.String())
	}
	last := evs[len(evs)-1]
	if last.Message != "progress" || last.Done != 60 || last.Total != 100 || last.Rate < 0.9 || last.Rate > 1.1 || last.ETA != "40s" {
		t.Errorf("last event %+v; want 60 of 100 at 1/s, ETA 40s", last)
	}
}

type refusingWriter struct{}

func (refusingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

// TestLogSinkNeverDrops: a line the bars' container refuses (it has shut
// down) goes to the log's own output.
func TestLogSinkNeverDrops(t *testing.T) {
	var base, over bytes.Buffer
	s := &logSink{base: &base}
	s.Write([]byte("a\n"))
	s.route(&over)
	s.Write([]byte("b\n"))
	s.route(refusingWriter{})
	s.Write([]byte("c\n"))
	s.route(nil)
	s.Write([]byte("d\n"))
	if base.String() != "a\nc\nd\n" || over.String() != "b\n" {
		t.Errorf("base %q, over %q", base.String(), over.String())
	}
}

// BenchmarkProgressAdvance is the cost of one finished request to the
// progress display off a terminal (the engine calls it once per request).
func BenchmarkProgressAdvance(b *testing.B) {
	p := &progress{out: io.Discard, log: zerolog.New(io.Discard), now: time.Now, stages: map[plan.Stage]*stageProgress{}}
	p.StageStart(plan.Generate, 1, b.N, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Advance(plan.Generate, 1, 0.001)
	}
}
