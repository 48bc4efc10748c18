package webhook

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks reference vector (the specification's own example).
func TestSpecVector(t *testing.T) {
	s, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := s.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	oldKey, _ := ParseSecret("whsec_b2xkLXNlY3JldA==")
	newKey, _ := ParseSecret("whsec_bmV3LXNlY3JldA==")
	other, _ := ParseSecret("whsec_b3RoZXI=")
	v := NewVerifier([]Secret{oldKey, newKey}, func() time.Time { return now })
	body := []byte(`{"id":"job-1"}`)
	signed := func(s Secret, ts time.Time, b []byte) http.Header {
		h := http.Header{}
		s.SetHeaders(h, "msg-1", ts, b)
		return h
	}
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		want   error
	}{
		{name: "valid with the new key", header: signed(newKey, now, body), body: body},
		{name: "valid with the old key during rotation", header: signed(oldKey, now, body), body: body},
		{name: "several signatures, one valid", header: func() http.Header {
			h := signed(newKey, now, body)
			h.Set(HeaderSignature, other.Sign("msg-1", now, body)+" "+h.Get(HeaderSignature))
			return h
		}(), body: body},
		{name: "unknown key", header: signed(other, now, body), body: body, want: ErrNoMatch},
		{name: "body changed", header: signed(newKey, now, body), body: []byte(`{"id":"job-2"}`), want: ErrNoMatch},
		{name: "id changed", header: func() http.Header { h := signed(newKey, now, body); h.Set(HeaderID, "msg-2"); return h }(), body: body, want: ErrNoMatch},
		{name: "stale", header: signed(newKey, now.Add(-301*time.Second), body), body: body, want: ErrStale},
		{name: "future", header: signed(newKey, now.Add(301*time.Second), body), body: body, want: ErrStale},
		{name: "edge of window", header: signed(newKey, now.Add(-300*time.Second), body), body: body},
		{name: "missing signature", header: func() http.Header { h := signed(newKey, now, body); h.Del(HeaderSignature); return h }(), body: body, want: ErrMissingHeaders},
		{name: "timestamp not a number", header: func() http.Header { h := signed(newKey, now, body); h.Set(HeaderTimestamp, "yesterday"); return h }(), body: body, want: ErrBadTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.header, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	for _, bad := range []string{"", "secret", "whsec_", "whsec_!!!"} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		}
	}
}

// A signature made for one route does not verify for another: the target is
// part of the signed payload.
func TestBoundPayload(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	key, _ := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	v := NewVerifier([]Secret{key}, func() time.Time { return now })
	h := http.Header{}
	key.SetHeaders(h, "msg-1", now, Bound(http.MethodPost, "/api/v1/jobs/job-7/cancel", nil))
	if _, err := v.Verify(h, Bound(http.MethodPost, "/api/v1/jobs/job-7/cancel", nil)); err != nil {
		t.Fatalf("own target: %v", err)
	}
	for _, other := range [][]byte{
		Bound(http.MethodDelete, "/api/v1/clusters/prod-1", nil),
		Bound(http.MethodPost, "/api/v1/jobs/job-8/cancel", nil),
		nil, // the unbound Standard Webhooks payload
	} {
		if _, err := v.Verify(h, other); !errors.Is(err, ErrNoMatch) {
			t.Errorf("payload %q: Verify = %v, want ErrNoMatch", other, err)
		}
	}
}

// The timestamp signed is the header as sent, and only one spelling of a
// number is a timestamp.
func TestTimestampSpelling(t *testing.T) {
	now := time.Unix(1_795_646_583, 0)
	key, _ := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	v := NewVerifier([]Secret{key}, func() time.Time { return now })
	for _, ts := range []string{"+1795646583", "+0001795646583", "01795646583", "1795646583.0", " 1795646583", "1795646583 ", "-1"} {
		h := http.Header{}
		key.SetHeaders(h, "msg-1", now, []byte("{}"))
		h.Set(HeaderTimestamp, ts)
		if _, err := v.Verify(h, []byte("{}")); !errors.Is(err, ErrBadTimestamp) {
			t.Errorf("timestamp %q: Verify = %v, want ErrBadTimestamp", ts, err)
		}
	}
}

func TestIDBounds(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	key, _ := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	v := NewVerifier([]Secret{key}, func() time.Time { return now })
	for name, id := range map[string]string{"too long": strings.Repeat("a", MaxIDLength+1), "tab": "msg\t1", "control": "msg\x01", "not ASCII": "msg-é"} {
		h := http.Header{}
		key.SetHeaders(h, id, now, nil)
		if _, err := v.Parse(h); !errors.Is(err, ErrBadID) {
			t.Errorf("%s: Parse = %v, want ErrBadID", name, err)
		}
	}
	h := http.Header{}
	key.SetHeaders(h, strings.Repeat("a", MaxIDLength), now, nil)
	if _, err := v.Verify(h, nil); err != nil {
		t.Errorf("longest id: %v", err)
	}
}
