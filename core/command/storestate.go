package command

import (
	"os"

	"github.com/polyglot-teachers/polyglot/core/store"
)

// storeStates reads unit states from the experiment's store, read-only, so
// that `polyglot plan` works while a run is going. A store that does not
// exist yet means every unit is pending.
func storeStates(dir string) (unitStateFunc, func()) {
	if _, err := os.Stat(dir); err != nil {
		return nil, func() {}
	}
	st, err := store.OpenReadOnly(dir)
	if err != nil {
		return nil, func() {}
	}
	return func(key string) (string, int) {
		u, ok, err := st.Unit(key)
		if err != nil || !ok {
			return "pending", 0
		}
		if u.State == store.Done {
			return "done", 0
		}
		if u.Stage == "generate" {
			if n, err := st.DoneRequestCount(key); err == nil && n > 0 {
				return "partial", n
			}
		}
		return "pending", 0
	}, func() { st.Close() }
}
