// Package sealed encrypts values at rest: the manifests pkg/store keeps,
// which hold Secret values.
//
// A sealed value is an envelope that names its key:
//
//	enc:v1:<key id>:<base64(nonce ‖ AES-256-GCM ciphertext and tag)>
//
// so several keys can be configured at once: the first seals, every one
// opens. That is how a key is rotated: put the new key first, re-seal what
// is stored (pushd manifests rekey), then drop the old one. A value that is
// not an envelope is plain text written before a key was configured and
// reads as it is (stored manifests are JSON arrays, so never begin with
// "enc:").
package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// prefix starts every sealed value; v1 is AES-256-GCM with a 12-byte
// random nonce before the ciphertext.
const prefix = "enc:v1:"

// additionalData binds a sealed value to what it is, so a ciphertext made
// for something else with the same key does not open as a manifest.
var additionalData = []byte("pushd jobs.manifests")

// Key is one configured key.
type Key struct {
	// ID names the key in every value it seals; it never changes for a key.
	ID string
	// Secret is the key itself, KeySize random bytes.
	Secret []byte
}

// ErrUnknownKey is returned for a value sealed with a key that is not
// configured.
var ErrUnknownKey = errors.New("key not configured")

// Keyring seals with its first key and opens with any. A nil Keyring has
// no key: it leaves values plain and opens only plain ones.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// New returns the keyring of keys, the first of which seals; nil when
// keys is empty.
func New(keys []Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	k := &Keyring{current: keys[0].ID, aeads: map[string]cipher.AEAD{}}
	for _, key := range keys {
		if !idRE.MatchString(key.ID) {
			return nil, fmt.Errorf("manifest key %q: an id is 1-64 of A-Z a-z 0-9 . _ -", key.ID)
		}
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("manifest key %q: is %d bytes, want %d (head -c 32 /dev/urandom | base64)", key.ID, len(key.Secret), KeySize)
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("manifest key %q: configured twice", key.ID)
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return nil, fmt.Errorf("manifest key %q: %w", key.ID, err)
		}
		if k.aeads[key.ID], err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("manifest key %q: %w", key.ID, err)
		}
	}
	return k, nil
}

// ParseKeys reads "id=base64key" entries separated by spaces or newlines
// (the form of --manifest-keys and of --manifest-key-file), first the key
// that seals. Errors name the entry by its id or position, never its key.
func ParseKeys(s string) ([]Key, error) {
	var keys []Key
	for i, field := range strings.Fields(s) {
		id, b64, ok := strings.Cut(field, "=")
		// A bare key ends in base64 padding: "=" then nothing is no id.
		if !ok || !idRE.MatchString(id) || strings.Trim(b64, "=") == "" {
			return nil, fmt.Errorf("manifest key #%d: want id=base64key (an id is 1-64 of A-Z a-z 0-9 . _ -)", i+1)
		}
		secret, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("manifest key %q: not base64", id)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	if _, err := New(keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// Current is the id of the key that seals; empty without keys.
func (k *Keyring) Current() string {
	if k == nil {
		return ""
	}
	return k.current
}

// Seal encrypts plain with the current key. Without keys, and for the
// empty value (nothing to hide, and what an emptied manifest is), it
// returns plain as it is.
func (k *Keyring) Seal(plain string) (string, error) {
	if k == nil || plain == "" {
		return plain, nil
	}
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("manifest key %q: nonce: %w", k.current, err)
	}
	sealed := aead.Seal(nonce, nonce, []byte(plain), additionalData)
	return prefix + k.current + ":" + base64.StdEncoding.EncodeToString(sealed), nil
}

// KeyID returns the id of the key value is sealed with; ok is false for a
// plain value.
func KeyID(value string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(value, prefix)
	if !ok {
		return "", false
	}
	id, _, ok = strings.Cut(rest, ":")
	return id, ok
}

// Open returns the plain text of value: itself when it is not sealed.
// A value sealed with a key not configured is ErrUnknownKey naming the
// key; one that does not decrypt is an error too, never garbage.
func (k *Keyring) Open(value string) (string, error) {
	id, ok := KeyID(value)
	if !ok {
		return value, nil
	}
	var aead cipher.AEAD
	if k != nil {
		aead = k.aeads[id]
	}
	if aead == nil {
		return "", fmt.Errorf("manifest key %q: %w (--manifest-keys must list every key that still seals a stored manifest)", id, ErrUnknownKey)
	}
	raw, err := base64.StdEncoding.DecodeString(value[len(prefix)+len(id)+1:])
	if err != nil || len(raw) < aead.NonceSize() {
		return "", fmt.Errorf("manifest key %q: sealed value is malformed", id)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], additionalData)
	if err != nil {
		return "", fmt.Errorf("manifest key %q: sealed value does not decrypt (another key of that id, or altered at rest)", id)
	}
	return string(plain), nil
}
