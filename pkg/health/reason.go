package health

import "strings"

// Reason says in a sentence, for people, why a cluster is not ready: the
// Message is a raw error (`Get "https://…/version?timeout=30s": dial tcp
// …: connect: connection refused`) that means little on a fleet page or a
// terminal. Empty when the cluster is ready.
func (c Connectivity) Reason() string {
	msg := strings.ToLower(c.Message)
	switch c.State {
	case StateReady, "":
		return ""
	case StateNoCredentials:
		return "No credential yet: store its kubeconfig or run pushd clusters bootstrap."
	case StateUnauthorized:
		return "The cluster refused the credential (expired or revoked): renew it or bootstrap again."
	case StateUnreachable:
		switch {
		case strings.Contains(msg, "connection refused"):
			return "Nothing answers at the API server's address (connection refused): the cluster or its API server is down."
		case strings.Contains(msg, "no such host"):
			return "The API server's host name does not resolve."
		case strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline exceeded"):
			return "The API server did not answer in time."
		case strings.Contains(msg, "x509") || strings.Contains(msg, "certificate"):
			return "The API server's TLS certificate is not the one its kubeconfig trusts."
		case strings.Contains(msg, "redirect"):
			return "The API server's address answered with a redirect, which pushd never follows: it may not be the API server."
		case strings.Contains(msg, "the most pushd reads"):
			return "The API server's answer was larger than pushd reads of one: it may not be the API server."
		case strings.Contains(msg, "circuit") || strings.Contains(msg, "breaker"):
			return "Recent probes failed: pushd waits before it tries again."
		}
		return "The API server could not be reached."
	}
	return "Not ready: " + string(c.State) + "."
}
