package clusters

// RestoreCredential stores a credential returned by Credential again, so a
// replacement that fails its probe can be undone.
func (r *Registry) RestoreCredential(id string, c *Credential) error {
	if err := r.creds.Save(id, c); err != nil {
		return err
	}
	r.opts.Logger.Info("credential restored", "cluster", id, "credential", c)
	return nil
}
