package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/coffer-dbaas/coffer/dev/stack"
)

// Targets of issue 19.
const (
	maxActionsPerInstanceDay = 10
	maxGatewayCores          = 1.0
	maxGatewayRSS            = 500 << 20
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's CPU times (100 on
// every Linux architecture Coffer runs on).
const clockTicks = 100

// proc is what /proc says of a process.
type proc struct {
	cpu      time.Duration // user + system
	rss, hwm int64         // bytes
	fds      int
}

func readProc(pid int) (proc, error) {
	var p proc
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// The command may hold spaces: the fields that matter follow its closing parenthesis.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) < 13 {
		return p, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	p.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for line := range strings.Lines(string(status)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			p.rss = kb << 10
		case "VmHWM:":
			p.hwm = kb << 10
		}
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		p.fds = len(fds)
	}
	return p, nil
}

// catalogStats are the catalog database's counters (pg_stat_database).
type catalogStats struct {
	commits, inserted, updated, deleted int64
}

func (a catalogStats) minus(b catalogStats) catalogStats {
	return catalogStats{a.commits - b.commits, a.inserted - b.inserted, a.updated - b.updated, a.deleted - b.deleted}
}

type sample struct {
	catalog       catalogStats
	gateway, self proc
}

func sampleAll(ctx context.Context, pool *pgxpool.Pool, gatewayPID int) (sample, error) {
	var s sample
	var err error
	// PostgreSQL 15 publishes a backend's counters when it goes idle (at most a second
	// late, ten when busy): both ends of the period are taken the same way.
	if err := pool.QueryRow(ctx, `SELECT xact_commit, tup_inserted, tup_updated, tup_deleted
		FROM pg_stat_database WHERE datname = current_database()`).Scan(
		&s.catalog.commits, &s.catalog.inserted, &s.catalog.updated, &s.catalog.deleted); err != nil {
		return s, fmt.Errorf("catalog statistics: %w", err)
	}
	if s.gateway, err = readProc(gatewayPID); err != nil {
		return s, fmt.Errorf("the gateway's /proc: %w", err)
	}
	if s.self, err = readProc(os.Getpid()); err != nil {
		return s, err
	}
	return s, nil
}

// temporalEvents counts, over every workflow of the namespace, the history events dated
// within [t0, t1]: each of a workflow's actions (a start, an activity, a timer, a signal)
// writes at least one, so the events bound the actions from above.
func temporalEvents(ctx context.Context, s *stack.Stack, t0, t1 time.Time) (workflows, events int, err error) {
	var token []byte
	for {
		var resp *workflowservice.ListWorkflowExecutionsResponse
		var err error
		// Under load the frontend may answer NotFound for the namespace for a moment.
		for attempt := 0; ; attempt++ {
			resp, err = s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
				Namespace: s.Config.Temporal.Namespace, PageSize: 1000, NextPageToken: token,
			})
			if err == nil || attempt == 10 {
				break
			}
			time.Sleep(3 * time.Second)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("list workflows: %w", err)
		}
		for _, w := range resp.Executions {
			it := s.Client.GetWorkflowHistory(ctx, w.Execution.WorkflowId, w.Execution.RunId, false, 0)
			in := 0
			for it.HasNext() {
				e, err := it.Next()
				if err != nil {
					return 0, 0, fmt.Errorf("history of %s: %w", w.Execution.WorkflowId, err)
				}
				if at := e.EventTime.AsTime(); !at.Before(t0) && !at.After(t1) {
					in++
				}
			}
			if in > 0 {
				workflows++
				events += in
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return workflows, events, nil
		}
	}
}

// get is one authenticated GET; it returns the body.
func get(ctx context.Context, token, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return body, nil
}

func measureGets(ctx context.Context, token, u string, n int) ([]time.Duration, error) {
	if _, err := get(ctx, token, u); err != nil { // warm the connection
		return nil, err
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := get(ctx, token, u); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

// measureWalk times n walks through every page of the list, following its next links, and
// checks that a walk sees every instance once.
func measureWalk(ctx context.Context, token, first string, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		seen := map[string]bool{}
		for u := first; u != ""; {
			body, err := get(ctx, token, u)
			if err != nil {
				return nil, err
			}
			var page struct {
				Instances []struct {
					ID string `json:"id"`
				} `json:"instances"`
				Links []struct {
					Href string `json:"href"`
					Rel  string `json:"rel"`
				} `json:"instances_links"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				return nil, err
			}
			for _, i := range page.Instances {
				seen[i.ID] = true
			}
			u = ""
			for _, l := range page.Links {
				if l.Rel == "next" {
					u = l.Href
				}
			}
		}
		lat = append(lat, time.Since(start))
		if len(seen) == 0 {
			return nil, fmt.Errorf("a walk of %s saw no instance", first)
		}
	}
	return lat, nil
}

type listLatency struct {
	name      string
	latencies []time.Duration
}

type result struct {
	instances         int
	window            time.Duration
	workflows, events int
	catalog           catalogStats
	gatewayCPU        time.Duration
	gatewayRSSMax     int64
	gatewayHWM        int64
	gatewayFDs        int
	guestsCPU         time.Duration
	guestsRSS         int64
	restarts          int64
	temporalErr       error
	lists             []listLatency
}

func (r *result) actionsPerInstanceDay() float64 {
	return float64(r.events) / float64(r.instances) * (24 * time.Hour).Seconds() / r.window.Seconds()
}

func (r *result) gatewayCores() float64 { return r.gatewayCPU.Seconds() / r.window.Seconds() }

func (r *result) passed() bool {
	return r.temporalErr == nil && r.actionsPerInstanceDay() <= maxActionsPerInstanceDay && r.gatewayCores() <= maxGatewayCores &&
		max(r.gatewayRSSMax, r.gatewayHWM) <= maxGatewayRSS
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// percentile is the nearest-rank p-th percentile.
func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (r *result) print(w io.Writer) {
	secs := r.window.Seconds()
	fmt.Fprintf(w, "\nidle-scale simulation: %d idle instances, measured over %s\n", r.instances, r.window.Round(time.Second))
	if r.temporalErr != nil {
		fmt.Fprintf(w, "  Temporal: could not be read: %v FAIL\n", r.temporalErr)
	} else {
		fmt.Fprintf(w, "  Temporal: %d history events in %d workflows during the period = %.2f actions per idle instance per day (at most; target <= %d) %s\n",
			r.events, r.workflows, r.actionsPerInstanceDay(), maxActionsPerInstanceDay, verdict(r.actionsPerInstanceDay() <= maxActionsPerInstanceDay))
	}
	fmt.Fprintf(w, "  catalog: %.1f rows written/s (%d inserted, %d updated, %d deleted), %.1f transactions/s committed (reads included)\n",
		float64(r.catalog.inserted+r.catalog.updated+r.catalog.deleted)/secs, r.catalog.inserted, r.catalog.updated, r.catalog.deleted,
		float64(r.catalog.commits)/secs)
	fmt.Fprintf(w, "  gateway process: %.3f cores (%s CPU), RSS max %s (peak since start %s), %d open files; target within 1 core and 500 MB %s\n",
		r.gatewayCores(), r.gatewayCPU.Round(time.Millisecond), mb(r.gatewayRSSMax), mb(r.gatewayHWM), r.gatewayFDs,
		verdict(r.gatewayCores() <= maxGatewayCores && max(r.gatewayRSSMax, r.gatewayHWM) <= maxGatewayRSS))
	fmt.Fprintf(w, "  simulation process (%d guests, Temporal server, devcloud): %.3f cores, RSS %s\n",
		r.instances, r.guestsCPU.Seconds()/secs, mb(r.guestsRSS))
	fmt.Fprintf(w, "  agents restarted during the period: %d\n", r.restarts)
	for _, l := range r.lists {
		fmt.Fprintf(w, "  %s: p50 %s, p99 %s over %d\n", l.name,
			percentile(l.latencies, 50).Round(100*time.Microsecond), percentile(l.latencies, 99).Round(100*time.Microsecond), len(l.latencies))
	}
}
