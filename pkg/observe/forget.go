package observe

// Forget drops what the watcher remembers of a cluster pushd no longer
// serves, so an id registered again starts from nothing.
func (w *Watcher) Forget(cluster string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.states, cluster)
}
