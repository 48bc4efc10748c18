package web_test

import (
	"io/fs"
	"testing"

	"github.com/vworkspace/pushd/web"
)

func TestPagesParseAndStaticIsEmbedded(t *testing.T) {
	if _, err := web.ParsePages(); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(web.Static(), "style.css"); err != nil {
		t.Fatal(err)
	}
}
