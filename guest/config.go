package guest

// Config is the guest agent's configuration, carried in the server's user_data (JSON), as
// cloud-init would hand it over. It holds the codec key, so user_data is a secret of the
// instance (as Trove's instance_rpc_encr_key).
type Config struct {
	InstanceID string `json:"instance_id"`
	Datastore  string `json:"datastore"`
	Version    string `json:"version"`
	// VolumeID is the Cinder volume that holds the engine's data; the guest finds it by its
	// serial. Empty (a server made before it was written) means the first disk that
	// meta_data.json's devices list.
	VolumeID string `json:"volume_id,omitempty"`
	// TemporalHostPort is the Temporal frontend as the guest reaches it.
	TemporalHostPort  string `json:"temporal_host_port"`
	TemporalNamespace string `json:"temporal_namespace"`
	// CodecKey is the base64 AES-256 key of the payload codec.
	CodecKey string `json:"codec_key"`
	// OTLPEndpoint is the OTLP/gRPC collector the agent sends its spans to (the activities
	// it runs, in the traces of the operations that asked for them); empty sends none.
	OTLPEndpoint string `json:"otlp_endpoint,omitempty"`
}
