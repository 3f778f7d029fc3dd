package strategy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The generator walks an Expander in order, but a request must not depend
// on which requests were asked for before it: backwards (crossing epochs
// of the seed order each time) gives the same requests as Expand.
func TestExpanderMatchesExpandInAnyOrder(t *testing.T) {
	exp, rows := loadExample(t)
	gen := strategyNamed(t, exp, "generate")
	for _, tc := range []struct {
		lang string
		n    int
	}{{"yo", 25}, {"sr-Latn", 40}, {"zh-Hant", 1}, {"xx", 5}} {
		t.Run(tc.lang, func(t *testing.T) {
			want := Expand(gen, rows, tc.lang, tc.n, 7)
			e := NewExpander(gen, rows, tc.lang, tc.n, 7)
			if e.Len() != len(want) {
				t.Fatalf("Len %d, Expand gave %d", e.Len(), len(want))
			}
			for i := e.Len() - 1; i >= 0; i-- {
				got, err := e.Request(i)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(want[i], got); d != "" {
					t.Fatalf("request %d differs:\n%s", i, d)
				}
			}
		})
	}
}
