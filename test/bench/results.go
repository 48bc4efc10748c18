package main

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"time"
)

// row is one figure of the table (and of the JSON).
type row struct {
	Scenario string   `json:"scenario"`
	Figure   string   `json:"figure"`
	Value    *float64 `json:"value,omitempty"`
	Unit     string   `json:"unit,omitempty"`
	// Compare names the baseline and its value, measured in the same run.
	Compare string   `json:"compare,omitempty"`
	Ratio   *float64 `json:"ratio,omitempty"`
	// Target is issue 11's target for this figure; Met says whether it was.
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
	// NA is why the figure could not be measured through the black box.
	NA   string `json:"na,omitempty"`
	Note string `json:"note,omitempty"`
}

func (b *bench) add(r row) { b.results = append(b.results, r) }

func num(v float64) *float64 { return &v }
func boolp(v bool) *bool     { return &v }

func secs(d time.Duration) float64 { return d.Seconds() }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtValue(v float64, unit string) string {
	switch {
	case unit == "s":
		return fmt.Sprintf("%.2f s", v)
	case unit == "ms":
		return fmt.Sprintf("%.0f ms", v)
	case unit == "MiB" || unit == "KiB":
		return fmt.Sprintf("%.2f %s", v, unit)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	default:
		return fmt.Sprintf("%.2f %s", v, unit)
	}
}

func renderTable(rows []row) string {
	var sb strings.Builder
	sb.WriteString("| scenario | figure | pushd | baseline (same run) | ratio | target | met |\n")
	sb.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		val := ""
		if r.NA != "" {
			val = "n/a: " + r.NA
		} else if r.Value != nil {
			val = strings.TrimSpace(fmtValue(*r.Value, r.Unit))
		}
		if r.Note != "" {
			val += " (" + r.Note + ")"
		}
		ratio := ""
		if r.Ratio != nil {
			ratio = fmt.Sprintf("%.2f×", *r.Ratio)
		}
		met := ""
		if r.Met != nil {
			met = "not met"
			if *r.Met {
				met = "met"
			}
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Scenario, r.Figure, cell(val), cell(r.Compare), ratio, cell(r.Target), met)
	}
	return sb.String()
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// percentile of ds (nearest rank).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	if k < 0 {
		k = 0
	}
	return s[k]
}

func numCPU() int { return runtime.NumCPU() }
