package guestagent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/coffer-dbaas/coffer/guest"
	"github.com/coffer-dbaas/coffer/guestauth"
)

// DefaultStateDir is where the agent keeps its credential on a real server (the image's
// systemd unit makes it, StateDirectory=coffer-guest, mode 0700).
const DefaultStateDir = "/var/lib/coffer-guest"

// credentialFileName is the agent's identity in its state folder.
const credentialFileName = "credential.json"

// Backoff between attempts to enroll while the gateway does not answer.
const (
	enrollFirstBackoff = time.Second
	enrollMaxBackoff   = 30 * time.Second
)

// identity is what the agent keeps in credential.json: what the gateway gave it for the
// instance, and which bootstrap secret it spent for it.
type identity struct {
	InstanceID string `json:"instance_id"`
	Credential string `json:"credential"`
	// Key is the instance's payload key (guestauth.InstanceKey), never the master key.
	Key []byte `json:"key"`
	// BootstrapSHA256 names the spent bootstrap secret: user_data that carries another one
	// (the server was rebuilt with a new generation) enrolls again.
	BootstrapSHA256 []byte `json:"bootstrap_sha256"`
}

// String keeps the credential and the key out of logs.
func (id identity) String() string { return "guest identity of instance " + id.InstanceID }

// gatewayCredentials are the transport credentials the agent speaks to the gateway with: TLS
// with the CA user_data names, or plain gRPC when it names none (a development stack).
func gatewayCredentials(cfg guest.Config) (credentials.TransportCredentials, *tls.Config, error) {
	if cfg.GatewayCA == "" {
		return insecure.NewCredentials(), nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(cfg.GatewayCA)) {
		return nil, nil, errors.New("guest agent: user_data's gateway_ca holds no PEM certificate")
	}
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return credentials.NewTLS(tlsCfg), tlsCfg, nil
}

// ensureIdentity returns the instance's identity: the one kept in stateDir when it was made
// for this instance and this bootstrap secret, else a new one from enrolling with the
// gateway, kept there first. While the gateway does not answer it tries again with backoff;
// a gateway that refuses (a spent or revoked bootstrap secret) is a fatal error, since no
// retry can mend it. The file is made before the secret is spent, so that only a crash
// between the gateway's answer and the rename can lose a credential; such a server needs
// new user_data (a rebuild, which renews the identity).
func ensureIdentity(ctx context.Context, stateDir string, cfg guest.Config, creds credentials.TransportCredentials, log *slog.Logger) (identity, error) {
	path := filepath.Join(stateDir, credentialFileName)
	kept, err := readIdentity(path)
	if err != nil {
		return identity{}, err
	}
	spent := guestauth.Hash(cfg.Bootstrap)
	if kept.InstanceID == cfg.InstanceID && guestauth.Equal(kept.BootstrapSHA256, spent) {
		return kept, nil
	}
	if kept.InstanceID != "" {
		log.Info("the kept credential is not this server's (another instance or bootstrap secret): enrolling again", "kept_for", kept.InstanceID)
	}

	// Make sure the identity can be kept before the single-use secret is spent.
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return identity{}, fmt.Errorf("guest agent: state folder: %w", err)
	}
	if err := os.Chmod(stateDir, 0o700); err != nil {
		return identity{}, fmt.Errorf("guest agent: state folder: %w", err)
	}
	tmp, err := os.CreateTemp(stateDir, credentialFileName+".*")
	if err != nil {
		return identity{}, fmt.Errorf("guest agent: state folder %s is not writable: %w", stateDir, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	conn, err := grpc.NewClient(cfg.GatewayHostPort, grpc.WithTransportCredentials(creds))
	if err != nil {
		return identity{}, fmt.Errorf("guest agent: gateway %s: %w", cfg.GatewayHostPort, err)
	}
	defer conn.Close()
	resp, err := enroll(ctx, conn, guestauth.EnrollRequest{InstanceID: cfg.InstanceID, Bootstrap: cfg.Bootstrap}, cfg.GatewayHostPort, log)
	if err != nil {
		return identity{}, err
	}
	id := identity{InstanceID: cfg.InstanceID, Credential: resp.Credential, Key: resp.Key, BootstrapSHA256: spent}
	if err := keepIdentity(tmp, path, id); err != nil {
		return identity{}, err
	}
	log.Info("enrolled with the guest gateway", "gateway", cfg.GatewayHostPort, "credential_file", path)
	return id, nil
}

// enroll calls the gateway's Enroll until it answers.
func enroll(ctx context.Context, conn *grpc.ClientConn, req guestauth.EnrollRequest, gateway string, log *slog.Logger) (guestauth.EnrollResponse, error) {
	backoff := enrollFirstBackoff
	for {
		callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := guestauth.Enroll(callCtx, conn, req)
		cancel()
		if err == nil {
			return resp, nil
		}
		switch status.Code(err) {
		case codes.PermissionDenied, codes.Unauthenticated, codes.InvalidArgument, codes.NotFound,
			codes.FailedPrecondition, codes.Unimplemented:
			return guestauth.EnrollResponse{}, fmt.Errorf("guest agent: the guest gateway %s refused to enroll this server "+
				"(its bootstrap secret was spent already, or the instance was deleted; nothing on this server can mend that): %w", gateway, err)
		}
		if ctx.Err() != nil {
			return guestauth.EnrollResponse{}, fmt.Errorf("guest agent: enroll with the guest gateway %s: %w", gateway, ctx.Err())
		}
		log.Warn("the guest gateway is not reachable yet", "gateway", gateway, "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return guestauth.EnrollResponse{}, fmt.Errorf("guest agent: enroll with the guest gateway %s: %w", gateway, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, enrollMaxBackoff)
	}
}

// readIdentity reads the kept identity; none kept is the zero identity.
func readIdentity(path string) (identity, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return identity{}, nil
	}
	if err != nil {
		return identity{}, fmt.Errorf("guest agent: read the kept credential: %w", err)
	}
	var id identity
	if err := json.Unmarshal(b, &id); err != nil || id.Credential == "" || len(id.Key) != 32 {
		// Not fatal: enrolling again tells whether the bootstrap secret is still unspent.
		return identity{}, nil
	}
	return id, nil
}

// keepIdentity writes id into tmp (readable by the agent's OS user only) and renames it to
// path, so that a crash leaves the old file or the new one, never half of one.
func keepIdentity(tmp *os.File, path string, id identity) error {
	b, err := json.Marshal(id)
	if err != nil {
		return fmt.Errorf("guest agent: keep the credential: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("guest agent: keep the credential: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("guest agent: keep the credential: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("guest agent: keep the credential: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("guest agent: keep the credential: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("guest agent: keep the credential: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
