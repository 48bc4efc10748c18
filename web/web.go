// Package web holds pushd's web UI: HTML templates and static assets,
// embedded in the binary so one file serves the whole UI.
//
// It holds no logic. pkg/ui computes every value a page shows and picks the
// page; the templates only lay values out, with conditionals for empty
// states. html/template escapes everything they print.
//
// Each page (templates/<page>.html) defines "title" and "content" and is
// rendered inside templates/layout.html; "title" gets the page's own data,
// "content" the whole page (.Data, .CSRF for action forms). Files named
// templates/_*.html are not pages but pieces every page may use (the jobs
// table). static/live.js is the one script: it refreshes the sections a
// page marks data-live, until none is left (a section rendered without
// data-live stops refreshing). A page that should grow a section
// later defines it as a {{block}} so the section can be filled without
// restructuring the page.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"path"
	"strings"
)

//go:embed templates/*.html static/*
var files embed.FS

const layout = "templates/layout.html"

// Pages are the parsed pages, each combined with the layout.
type Pages struct {
	byName map[string]*template.Template
}

// ParsePages parses every page of templates/ with the layout.
func ParsePages() (*Pages, error) {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &Pages{byName: map[string]*template.Template{}}
	for _, name := range names {
		if name == layout || strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		t, err := template.ParseFS(files, layout, "templates/_*.html", name)
		if err != nil {
			return nil, fmt.Errorf("web: page %s: %w", name, err)
		}
		p.byName[strings.TrimSuffix(path.Base(name), ".html")] = t
	}
	return p, nil
}

// Execute renders page with data into w.
func (p *Pages) Execute(w io.Writer, page string, data any) error {
	t, ok := p.byName[page]
	if !ok {
		return fmt.Errorf("web: no page %q", page)
	}
	return t.ExecuteTemplate(w, "layout", data)
}

// Static is the static assets (style.css, …), rooted at static/.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // "static" is a valid path and embedded: unreachable
	}
	return sub
}
