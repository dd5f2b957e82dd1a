package devcloud

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
)

// AdminBaseURL is the devcloud's base URL for a Keystone endpoint it serves
// (http://host:port/identity/v3/ gives http://host:port).
func AdminBaseURL(identityEndpoint string) string {
	base, _, _ := strings.Cut(identityEndpoint, "/identity/")
	return strings.TrimRight(base, "/")
}

// InjectFault adds a fault rule through the admin API; pc must hold an admin token. It
// returns the rule with its ID, for RemoveFault.
func InjectFault(ctx context.Context, pc *gophercloud.ProviderClient, baseURL string, f Fault) (Fault, error) {
	var out Fault
	_, err := pc.Request(ctx, http.MethodPost, baseURL+"/devcloud/faults", &gophercloud.RequestOpts{
		JSONBody: f, JSONResponse: &out, OkCodes: []int{http.StatusCreated},
	})
	if err != nil {
		return Fault{}, fmt.Errorf("inject devcloud fault: %w", err)
	}
	return out, nil
}

// Faults lists the active fault rules.
func Faults(ctx context.Context, pc *gophercloud.ProviderClient, baseURL string) ([]Fault, error) {
	var out struct {
		Faults []Fault `json:"faults"`
	}
	_, err := pc.Request(ctx, http.MethodGet, baseURL+"/devcloud/faults", &gophercloud.RequestOpts{
		JSONResponse: &out, OkCodes: []int{http.StatusOK},
	})
	if err != nil {
		return nil, fmt.Errorf("list devcloud faults: %w", err)
	}
	return out.Faults, nil
}

// RemoveFault removes one fault rule, or every rule when id is empty.
func RemoveFault(ctx context.Context, pc *gophercloud.ProviderClient, baseURL, id string) error {
	url := baseURL + "/devcloud/faults"
	if id != "" {
		url += "/" + id
	}
	_, err := pc.Request(ctx, http.MethodDelete, url, &gophercloud.RequestOpts{OkCodes: []int{http.StatusNoContent}})
	if err != nil {
		return fmt.Errorf("remove devcloud fault: %w", err)
	}
	return nil
}

// CrashServer kills a server's process behind Nova's back, as a crashing VM would.
func CrashServer(ctx context.Context, pc *gophercloud.ProviderClient, baseURL, serverID string) error {
	_, err := pc.Request(ctx, http.MethodPost, baseURL+"/devcloud/servers/"+serverID+"/crash", &gophercloud.RequestOpts{
		OkCodes: []int{http.StatusAccepted},
	})
	if err != nil {
		return fmt.Errorf("crash devcloud server %s: %w", serverID, err)
	}
	return nil
}
