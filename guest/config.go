package guest

// Config is the guest agent's configuration, carried in the server's user_data (JSON), as
// cloud-init would hand it over. user_data is readable by more than the agent (any process
// of a VM can ask the metadata service, and Nova's admin view shows it), so it holds no
// lasting secret: only Bootstrap, which the agent spends at first boot.
type Config struct {
	InstanceID string `json:"instance_id"`
	Datastore  string `json:"datastore"`
	Version    string `json:"version"`
	// VolumeID is the Cinder volume that holds the engine's data; the guest finds it by its
	// serial. Empty (a server made before it was written) means the first disk that
	// meta_data.json's devices list.
	VolumeID string `json:"volume_id,omitempty"`
	// GatewayHostPort is the guest gateway as the guest reaches it: the agent enrolls there
	// and polls its task queue through it, never Temporal itself.
	GatewayHostPort string `json:"gateway_host_port"`
	// GatewayCA is the PEM CA that signed the gateway's certificate; empty speaks plain
	// gRPC to the gateway (a development stack on loopback only).
	GatewayCA         string `json:"gateway_ca,omitempty"`
	TemporalNamespace string `json:"temporal_namespace"`
	// Bootstrap is the single-use secret that the agent exchanges with the gateway for the
	// instance's credential at first boot; once spent it authenticates nothing.
	Bootstrap string `json:"bootstrap"`
}
