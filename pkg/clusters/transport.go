package clusters

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// RedirectError is a redirect an API server answered. pushd follows none:
// a Kubernetes API server never needs one, and following it would send the
// cluster's credential (client-go adds the token to every request, the
// redirected one too, whatever its host or scheme) and pushd's requests
// wherever the server points, an internal service among them.
type RedirectError struct{ Status int }

func (e *RedirectError) Error() string {
	return fmt.Sprintf("the API server answered %d %s, a redirect: pushd follows no redirect from a cluster", e.Status, http.StatusText(e.Status))
}

// ResponseTooLargeError is an answer (or one watch event) longer than the
// bound of every answer pushd reads from a cluster (ClientOptions.MaxResponseBytes).
type ResponseTooLargeError struct{ Limit int64 }

func (e *ResponseTooLargeError) Error() string {
	return fmt.Sprintf("the API server's answer is longer than %s, the most pushd reads of one answer or watch event", mib(e.Limit))
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Guard makes every request sent with cfg (and with copies of it) go
// through guard, outermost: maxBytes bounds each answer (each watch event),
// DefaultMaxResponseBytes when 0.
func Guard(cfg *rest.Config, maxBytes int64) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxResponseBytes
	}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return guard{next: rt, max: maxBytes} })
}

// guard is the outermost transport of every request to a cluster (see
// NewClients): it refuses redirects, bounds every answer's body, and
// replaces an error's body that is not a Kubernetes Status with one in
// pushd's words, so whatever a hostile or misdirected server answers is
// never repeated in a status, an API answer, an event or a log line.
type guard struct {
	next http.RoundTripper
	max  int64
}

func (g guard) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.Body == nil {
		resp.Body = http.NoBody // as a wrapper inside may answer
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		// The codes http.Client follows; refused before it can.
		resp.Body.Close()
		return nil, &RedirectError{Status: resp.StatusCode}
	case http.StatusSwitchingProtocols:
		return resp, nil // an upgraded connection, not an answer
	}
	if isWatch(req) && resp.StatusCode == http.StatusOK {
		// A watch is one answer for as long as it lasts: each event, a line
		// of the JSON stream, is bounded instead. (client-go itself bounds a
		// protobuf frame at 16 MiB.)
		resp.Body = &lineBound{rc: resp.Body, max: g.max}
		return resp, nil
	}
	if resp.ContentLength > g.max {
		resp.Body.Close()
		return nil, &ResponseTooLargeError{Limit: g.max}
	}
	resp.Body = &bound{rc: resp.Body, left: g.max, max: g.max}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	return g.errorAnswer(req, resp)
}

// errorAnswer passes an error's Kubernetes Status on (its message is the API
// server's account of what failed, which pushd reports) and replaces any
// other body — a proxy's page, an internal service's answer — with a Status
// of pushd's own: the same HTTP status, reason and retry advice, so callers
// classify it as client-go would have, and none of the body.
func (g guard) errorAnswer(req *http.Request, resp *http.Response) (*http.Response, error) {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && isStatus(body) {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	retryAfter, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	st := apierrors.NewGenericServerResponse(resp.StatusCode, req.Method, schema.GroupResource{}, "", "", retryAfter, true).ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	st.Message = fmt.Sprintf("the API server answered %d %s without a Kubernetes Status (pushd does not repeat the answer's body)",
		resp.StatusCode, http.StatusText(resp.StatusCode))
	if st.Details != nil {
		for i := range st.Details.Causes {
			st.Details.Causes[i].Message = st.Message
		}
	}
	out, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	resp.Header = resp.Header.Clone()
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Del("Content-Encoding")
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.ContentLength = int64(len(out))
	resp.Body = io.NopCloser(bytes.NewReader(out))
	return resp, nil
}

// isStatus tells whether body is a failed Kubernetes Status in any of the
// encodings client-go decodes (as client-go does, a Status without
// apiVersion is taken for v1).
func isStatus(body []byte) bool {
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, &schema.GroupVersionKind{Version: "v1"}, nil)
	st, ok := obj.(*metav1.Status)
	return err == nil && ok && st.Status == metav1.StatusFailure
}

// isWatch tells whether req asks for a watch stream.
func isWatch(req *http.Request) bool {
	watch, _ := strconv.ParseBool(req.URL.Query().Get("watch"))
	return watch || strings.Contains(req.URL.Path, "/watch/")
}

// bound is a body that fails past max bytes; an answer of exactly max bytes is read whole.
type bound struct {
	rc   io.ReadCloser
	left int64
	max  int64
	err  error
}

func (b *bound) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left <= 0 {
		// At the bound: one byte more is one too many.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			b.err = &ResponseTooLargeError{Limit: b.max}
			return 0, b.err
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *bound) Close() error { return b.rc.Close() }

// lineBound is a watch stream that fails when a line (one event) is longer than max bytes.
type lineBound struct {
	rc   io.ReadCloser
	line int64 // bytes of the current line read so far
	max  int64
	err  error
}

func (b *lineBound) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.max {
		p = p[:b.max]
	}
	n, err := b.rc.Read(p)
	for rest := p[:n]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			b.line += int64(len(rest))
			break
		}
		if b.line += int64(i); b.line > b.max {
			break
		}
		b.line, rest = 0, rest[i+1:]
	}
	if b.line > b.max {
		b.err = &ResponseTooLargeError{Limit: b.max}
		return 0, b.err
	}
	return n, err
}

func (b *lineBound) Close() error { return b.rc.Close() }
