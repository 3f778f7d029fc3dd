package command

import (
	"os"

	"github.com/polyglot-teachers/polyglot/core/engine"
	"github.com/polyglot-teachers/polyglot/core/store"
)

// storeStates reads unit states from the experiment's store, read-only, so
// that `polyglot plan` works while a run is going. A store that does not
// exist yet means every unit is pending. With screening on, units of the
// cells its stages dropped are "dropped": a run leaves them out.
func storeStates(dir string, screening bool) (unitStateFunc, func()) {
	if _, err := os.Stat(dir); err != nil {
		return nil, func() {}
	}
	st, err := store.OpenReadOnly(dir)
	if err != nil {
		return nil, func() {}
	}
	var drop map[string]engine.DroppedUnit
	if screening {
		drop, _ = engine.DroppedUnits(st) // unreadable: shown as they stand
	}
	return func(key string) (string, int) {
		u, ok, err := st.Unit(key)
		if err != nil || !ok {
			return "pending", 0
		}
		if u.State == store.Done {
			return "done", 0
		}
		if _, ok := drop[key]; ok {
			n, _ := st.DoneRequestCount(key)
			return "dropped", n
		}
		if u.Stage == "generate" {
			if n, err := st.DoneRequestCount(key); err == nil && n > 0 {
				return "partial", n
			}
		}
		return "pending", 0
	}, func() { st.Close() }
}
