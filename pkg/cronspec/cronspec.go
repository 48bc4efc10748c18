// Package cronspec parses the drift schedules of cluster records. Schedules
// come from Odoo over the API, so parsing is hardened: robfig/cron panics on
// some inputs (TZ=…, CRON_TZ=… without a space), accepts descriptors such as
// "@every 1s", and runs schedules in the process's local time. Parse accepts
// exactly five fields, never panics, and returns schedules in UTC; five
// fields cannot fire more often than once a minute.
package cronspec

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// MaxLength bounds a spec; five fields need far less.
const MaxLength = 200

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Parse reads a five-field cron expression ("minute hour day-of-month month
// day-of-week") whose times are UTC.
func Parse(spec string) (sched cron.Schedule, err error) {
	if len(spec) > MaxLength {
		return nil, fmt.Errorf("longer than %d characters", MaxLength)
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, fmt.Errorf("want five fields (minute hour day-of-month month day-of-week), got %d", len(fields))
	}
	for _, f := range fields {
		if strings.ContainsAny(f, "=@") {
			return nil, errors.New("time zones (TZ=, CRON_TZ=) and descriptors (@every, @daily) are not accepted; schedules are UTC")
		}
	}
	defer func() {
		if p := recover(); p != nil {
			sched, err = nil, fmt.Errorf("not a cron expression (%v)", p)
		}
	}()
	s, err := parser.Parse(strings.Join(fields, " "))
	if err != nil {
		return nil, err
	}
	spec5, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, errors.New("not a cron expression")
	}
	spec5.Location = time.UTC
	return spec5, nil
}

// Parser is Parse as a cron.ScheduleParser, for cron.WithParser: a
// cron.Cron built with it accepts exactly what cluster records accept.
type Parser struct{}

// Parse implements cron.ScheduleParser.
func (Parser) Parse(spec string) (cron.Schedule, error) { return Parse(spec) }

var _ cron.ScheduleParser = Parser{}
