package sealed

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func key(t *testing.T, id string) Key {
	t.Helper()
	k := Key{ID: id, Secret: make([]byte, 32)}
	rand.Read(k.Secret)
	return k
}

// TestRotation: the first key seals, every key opens, a value sealed with
// a key no longer configured fails naming that key, and plain text reads
// as it is.
func TestRotation(t *testing.T) {
	old, cur := key(t, "k2025"), key(t, "k2026")
	before, err := New([]Key{old})
	if err != nil {
		t.Fatal(err)
	}
	v1, err := before.Seal(`[{"kind":"Secret","stringData":{"p":"hunter2"}}]`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v1, "enc:v1:k2025:") || strings.Contains(v1, "hunter2") {
		t.Fatalf("sealed value %q", v1)
	}
	if v1b, _ := before.Seal(`[{"kind":"Secret","stringData":{"p":"hunter2"}}]`); v1b == v1 {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	both, err := New([]Key{cur, old})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := both.Open(v1); err != nil || !strings.Contains(got, "hunter2") {
		t.Fatalf("open with the old key second: %q %v", got, err)
	}
	v2, err := both.Seal("[1]")
	if err != nil || !strings.HasPrefix(v2, "enc:v1:k2026:") {
		t.Fatalf("the first key seals: %q %v", v2, err)
	}
	after, _ := New([]Key{cur})
	_, err = after.Open(v1)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), `"k2025"`) {
		t.Fatalf("a dropped key's value: %v", err)
	}
	var none *Keyring
	if _, err := none.Open(v1); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("no keys at all: %v", err)
	}
	for _, k := range []*Keyring{none, after} {
		if got, err := k.Open("[1]"); err != nil || got != "[1]" {
			t.Fatalf("plain text: %q %v", got, err)
		}
	}
	if got, err := none.Seal("[1]"); err != nil || got != "[1]" {
		t.Fatalf("no keys seal nothing: %q %v", got, err)
	}
	// A value altered at rest (or sealed by another key of the same id) is
	// refused, never returned as garbage.
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(v2, "enc:v1:k2026:"))
	raw[len(raw)-1] ^= 1
	if _, err := after.Open("enc:v1:k2026:" + base64.StdEncoding.EncodeToString(raw)); err == nil || !strings.Contains(err.Error(), `"k2026"`) {
		t.Fatalf("altered value: %v", err)
	}
	if id, ok := KeyID(v2); !ok || id != "k2026" {
		t.Fatalf("KeyID: %q %v", id, ok)
	}
}

func TestParseKeys(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	b64 := base64.StdEncoding.EncodeToString(secret)
	keys, err := ParseKeys("new=" + b64 + "\n  old=" + b64 + "\n")
	if err != nil || len(keys) != 2 || keys[0].ID != "new" || keys[1].ID != "old" || !bytes.Equal(keys[0].Secret, secret) {
		t.Fatalf("%+v %v", keys, err)
	}
	for _, bad := range []string{
		b64,                      // no id
		"a=" + b64[:20],          // not 32 bytes
		"a=not*base64",           // not base64
		"a=" + b64 + " a=" + b64, // the same id twice
		"bad:id=" + b64,          // ':' would break the envelope
	} {
		_, err := ParseKeys(bad)
		if err == nil {
			t.Errorf("%q: accepted", bad)
		} else if strings.Contains(err.Error(), b64[:20]) {
			t.Errorf("%q: the error quotes the key: %v", bad, err)
		}
	}
}
