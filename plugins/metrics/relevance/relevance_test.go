package relevance

import (
	"context"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
	"github.com/polyglot-teachers/polyglot/sdk/sdktest"
)

var pairs = [][2]string{
	{"Wie backe ich ein einfaches Brot?", "Für ein einfaches Brot mischst du Mehl, Wasser, Hefe und Salz, lässt den Teig gehen und backst das Brot eine Stunde."},
	{"Was ist die Hauptstadt von Kenia?", "Die Hauptstadt von Kenia ist Nairobi, die größte Stadt des Landes."},
	{"Erkläre, wie ein Regenbogen entsteht.", "Ein Regenbogen entsteht, wenn Sonnenlicht in Regentropfen gebrochen und gespiegelt wird."},
	{"Wie pflege ich eine Zimmerpflanze richtig?", "Eine Zimmerpflanze braucht Licht, gelegentlich Wasser und alle paar Jahre einen größeren Topf."},
}

func run(t *testing.T, examples []sdk.Example) float64 {
	c := sdktest.Start(t, sdk.ServeOpts{Name: "relevance", Version: "1", Metrics: []sdk.Metric{New()}})
	cfg := sdktest.Config(t, New().Describe().Schema, map[string]cty.Value{})
	ms, d, err := c.OpenMetric(context.Background(), sdk.MetricOpen{Component: "relevance", Config: cfg, Language: "de"})
	if err != nil || d.HasErrors() {
		t.Fatal(err, d.Err())
	}
	vals, err := ms.Add(examples)
	if err != nil || len(vals) != len(examples) {
		t.Fatalf("values %v %v", vals, err)
	}
	_, agg, err := ms.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return agg.Values["value"]
}

// Responses paired with their own prompts score higher than the same
// responses re-paired with other prompts: the failure this metric exists for.
func TestMatchedBeatsMismatched(t *testing.T) {
	var matched, mismatched []sdk.Example
	for i, p := range pairs {
		matched = append(matched, sdk.Example{ID: p[0], Prompt: p[0], Response: p[1]})
		other := pairs[(i+1)%len(pairs)]
		mismatched = append(mismatched, sdk.Example{ID: p[0], Prompt: p[0], Response: other[1]})
	}
	m, x := run(t, matched), run(t, mismatched)
	if !(m > x) {
		t.Fatalf("matched %.3f should beat mismatched %.3f", m, x)
	}
}

func TestIdenticalTextsScoreOne(t *testing.T) {
	if v := run(t, []sdk.Example{{ID: "a", Prompt: "Hallo Welt", Response: "Hallo Welt"}}); v < 0.999 {
		t.Fatalf("identical texts give %.4f", v)
	}
}
