package spec

// Lookups by name; nil when absent. Slices stay the source of order.

func find[T any](xs []*T, name string, key func(*T) string) *T {
	for _, x := range xs {
		if key(x) == name {
			return x
		}
	}
	return nil
}

// Teacher returns the teacher block with this name.
func (e *Experiment) Teacher(name string) *Teacher {
	return find(e.Teachers, name, func(t *Teacher) string { return t.Name })
}

// SeedSet returns the seeds block with this name.
func (e *Experiment) SeedSet(name string) *SeedSet {
	return find(e.SeedSets, name, func(s *SeedSet) string { return s.Name })
}

// Control returns the control block with this name.
func (e *Experiment) Control(name string) *Control {
	return find(e.Controls, name, func(c *Control) string { return c.Name })
}

// Strategy returns the strategy block with this name.
func (e *Experiment) Strategy(name string) *Strategy {
	return find(e.Strategies, name, func(s *Strategy) string { return s.Name })
}

// Metric returns the metric block with this name.
func (e *Experiment) Metric(name string) *Metric {
	return find(e.Metrics, name, func(m *Metric) string { return m.Name })
}

// Student returns the student block with this name.
func (e *Experiment) Student(name string) *Student {
	return find(e.Students, name, func(s *Student) string { return s.Name })
}

// Benchmark returns the benchmark block with this name.
func (e *Experiment) Benchmark(name string) *Benchmark {
	return find(e.Benchmarks, name, func(b *Benchmark) string { return b.Name })
}

// RequiredPlugin returns the required_plugins entry with this name.
func (e *Experiment) RequiredPlugin(name string) *RequiredPlugin {
	return find(e.RequiredPlugins, name, func(p *RequiredPlugin) string { return p.Name })
}

// Server returns the server block with this name.
func (e *Experiment) Server(name string) *Server {
	return find(e.Servers, name, func(s *Server) string { return s.Name })
}
