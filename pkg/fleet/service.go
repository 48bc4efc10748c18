package fleet

// Options are the Service's optional collaborators.
type Options struct {
	// Observations, when set, forgets a deleted cluster's applications. Nil
	// where nothing watches them (the CLI).
	Observations Observations
}

// Service holds the use cases both front-ends run on one cluster.
type Service struct {
	reg    Registry
	health Health
	jobs   Jobs
	opts   Options
}

// New returns the use cases over the registry, the health monitor and the
// work queue.
func New(reg Registry, health Health, jobs Jobs, opts Options) *Service {
	return &Service{reg: reg, health: health, jobs: jobs, opts: opts}
}
