package devcloud

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Fault makes calls to the cloud fail or slow down, for reliability tests. A rule matches a
// call when Service matches the route's service ("compute", "volume", "network", "image",
// "object-store", "identity") and Operation, when set, matches the route's operation (for
// example "volume.create", "server.create", "server.action.resize", "object.put"; the full
// list is in the README of dev/). A matching call first waits Latency, then fails with Status
// when the rule still has Count calls left (0 means no limit) and a random draw falls under
// Probability (0 means always). A rule with neither Status nor Latency is refused.
type Fault struct {
	ID          string        `json:"id" mapstructure:"id"`
	Service     string        `json:"service" mapstructure:"service"`
	Operation   string        `json:"operation,omitempty" mapstructure:"operation"`
	Status      int           `json:"status,omitempty" mapstructure:"status"`
	Message     string        `json:"message,omitempty" mapstructure:"message"`
	Count       int           `json:"count,omitempty" mapstructure:"count"`
	Probability float64       `json:"probability,omitempty" mapstructure:"probability"`
	Latency     time.Duration `json:"latency,omitempty" mapstructure:"latency"`
	// Remaining is how many failures the rule has left (when Count was set); Hits counts the
	// calls it failed.
	Remaining int `json:"remaining,omitempty" mapstructure:"-"`
	Hits      int `json:"hits" mapstructure:"-"`
}

var services = []string{"identity", "compute", "volume", "network", "image", "object-store"}

func (f Fault) validate() error {
	switch {
	case !slices.Contains(services, f.Service):
		return fmt.Errorf("service %q is not one of %v", f.Service, services)
	case f.Status == 0 && f.Latency == 0:
		return errors.New("a fault needs a status, a latency or both")
	case f.Status != 0 && (f.Status < 400 || f.Status > 599):
		return fmt.Errorf("status %d is not an error status (400-599)", f.Status)
	case f.Count < 0:
		return fmt.Errorf("count %d is negative", f.Count)
	case f.Probability < 0 || f.Probability > 1:
		return fmt.Errorf("probability %v is not between 0 and 1", f.Probability)
	case f.Latency < 0:
		return fmt.Errorf("latency %s is negative", f.Latency)
	}
	return nil
}

// faultSet holds the active fault rules. Rules live in memory only: a restart clears those
// posted through the API and installs those of the config again.
type faultSet struct {
	mu    sync.Mutex
	rules []*Fault
}

func newFaultSet() *faultSet { return &faultSet{} }

func (s *faultSet) add(f Fault) (Fault, error) {
	if err := f.validate(); err != nil {
		return Fault{}, err
	}
	f.ID = newID()
	f.Remaining = f.Count
	f.Hits = 0
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &f)
	return f, nil
}

func (s *faultSet) list() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.rules))
	for _, f := range s.rules {
		out = append(out, *f)
	}
	return out
}

func (s *faultSet) remove(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.rules)
	s.rules = slices.DeleteFunc(s.rules, func(f *Fault) bool { return id == "" || f.ID == id })
	return len(s.rules) != n
}

// match returns the latency to add and the failing rule, if any, for one call.
func (s *faultSet) match(service, op string) (time.Duration, *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var latency time.Duration
	var failing *Fault
	for _, f := range s.rules {
		if f.Service != service || (f.Operation != "" && f.Operation != op) {
			continue
		}
		latency += f.Latency
		if failing != nil || f.Status == 0 {
			continue
		}
		if f.Count > 0 && f.Remaining == 0 {
			continue
		}
		if f.Probability > 0 && rand.Float64() >= f.Probability {
			continue
		}
		if f.Count > 0 {
			f.Remaining--
		}
		f.Hits++
		cp := *f
		failing = &cp
	}
	// Rules whose count is used up are done; drop them so the list shows what is active.
	s.rules = slices.DeleteFunc(s.rules, func(f *Fault) bool { return f.Count > 0 && f.Remaining == 0 })
	return latency, failing
}

// injectFault applies the fault rules to one call; it reports whether it answered the call.
func (c *Cloud) injectFault(w http.ResponseWriter, r *http.Request, service, op string) bool {
	latency, f := c.faults.match(service, op)
	if latency > 0 && !c.sleep(r.Context(), latency) {
		return true
	}
	if f == nil {
		return false
	}
	msg := f.Message
	if msg == "" {
		msg = fmt.Sprintf("injected fault %s on %s %s", f.ID, service, op)
	}
	c.log.Info("devcloud fault injected", "service", service, "operation", op, "status", f.Status, "fault", f.ID)
	c.fail(w, service, f.Status, "%s", msg)
	return true
}

// routeAdmin registers the devcloud's own admin API; it needs a token with the admin role.
//
//	POST   /devcloud/faults                body: a Fault; 201 with the rule and its ID
//	GET    /devcloud/faults                {"faults": [...]}
//	DELETE /devcloud/faults/{id}           204; 404 when there is no such rule
//	DELETE /devcloud/faults                204; removes every rule
//	POST   /devcloud/servers/{id}/crash    202; kills the server's process behind Nova's back
func (c *Cloud) routeAdmin() {
	admin := func(op, pattern string, h handlerFunc) {
		c.route("devcloud", op, pattern, func(w http.ResponseWriter, r *http.Request, tok *token) {
			if !tok.isAdmin() {
				c.fail(w, "devcloud", http.StatusForbidden, "the devcloud admin API needs the admin role")
				return
			}
			h(w, r, tok)
		})
	}
	admin("fault.create", "POST /devcloud/faults", func(w http.ResponseWriter, r *http.Request, _ *token) {
		var f Fault
		if err := readJSON(r, &f); err != nil {
			c.fail(w, "devcloud", http.StatusBadRequest, "%v", err)
			return
		}
		added, err := c.faults.add(f)
		if err != nil {
			c.fail(w, "devcloud", http.StatusBadRequest, "invalid fault: %v", err)
			return
		}
		writeJSON(w, http.StatusCreated, added)
	})
	admin("fault.list", "GET /devcloud/faults", func(w http.ResponseWriter, _ *http.Request, _ *token) {
		writeJSON(w, http.StatusOK, map[string]any{"faults": c.faults.list()})
	})
	admin("fault.delete", "DELETE /devcloud/faults/{id}", func(w http.ResponseWriter, r *http.Request, _ *token) {
		if !c.faults.remove(r.PathValue("id")) {
			c.fail(w, "devcloud", http.StatusNotFound, "no fault %s", r.PathValue("id"))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	admin("fault.clear", "DELETE /devcloud/faults", func(w http.ResponseWriter, _ *http.Request, _ *token) {
		c.faults.remove("")
		w.WriteHeader(http.StatusNoContent)
	})
	admin("server.crash", "POST /devcloud/servers/{id}/crash", func(w http.ResponseWriter, r *http.Request, _ *token) {
		if err := c.hv.crash(r.PathValue("id")); err != nil {
			c.fail(w, "devcloud", http.StatusNotFound, "%v", err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}
