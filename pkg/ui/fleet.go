package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/jobs"
)

// What the UI pages show of each cluster's history.
const (
	// fleetJobWindow is how many of a cluster's newest jobs the fleet counts.
	fleetJobWindow = 100
	// clusterJobs and clusterEvents are the cluster page's table lengths.
	clusterJobs   = 25
	clusterEvents = 25
	// summaryRunes bounds an event's one-line summary.
	summaryRunes = 200
	// fleetPerPage is how many clusters one page of the fleet shows.
	fleetPerPage = 50
	// parkedCounted bounds the fleet's count of parked callbacks (one query).
	parkedCounted = 500
	// expiringWithin is when a credential's expiry needs attention.
	expiringWithin = 24 * time.Hour
)

type fleetPage struct {
	Summary   summary
	Clusters  []clusterRow
	JobWindow int
	// Inventory shows the applications column.
	Inventory bool
	// More is the link to the next page; empty on the last.
	More string
}

// summary is the fleet's attention bar: what needs a person, counted
// over every cluster of the organization (not only this page's).
type summary struct {
	Clusters, NotReady, OverPrivileged, Drifted, FailedJobs, Expiring int
	// FailedApps counts applications whose health is Failed; -1 when unknown.
	FailedApps int
	// Parked is the number of parked callbacks (up to parkedCounted);
	// -1 when callbacks are off.
	Parked int
}

// summaryItem is one entry of the attention bar.
type summaryItem struct {
	Count int
	Text  string // what is counted, after the number, in the number's grammar
	Link  string // where the counted things are listed; may be empty
	Bad   bool
}

// Items are the bar's entries; counts pushd cannot know (-1) are left out.
func (s summary) Items() []summaryItem {
	item := func(n int, one, many, link string) summaryItem {
		text := many
		if n == 1 {
			text = one
		}
		return summaryItem{Count: n, Text: text, Link: link, Bad: n > 0}
	}
	out := []summaryItem{
		item(s.NotReady, fmt.Sprintf("of %d not ready", s.Clusters), fmt.Sprintf("of %d not ready", s.Clusters), ""),
		item(s.OverPrivileged, "over-privileged", "over-privileged", ""),
		item(s.Drifted, "application drifted", "applications drifted", ""),
	}
	if s.FailedApps >= 0 {
		out = append(out, item(s.FailedApps, "application failed", "applications failed", ""))
	}
	out = append(out,
		item(s.FailedJobs, "failed job", "failed jobs", "/ui/jobs?status=failed"),
		item(s.Expiring, "credential expiring within a day", "credentials expiring within a day", ""))
	if s.Parked >= 0 {
		out = append(out, item(s.Parked, "parked callback", "parked callbacks", "/ui/callbacks"))
	}
	return out
}

// fleet is every cluster of the session's organization, a page at a time,
// under a summary of what needs attention.
func (u *server) fleet(c echo.Context) error {
	ctx, org := c.Request().Context(), organization(c)
	recs, err := u.Clusters.List(ctx, org)
	if err != nil {
		return err
	}
	slices.SortFunc(recs, func(a, b *clusters.Record) int { return strings.Compare(a.ID, b.ID) })
	all, err := u.Health.ObservedAll(ctx)
	if err != nil {
		return err
	}
	page := fleetPage{JobWindow: fleetJobWindow, Inventory: u.Inventory != nil, Summary: summary{Clusters: len(recs), Parked: -1, FailedApps: -1}}
	recentAll, err := u.Jobs.RecentByCluster(ctx, org, fleetJobWindow)
	if err != nil {
		return err
	}
	after, limit := c.QueryParam("after"), pageSize(c, fleetPerPage)
	for _, rec := range recs {
		recent := recentAll[rec.ID]
		row := newClusterRow(rec, all[rec.ID], recent)
		row.Applications = u.appCounts(rec.ID)
		sum := &page.Summary
		sum.NotReady += b2i(row.State != string(health.StateReady))
		sum.OverPrivileged += b2i(row.OverPrivileged)
		sum.Expiring += b2i(row.Expiring)
		for _, j := range recent {
			sum.FailedJobs += b2i(j.Status == jobs.Failed)
		}
		if row.Applications != nil {
			sum.Drifted += row.Applications.Drifted
			sum.FailedApps = max(sum.FailedApps, 0) + u.Inventory.FailedCount(rec.ID)
		}
		if rec.ID <= after {
			continue
		}
		if len(page.Clusters) == limit {
			more := url.Values{"after": {page.Clusters[len(page.Clusters)-1].ID}}
			if limit != fleetPerPage {
				more.Set("limit", strconv.Itoa(limit))
			}
			page.More = "/ui/?" + more.Encode()
			continue
		}
		page.Clusters = append(page.Clusters, row)
	}
	if u.Callbacks != nil {
		parked, err := u.Callbacks.Parked(ctx, org, 0, parkedCounted)
		if err != nil {
			return err
		}
		page.Summary.Parked = len(parked)
	}
	return u.render(c, http.StatusOK, "fleet", page)
}
