package score

// SetBootWorkers makes Compute draw bootstrap replicates on n goroutines until the
// returned function restores the default.
func SetBootWorkers(n int) (restore func()) {
	saved := bootWorkers
	bootWorkers = func() int { return n }
	return func() { bootWorkers = saved }
}
