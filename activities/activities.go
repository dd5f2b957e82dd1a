package activities

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/config"
)

// Catalog is what the activities read and change in the catalog; *catalog.Store
// implements it.
type Catalog interface {
	BackupCatalog
	OperationsCatalog
	ReplicationCatalog

	GetInstance(ctx context.Context, projectID, id string) (*coffer.Instance, error)
	EnsureGuestIdentity(ctx context.Context, instanceID string) (int, error)
	SetTask(ctx context.Context, id string, task coffer.Task) error
	StartTask(ctx context.Context, projectID, id string, task coffer.Task, workflowID string) (*coffer.Instance, error)
	CreateInstance(ctx context.Context, inst *coffer.Instance) error
	CreateInstanceWithinQuota(ctx context.Context, inst *coffer.Instance, ramMB int, defaults catalog.QuotaLimits) error
	StartResizeWithinQuota(ctx context.Context, projectID, id string, ramMB, volumeSize int, defaults catalog.QuotaLimits, workflowID string) (*coffer.Instance, error)
	SetReplicaOf(ctx context.Context, id, primary string) error
	UpdateResources(ctx context.Context, id string, r catalog.Resources) error
	SetServiceStatus(ctx context.Context, id string, status coffer.ServiceStatus, at time.Time) error
	RecordFault(ctx context.Context, id string, f coffer.Fault) error
	// RenewGuestIdentity moves the guest to its next generation, for a rebuilt server.
	RenewGuestIdentity(ctx context.Context, instanceID string) (int, error)
	// SetAccess records an instance's access (is_public, allowed_cidrs).
	SetAccess(ctx context.Context, id string, a coffer.Access) error
	DeleteInstance(ctx context.Context, id string) error
	RevokeGuestIdentity(ctx context.Context, instanceID string) error
	InstanceValues(ctx context.Context, instanceID string) (map[string]any, []catalog.Parameter, error)
	SetRestartRequired(ctx context.Context, instanceID string, required bool) error
}

var _ Catalog = (*catalog.Store)(nil)

// Guest is what a new instance's guest agent is told through its server's user_data.
type Guest struct {
	// GatewayHostPort is the guest gateway as guests reach it.
	GatewayHostPort string
	// GatewayCA is the PEM CA of the gateway's certificate; empty: plain gRPC (dev only).
	GatewayCA string
	// SwiftHostPort is the object store's host:port as guests reach it; empty means the
	// catalog endpoint's.
	SwiftHostPort string
	// Namespace is the Temporal namespace.
	Namespace string
	// MasterKey is the control plane's 32-byte codec key, from which each server's
	// bootstrap secret is derived (guestauth.Bootstrap) inside the activity that builds its
	// user_data; neither reaches a workflow's input or history, nor the guest.
	MasterKey []byte
	// OTLPEndpoint is the collector guests send their spans to; empty, none.
	OTLPEndpoint string
}

// Deps are what the activities call. New checks that the required ones are there.
type Deps struct {
	// Compute, BlockStorage, Network and Image are the OpenStack services, in the control
	// plane's project. Required.
	Compute      *gophercloud.ServiceClient
	BlockStorage *gophercloud.ServiceClient
	Network      *gophercloud.ServiceClient
	Image        *gophercloud.ServiceClient
	// Catalog is the catalog store, usually a *catalog.Store. Required.
	Catalog Catalog
	// NetworkID is the network instances get their port on. Required.
	NetworkID string
	Guest     Guest
	// PollInterval is how often the wait activities look at a server or volume; zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// ObjectStorage is Swift in the control plane's project, where backups are stored.
	// Required when Backup.Key is set.
	ObjectStorage *gophercloud.ServiceClient
	// Backup is how backups are stored (config.Backup, the key decoded).
	Backup BackupSettings
	// Quotas are the limits of a project that has none of its own (config.Quotas), which
	// scheduled backups respect as the API's do; nil is no limit.
	Quotas catalog.QuotaLimits
}

// Activities are the control-plane activities. Build them with New (NewActivities does,
// from the configuration) and register a pointer with w.RegisterActivity(acts); workflows
// call the methods through a nil *Activities.
type Activities struct {
	Deps
}

// New returns the activities over deps. It fails, naming each one, when a required
// dependency is missing: missing wiring is found when the worker starts, not when an
// activity first needs it.
func New(deps Deps) (*Activities, error) {
	var missing []string
	for _, d := range []struct {
		name    string
		missing bool
	}{
		{"Compute", deps.Compute == nil},
		{"BlockStorage", deps.BlockStorage == nil},
		{"Network", deps.Network == nil},
		{"Image", deps.Image == nil},
		{"Catalog", deps.Catalog == nil},
		{"NetworkID", deps.NetworkID == ""},
		{"Guest.MasterKey (32 bytes)", len(deps.Guest.MasterKey) != 32},
		{"Guest.GatewayHostPort", deps.Guest.GatewayHostPort == ""},
		{"ObjectStorage (backups are enabled)", len(deps.Backup.Key) > 0 && deps.ObjectStorage == nil},
	} {
		if d.missing {
			missing = append(missing, d.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("activities: dependencies %s are required", strings.Join(missing, ", "))
	}
	return &Activities{Deps: deps}, nil
}

// DefaultPollInterval is how often wait activities poll when PollInterval is zero (Trove
// polls Cinder every 2 s).
const DefaultPollInterval = 2 * time.Second

// NewActivities authenticates as the control plane's service user (cfg.OpenStack), finds
// the compute, block-storage, network and image endpoints in the service catalog, resolves
// cfg.OpenStack.Network (a name or an ID) to the network's ID, and calls New.
func NewActivities(ctx context.Context, cfg config.Config, store Catalog) (*Activities, error) {
	cloud := cfg.OpenStack
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: cloud.AuthURL,
		Username:         cloud.Username,
		Password:         cloud.Password,
		DomainName:       cloud.UserDomainName,
		TenantName:       cloud.ProjectName,
		Scope: &gophercloud.AuthScope{
			ProjectName: cloud.ProjectName,
			DomainName:  cloud.ProjectDomainName,
		},
		AllowReauth: true,
	})
	if err != nil {
		// The error names the URL and the status, never the password.
		return nil, fmt.Errorf("authenticate to openstack at %s as %s: %w", cloud.AuthURL, cloud.Username, err)
	}
	master, err := cfg.CodecKeyBytes()
	if err != nil {
		return nil, err
	}
	var gatewayCA []byte
	if cfg.Guest.GatewayCAFile != "" {
		if gatewayCA, err = os.ReadFile(cfg.Guest.GatewayCAFile); err != nil {
			return nil, fmt.Errorf("read guest.gateway_ca_file: %w", err)
		}
	}
	eo := gophercloud.EndpointOpts{Region: cloud.Region}
	a := &Deps{
		Catalog: store,
		Quotas:  catalog.DefaultLimits(cfg.Quotas),
		Guest: Guest{
			GatewayHostPort: cfg.GuestGatewayHostPort(),
			GatewayCA:       string(gatewayCA),
			SwiftHostPort:   cfg.Guest.SwiftHostPort,
			Namespace:       cfg.Temporal.Namespace,
			MasterKey:       master,
			OTLPEndpoint:    cfg.Tracing.GuestOTLPEndpoint,
		},
	}
	if a.Compute, err = openstack.NewComputeV2(provider, eo); err != nil {
		return nil, fmt.Errorf("find the compute endpoint: %w", err)
	}
	if a.BlockStorage, err = openstack.NewBlockStorageV3(provider, eo); err != nil {
		return nil, fmt.Errorf("find the block-storage endpoint: %w", err)
	}
	if a.Network, err = openstack.NewNetworkV2(provider, eo); err != nil {
		return nil, fmt.Errorf("find the network endpoint: %w", err)
	}
	if a.Image, err = openstack.NewImageV2(provider, eo); err != nil {
		return nil, fmt.Errorf("find the image endpoint: %w", err)
	}
	if a.NetworkID, err = resolveNetwork(ctx, a.Network, cloud.Network); err != nil {
		return nil, err
	}
	if err := a.setUpBackups(cfg, provider, eo); err != nil {
		return nil, err
	}
	return New(*a)
}

// resolveNetwork finds a network by name, then by ID.
func resolveNetwork(ctx context.Context, c *gophercloud.ServiceClient, nameOrID string) (string, error) {
	pages, err := networks.List(c, networks.ListOpts{Name: nameOrID}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("list networks named %q: %w", nameOrID, err)
	}
	found, err := networks.ExtractNetworks(pages)
	if err != nil {
		return "", fmt.Errorf("list networks named %q: %w", nameOrID, err)
	}
	switch len(found) {
	case 1:
		return found[0].ID, nil
	case 0:
	default:
		return "", fmt.Errorf("network name %q is ambiguous: %d networks have it; configure its ID", nameOrID, len(found))
	}
	n, err := networks.Get(ctx, c, pathSegment(nameOrID)).Extract()
	if gophercloud.ResponseCodeIs(err, 404) {
		return "", fmt.Errorf("network %q: no network has this name or ID", nameOrID)
	}
	if err != nil {
		return "", fmt.Errorf("get network %q: %w", nameOrID, err)
	}
	return n.ID, nil
}

// ResourceName is the name of every cloud resource of an instance: server, volume, port and
// security group. It is how activities find what an earlier try made.
func ResourceName(instanceID string) string { return "coffer-" + instanceID }

// MetadataInstanceID is the metadata key that ties servers and volumes to their instance.
const MetadataInstanceID = "coffer_instance_id"

// ResourceRef names one cloud resource of an instance. An empty ID means "whatever is named
// coffer-<instance-id>", for a delete or a wait that runs after a create whose result was
// lost (a crash, a timeout after the cloud acted).
type ResourceRef struct {
	InstanceID string `json:"instance_id"`
	ID         string `json:"id,omitempty"`
}

func (a *Activities) pollInterval() time.Duration {
	if a.PollInterval > 0 {
		return a.PollInterval
	}
	return DefaultPollInterval
}

// poller spaces the polls of a wait activity: quickly at first, since in a healthy cloud
// most waits end within a second, then backing off to the poll interval, so that a wait
// neither adds seconds to a fast operation nor hammers a slow cloud.
type poller struct{ next, max time.Duration }

// firstPoll is the wait before the second look at a resource. Each wait after is half as
// long again (looks at 0, 25, 62, 118, 202, 328, 517 ms, ...), so that a resource ready
// after t is seen ready by about 1.5 t at worst (doubling from 100 ms saw a server that
// the dev cloud booted in 310 ms only at 700 ms, 2.3 t).
const firstPoll = 25 * time.Millisecond

func (a *Activities) newPoller() *poller {
	limit := a.pollInterval()
	return &poller{next: min(firstPoll, limit), max: limit}
}

// wait sleeps before the next poll, or returns ctx's error.
func (p *poller) wait(ctx context.Context) error {
	d := p.next
	p.next = min(p.next*3/2, p.max)
	return sleep(ctx, d)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pathSegment escapes an OpenStack ID for the URL path gophercloud builds with it:
// gophercloud's ServiceURL joins its parts unescaped, so an ID holding '/', '?' or '#'
// would otherwise address another resource, with the service's token.
func pathSegment(id string) string { return url.PathEscape(id) }
