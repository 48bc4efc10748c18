package api

import "testing"

func TestIDSpaceOwnerIsTheLongestPrefix(t *testing.T) {
	s, err := newIDSpace([]string{"acme", "acme.edu", "Globex_EU"})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"acme-prod":      "acme",
		"acme-edu-prod":  "acme.edu",
		"globex-eu-1":    "Globex_EU",
		"acmeprod":       "",
		"prod-1":         "",
		"acme-edu":       "acme", // "acme-edu-" is not a prefix of it
		"globex-eu":      "",
		"globex-eu-edge": "Globex_EU",
	} {
		if got := s.owner(id); got != want {
			t.Errorf("owner(%q) = %q, want %q", id, got, want)
		}
	}
	if _, err := newIDSpace([]string{"a.b", "a_b"}); err == nil {
		t.Error("two organizations with one prefix must be refused")
	}
	if one, _ := newIDSpace([]string{"acme"}); one.admits("acme", "anything", false) != nil {
		t.Error("one organization: every id is free")
	}
}
