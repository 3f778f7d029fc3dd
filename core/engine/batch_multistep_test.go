package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/polyglot-teachers/polyglot/core/strategy"
)

// TestBatchStateKeepsPriorOutputsExact: the outputs of finished steps go
// through the chunk's KV state as JSON and must come back rendering the
// same text in the next step's template (numbers as written, not floats),
// or a resumed request would send a different prompt than an
// uninterrupted one and miss its cache entry.
func TestBatchStateKeepsPriorOutputsExact(t *testing.T) {
	const draft = `{"n": 12345678901234567890, "x": 0.1, "big": 1e21, "ok": true, "tags": ["a", 2], "o": {"k": 3}, "s": "Grüße \"quoted\""}`
	for _, tc := range []struct {
		name string
		out  strategy.StepOutput
	}{
		{"text step", strategy.StepOutput{Text: "Ein Entwurf.\nZweite Zeile — mit Unicode ✓"}},
		{"json step", jsonOutput(t, draft)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := batchState{Teacher: "gpt", Chunk: 2, Round: 1, Members: []idxRange{{0, 2}},
				Carry: map[int]carried{0: {In: 10, Out: 20, Cost: 0.25, Attempts: 1}},
				Pos:   map[int]memberPos{0: {Step: 1, Prior: priorOutputs{"draft": tc.out}}}}
			blob, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var back batchState
			if err := json.Unmarshal(blob, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(in, back); diff != "" {
				t.Fatalf("state changed through JSON (-want +got):\n%s", diff)
			}
			got := back.Pos[0].Prior["draft"]
			for name := range tc.out.Fields {
				w, _ := tc.out.Field(name)
				g, _ := got.Field(name)
				if w != g {
					t.Errorf("field %s renders %q after the round trip, %q before", name, g, w)
				}
			}
			w, _ := tc.out.Field("text")
			if g, _ := got.Field("text"); g != w {
				t.Errorf("text renders %q after the round trip, %q before", g, w)
			}
		})
	}
}

// jsonOutput parses s the way a json step's answer is parsed.
func jsonOutput(t *testing.T, s string) strategy.StepOutput {
	t.Helper()
	var obj map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		t.Fatal(err)
	}
	return strategy.StepOutput{Text: s, Fields: obj}
}

// TestBatchStateReadsSingleStepFormat: a state written before multi-step
// (no pos) means every member is at step 0, ask = round; roundState
// writes positions only for members elsewhere.
func TestBatchStateReadsSingleStepFormat(t *testing.T) {
	var st batchState
	if err := json.Unmarshal([]byte(`{"batch_id":"b1","teacher":"gpt","calls":2,"chunk":0,"round":1,"members":[[3,5]],"carry":{"3":{"in":5,"attempts":1}}}`), &st); err != nil {
		t.Fatal(err)
	}
	if st.Pos != nil || st.Round != 1 || st.Carry[3].In != 5 {
		t.Fatalf("read %+v", st)
	}
	calls := []*batchCall{
		{ask: 2, carry: carried{Attempts: 2}},
		{step: 1, prior: priorOutputs{"draft": {Text: "d"}}},
		{},
	}
	calls[0].req.Index, calls[1].req.Index, calls[2].req.Index = 9, 2, 3
	got := roundState("gpt", 4, "", 2, calls)
	want := batchState{Teacher: "gpt", Chunk: 4, Round: 2, Members: []idxRange{{2, 4}, {9, 10}},
		Carry: map[int]carried{9: {Attempts: 2}},
		Pos:   map[int]memberPos{2: {Step: 1, Prior: priorOutputs{"draft": {Text: "d"}}}, 3: {}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("roundState (-want +got):\n%s", diff)
	}
}
