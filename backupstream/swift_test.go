package backupstream

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// TestDownloadResumesWhereTheConnectionBroke serves an object whose first two answers break
// off partway, and checks that the reader resumes with ranged GETs of the same version and
// yields every byte once.
func TestDownloadResumesWhereTheConnectionBroke(t *testing.T) {
	content, _ := io.ReadAll(newPagesReader(1, 3<<20, false))
	var (
		mu       sync.Mutex
		requests []string // Range and If-Match of each GET
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.Header.Get("Range")+" "+r.Header.Get("If-Match"))
		n := len(requests)
		mu.Unlock()
		w.Header().Set("Etag", `"v1"`)
		if n > 2 {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
			return
		}
		// Send a third of what is asked for, then drop the connection.
		start := 0
		if rg := r.Header.Get("Range"); rg != "" {
			start, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(content)-1, len(content)))
			w.Header().Set("Content-Length", strconv.Itoa(len(content)-start))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			w.WriteHeader(http.StatusOK)
		}
		_, _ = w.Write(content[start : start+(len(content)-start)/3])
		w.(http.Flusher).Flush()
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	pc := &gophercloud.ProviderClient{HTTPClient: *srv.Client()}
	sc := &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: srv.URL + "/"}

	r, err := openObject(context.Background(), sc, newRetryPolicy(3, time.Millisecond), "c", "o")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		t.Fatalf("read after %d bytes: %v (requests %q)", len(got), err, requests)
	}
	if !bytes.Equal(got, content) {
		t.Fatalf("read %d bytes, not the %d served (requests %q)", len(got), len(content), requests)
	}
	first := len(content) / 3
	second := first + (len(content)-first)/3
	want := []string{" ", fmt.Sprintf(`bytes=%d- "v1"`, first), fmt.Sprintf(`bytes=%d- "v1"`, second)}
	if !slices.Equal(requests, want) {
		t.Errorf("requests (Range If-Match) %q, want %q", requests, want)
	}
}
