package webhook

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary headers and bodies to the verifier. Whatever
// comes in: no panic; a message is accepted only if it carries the real
// signature of its id, timestamp and payload; and a message signed with the
// key verifies, and stops verifying when one byte of its payload changes.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	key := Secret{key: []byte("0123456789abcdef0123456789abcdef")}
	good := key.Sign("msg_1", now, Bound("POST", "/api/v1/jobs", []byte(`{"id":"j1"}`)))
	f.Add("msg_1", "1800000000", good, "POST", "/api/v1/jobs", []byte(`{"id":"j1"}`))
	f.Add("msg_1", "1800000000", "v1,AAAA "+good, "POST", "/api/v1/jobs", []byte(`{"id":"j1"}`))
	f.Add("", "", "", "GET", "/", []byte{})
	f.Add("msg 2", "01800000000", "v1,", "PUT", "/api/v1/clusters/c1?x=1", []byte("\x00\xff"))
	f.Add("msg_3", "-1", "v2,abc", "DELETE", "/api/v1/jobs/j1", []byte(nil))
	f.Add(strings.Repeat("a", 256), "1800000301", good, "POST", "/api/v1/jobs", []byte("{}"))
	f.Fuzz(func(t *testing.T, id, ts, sigs, method, target string, body []byte) {
		v := NewVerifier([]Secret{key}, func() time.Time { return now })
		payload := Bound(method, target, body)
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sigs)
		m, err := v.Verify(h, payload)
		if err == nil {
			want := key.sign(h.Get(HeaderID), h.Get(HeaderTimestamp), payload)
			found := false
			for _, s := range strings.Fields(h.Get(HeaderSignature)) {
				found = found || s == want
			}
			if !found {
				t.Fatalf("accepted %q without its signature %s", sigs, want)
			}
			if !validID(m.ID) || m.Timestamp.Sub(now).Abs() > DefaultTolerance {
				t.Fatalf("accepted id %q at %s", m.ID, m.Timestamp)
			}
		}

		// Round trip: what the key signs, the verifier accepts — unless the
		// id itself is refused — and a changed payload is refused.
		h2 := http.Header{}
		key.SetHeaders(h2, id, now, payload)
		_, err = v.Verify(h2, payload)
		switch {
		case id == "" || !validID(h2.Get(HeaderID)):
			if err == nil {
				t.Fatalf("id %q accepted", id)
			}
		case err != nil:
			t.Fatalf("signed message refused: %v", err)
		}
		if err == nil {
			changed := append(append([]byte(nil), payload...), 'x')
			if _, err := v.Verify(h2, changed); err != ErrNoMatch {
				t.Fatalf("changed payload: %v, want ErrNoMatch", err)
			}
		}
	})
}
