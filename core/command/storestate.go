package command

// storeStates reads unit states from the experiment's store, read-only.
// Until the store exists every unit is pending.
func storeStates(dir string) (unitStateFunc, func()) {
	return nil, func() {}
}
