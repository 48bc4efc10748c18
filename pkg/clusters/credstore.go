package clusters

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNoCredentials means a cluster has no kubeconfig in the credential folder.
var ErrNoCredentials = errors.New("no credential: no kubeconfig for this cluster")

// CredentialStore is the kubeconfig folder: one <cluster-id>.kubeconfig per
// cluster, mode 0600, written atomically. Files an operator drops in by hand
// are untrusted like any other input and go through ParseKubeconfig on load.
type CredentialStore struct {
	dir string
}

// NewCredentialStore uses dir, creating it with mode 0700.
func NewCredentialStore(dir string) (*CredentialStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kubeconfig folder: %w", err)
	}
	return &CredentialStore{dir: dir}, nil
}

func (s *CredentialStore) path(id string) string { return filepath.Join(s.dir, id+".kubeconfig") }

// Save writes the credential atomically (temporary file, fsync, rename).
func (s *CredentialStore) Save(id string, c *Credential) error {
	data, err := c.Kubeconfig(id)
	if err != nil {
		return fmt.Errorf("cluster %q: render kubeconfig: %w", id, err)
	}
	tmp, err := os.CreateTemp(s.dir, "."+id+".kubeconfig.*.tmp")
	if err != nil {
		return fmt.Errorf("cluster %q: %w", id, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("cluster %q: write kubeconfig: %w", id, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.path(id)); err != nil {
		return fmt.Errorf("cluster %q: store kubeconfig: %w", id, err)
	}
	return nil
}

// Version identifies the file's content, so callers can tell a replaced
// credential (rotation) from the one they loaded. Empty when there is none.
func (s *CredentialStore) Version(id string) (string, error) {
	data, err := os.ReadFile(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", sha256.Sum256(data)), nil
}

// Stat describes the credential file of id without reading it; nil when
// there is none.
func (s *CredentialStore) Stat(id string) (fs.FileInfo, error) {
	info, err := os.Stat(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", id, err)
	}
	return info, nil
}

// Load reads and sanitises the credential of id, with its version.
func (s *CredentialStore) Load(id string) (*Credential, string, error) {
	data, err := os.ReadFile(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", ErrNoCredentials
	}
	if err != nil {
		return nil, "", fmt.Errorf("cluster %q: %w", id, err)
	}
	c, err := ParseKubeconfig(data)
	if err != nil {
		return nil, "", fmt.Errorf("cluster %q: %s: %w", id, s.path(id), err)
	}
	return c, fmt.Sprintf("%x", sha256.Sum256(data)), nil
}

// Delete removes the credential of id, if any.
func (s *CredentialStore) Delete(id string) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Dir is the folder the credentials live in.
func (s *CredentialStore) Dir() string { return s.dir }
