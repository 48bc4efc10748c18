package cronspec

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func TestParseRefuses(t *testing.T) {
	for name, spec := range map[string]string{
		"empty":             "",
		"TZ prefix":         "TZ=",
		"CRON_TZ prefix":    "CRON_TZ=UTC",
		"CRON_TZ with spec": "CRON_TZ=Europe/Paris 0 * * * *",
		"TZ with spec":      "TZ=UTC 0 * * * *",
		"every second":      "@every 1s",
		"descriptor":        "@hourly",
		"six fields":        "0 0 * * * *",
		"four fields":       "0 * * *",
		"out of range":      "61 * * * *",
		"garbage":           "a b c d e",
		"huge":              "0 0 * * " + string(make([]byte, 300)),
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := Parse(spec); err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", spec, s)
			}
		})
	}
}

func TestParseRunsInUTC(t *testing.T) {
	s, err := Parse("30 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone data")
	}
	from := time.Date(2026, 7, 1, 0, 0, 0, 0, paris) // 2026-06-30 22:00 UTC
	next := s.Next(from)
	if want := time.Date(2026, 7, 1, 2, 30, 0, 0, time.UTC); !next.Equal(want) {
		t.Fatalf("next = %s, want %s", next.UTC(), want)
	}
}

// FuzzParse: no input panics, and what is accepted fires at most once a minute.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"*/5 * * * *", "0 3 * * 1-5", "TZ=", "CRON_TZ=UTC", "@every 1s", "0 0 31 2 *", "* * * * *", "1-59/0 * * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec)
		if err != nil {
			return
		}
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		a := s.Next(from)
		if a.IsZero() {
			return // never fires (e.g. 31 February)
		}
		if b := s.Next(a); !b.IsZero() && b.Sub(a) < time.Minute {
			t.Fatalf("%q fires %s apart", spec, b.Sub(a))
		}
	})
}

// A cron.Cron built with Parser refuses what records refuse and schedules in UTC.
func TestParserInCron(t *testing.T) {
	c := cron.New(cron.WithParser(Parser{}), cron.WithLocation(time.UTC))
	for _, bad := range []string{"TZ=", "CRON_TZ=UTC", "@every 1s"} {
		if _, err := c.AddFunc(bad, func() {}); err == nil {
			t.Errorf("AddFunc(%q) accepted", bad)
		}
	}
	id, err := c.AddFunc("30 2 * * *", func() {})
	if err != nil {
		t.Fatal(err)
	}
	next := c.Entry(id).Schedule.Next(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 7, 1, 2, 30, 0, 0, time.UTC); !next.Equal(want) {
		t.Fatalf("next = %s, want %s", next, want)
	}
}
