package clusters

// Credential returns the stored credential of a cluster, so a replacement
// that fails its probe can be undone (see RestoreCredential).
func (r *Registry) Credential(id string) (*Credential, error) {
	c, _, err := r.creds.Load(id)
	return c, err
}

// RestoreCredential stores a credential returned by Credential again.
func (r *Registry) RestoreCredential(id string, c *Credential) error {
	if err := r.creds.Save(id, c); err != nil {
		return err
	}
	r.opts.Logger.Info("credential restored", "cluster", id, "credential", c)
	return nil
}
