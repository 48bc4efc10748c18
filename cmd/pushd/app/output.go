package app

import (
	"encoding/json"
	"io"
	"text/tabwriter"
)

// streams are where a command writes.
type streams struct {
	out, err io.Writer
}

func (streams) discard() io.Writer { return io.Discard }

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable writes tab-separated rows as aligned columns when flushed.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}
