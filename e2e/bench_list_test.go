package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
)

// listInstances is how many instances BenchmarkListInstances puts in one project.
const listInstances = 1000

// BenchmarkListInstances measures GET /v1.0/{project}/instances (its default page, what
// python-troveclient asks for) with 1,000 instances in the project, recorded straight into
// the catalog (no servers: the list reads only the catalog), from a few clients at once over
// kept-alive connections with one token (validated once, then cached). Beside it, the floor:
// the same server's static GET / (the versions document, no token, no catalog), measured the
// same way in the same run. It prints p50, p99 and requests/s of both and their ratios; the
// goals are p99 <= 10 ms and >= 2,000 requests/s. The client shares the machine's cores with
// the server, so both figures are a floor.
func BenchmarkListInstances(b *testing.B) {
	const (
		clients  = 8
		requests = 4000
	)
	ctx := context.Background()
	alt := login(b, "alt_demo")
	ids := seedInstances(b, alt.projectID, listInstances)
	defer func() {
		for _, id := range ids {
			if err := cloud.Catalog.DeleteInstance(context.WithoutCancel(ctx), id); err != nil {
				b.Error(err)
			}
		}
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	list := func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, cloud.APIURL+"/v1.0/"+alt.projectID+"/instances", nil)
		if err == nil {
			req.Header.Set("X-Auth-Token", alt.provider.Token())
		}
		return req, err
	}
	static := func() (*http.Request, error) { return http.NewRequest(http.MethodGet, cloud.APIURL+"/", nil) }
	for b.Loop() {
		// Warm up both (connections, the token's validation), then measure.
		hammer(b, client, list, clients, clients*10)
		hammer(b, client, static, clients, clients*10)
		l := hammer(b, client, list, clients, requests)
		f := hammer(b, client, static, clients, requests)
		b.ReportMetric(ms(l.p50), "ms-p50-list")
		b.ReportMetric(ms(l.p99), "ms-p99-list")
		b.ReportMetric(l.rate, "req/s-list")
		b.ReportMetric(ms(f.p99), "ms-p99-static")
		b.ReportMetric(f.rate, "req/s-static")
		fmt.Printf("GET /instances with %d instances in the project, %d clients: p50 %s, p99 %s, %.0f req/s\n",
			listInstances, clients, l.p50.Round(10*time.Microsecond), l.p99.Round(10*time.Microsecond), l.rate)
		fmt.Printf("floor, GET / (static) on the same server: p50 %s, p99 %s, %.0f req/s; ratios: p99 %.1fx, throughput %.2fx (goals p99 <= 10ms, >= 2000 req/s)\n",
			f.p50.Round(10*time.Microsecond), f.p99.Round(10*time.Microsecond), f.rate, float64(l.p99)/float64(f.p99), l.rate/f.rate)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// seedInstances records n ACTIVE instances of project straight into the catalog and returns
// their IDs.
func seedInstances(b *testing.B, project string, n int) []string {
	ctx := context.Background()
	ids := make([]string, 0, n)
	for i := range n {
		inst := &coffer.Instance{
			ProjectID: project, Name: fmt.Sprintf("list-%04d", i), FlavorID: "ds2G", VolumeSize: 1,
			Datastore: "postgresql", Version: "15", ServerStatus: "ACTIVE",
			TaskWorkflowID: fmt.Sprintf("bench-list-%d", i),
			Address:        fmt.Sprintf("10.99.%d.%d", i/250, 1+i%250),
		}
		if err := cloud.Catalog.CreateInstance(ctx, inst); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, inst.ID)
		if err := cloud.Catalog.FinishTask(ctx, inst.ID, catalog.TaskEnd{}); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// hammered is what hammer measured.
type hammered struct {
	p50, p99 time.Duration
	rate     float64 // requests per second
}

// hammer sends total requests from clients goroutines at once and measures each one's
// latency (to the last byte of the body) and the overall rate; any answer but 200 fails b.
func hammer(b *testing.B, client *http.Client, newReq func() (*http.Request, error), clients, total int) hammered {
	var (
		mu    sync.Mutex
		took  = make([]time.Duration, 0, total)
		wg    sync.WaitGroup
		work  = make(chan struct{}, total)
		fail  error
		start = time.Now()
	)
	for range total {
		work <- struct{}{}
	}
	close(work)
	for range clients {
		wg.Go(func() {
			for range work {
				req, err := newReq()
				t0 := time.Now()
				var resp *http.Response
				if err == nil {
					resp, err = client.Do(req)
				}
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s %s: HTTP %d", req.Method, req.URL.Path, resp.StatusCode)
					}
				}
				d := time.Since(t0)
				mu.Lock()
				if err != nil && fail == nil {
					fail = err
				}
				took = append(took, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if fail != nil {
		b.Fatal(fail)
	}
	slices.Sort(took)
	return hammered{p50: took[len(took)/2], p99: took[len(took)*99/100], rate: float64(total) / elapsed.Seconds()}
}
