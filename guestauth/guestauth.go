// Package guestauth is how a guest proves who it is to the guest gateway, and the keys
// that make one guest's payloads unreadable to every other. The control plane (worker and
// gateway, which hold the master key) and the guest agent (which holds only its own
// credential and instance key) share it; it imports nothing of Coffer's.
//
// The life of a guest's identity:
//
//  1. The worker writes Bootstrap(master, id, generation) into the server's user_data; it
//     is derived, so a retried server create hands out the same secret, and nothing but
//     user_data carries it.
//  2. At first boot the agent calls the gateway's Enroll with it. The gateway checks it,
//     records the hash of a new random credential in the catalog (once per generation: a
//     second Enroll with the same secret is refused) and returns the credential and the
//     instance's payload key, InstanceKey(master, id). The agent keeps both in a file only
//     its OS user can read; user_data then holds nothing that authenticates.
//  3. Every later call to the gateway carries "authorization: Bearer <id>.<credential>"
//     (the Temporal SDK's API key credentials do this); the gateway checks the hash.
//  4. Deleting the instance revokes the identity: its credential is refused from then on.
package guestauth

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// InstanceKey is the 32-byte AES key of one instance's payloads, derived from the control
// plane's master key: a guest holds only its own, and can derive no other from it.
func InstanceKey(master []byte, instanceID string) ([]byte, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("instance key: master key is %d bytes, want 32", len(master))
	}
	key, err := hkdf.Key(sha256.New, master, nil, "coffer guest payload key "+instanceID, 32)
	if err != nil {
		return nil, fmt.Errorf("instance key of %s: %w", instanceID, err)
	}
	return key, nil
}

// Bootstrap is the single-use secret that the server of the given generation of an
// instance carries in its user_data.
func Bootstrap(master []byte, instanceID string, generation int) (string, error) {
	if len(master) != 32 {
		return "", fmt.Errorf("bootstrap secret: master key is %d bytes, want 32", len(master))
	}
	key, err := hkdf.Key(sha256.New, master, nil, "coffer guest bootstrap", 32)
	if err != nil {
		return "", fmt.Errorf("bootstrap secret of %s: %w", instanceID, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(instanceID + "/" + strconv.Itoa(generation)))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// NewCredential is a new random credential for an agent.
func NewCredential() string {
	return base64.RawURLEncoding.EncodeToString([]byte(rand.Text() + rand.Text()))
}

// Hash is what the catalog keeps of a credential.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Equal compares two secrets or hashes in constant time.
func Equal(a, b []byte) bool { return hmac.Equal(a, b) }

// APIKey is what the agent presents as its Temporal API key to the gateway.
func APIKey(instanceID, credential string) string { return instanceID + "." + credential }

// ErrNoCredential is returned by FromIncoming for a call that carries no guest credential.
var ErrNoCredential = errors.New("no guest credential: the call carries no \"authorization: Bearer <instance-id>.<credential>\"")

// FromIncoming reads the instance ID and credential that a call to the gateway carries.
func FromIncoming(ctx context.Context) (instanceID, credential string, err error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) != 1 {
		return "", "", ErrNoCredential
	}
	token, ok := strings.CutPrefix(values[0], "Bearer ")
	if !ok {
		return "", "", ErrNoCredential
	}
	instanceID, credential, ok = strings.Cut(token, ".")
	if !ok || instanceID == "" || credential == "" {
		return "", "", ErrNoCredential
	}
	return instanceID, credential, nil
}

// EnrollMethod is the gateway's gRPC method that exchanges a bootstrap secret for a
// credential. Its request and response are JSON (EnrollRequest, EnrollResponse) in a
// google.protobuf.BytesValue, so that no generated code is needed on either side.
const EnrollMethod = "/coffer.guest.v1.Gateway/Enroll"

// EnrollRequest is what the agent sends to enroll.
type EnrollRequest struct {
	InstanceID string `json:"instance_id"`
	Bootstrap  string `json:"bootstrap"`
}

// EnrollResponse is what the agent keeps: its credential and its instance's payload key.
type EnrollResponse struct {
	InstanceID string `json:"instance_id"`
	Credential string `json:"credential"`
	Key        []byte `json:"key"`
}

// Enroll calls the gateway's Enroll over conn.
func Enroll(ctx context.Context, conn grpc.ClientConnInterface, req EnrollRequest) (EnrollResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return EnrollResponse{}, fmt.Errorf("enroll: %w", err)
	}
	out := new(wrapperspb.BytesValue)
	if err := conn.Invoke(ctx, EnrollMethod, wrapperspb.Bytes(body), out); err != nil {
		return EnrollResponse{}, fmt.Errorf("enroll instance %s with the guest gateway: %w", req.InstanceID, err)
	}
	var resp EnrollResponse
	if err := json.Unmarshal(out.GetValue(), &resp); err != nil {
		return EnrollResponse{}, fmt.Errorf("enroll: the gateway's answer: %w", err)
	}
	if resp.Credential == "" || len(resp.Key) != 32 {
		return EnrollResponse{}, errors.New("enroll: the gateway's answer holds no credential or key")
	}
	return resp, nil
}

// EnrollFunc serves Enroll; an error it returns should be a gRPC status error
// (codes.PermissionDenied for a bad or used bootstrap secret).
type EnrollFunc func(ctx context.Context, req EnrollRequest) (EnrollResponse, error)

// RegisterEnroll serves EnrollMethod on s with serve.
func RegisterEnroll(s grpc.ServiceRegistrar, serve EnrollFunc) { RegisterGateway(s, serve, nil) }

// RegisterGateway serves EnrollMethod with enroll and, when report is not nil,
// ReportHealthMethod with report on s (one gRPC service holds both).
func RegisterGateway(s grpc.ServiceRegistrar, enroll EnrollFunc, report ReportHealthFunc) {
	methods := []grpc.MethodDesc{jsonMethod("Enroll", EnrollMethod, enroll)}
	if report != nil {
		methods = append(methods, jsonMethod("ReportHealth", ReportHealthMethod, report))
	}
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "coffer.guest.v1.Gateway",
		HandlerType: (*any)(nil),
		Methods:     methods,
		Metadata:    "coffer/guest/v1/gateway",
	}, struct{}{})
}

// jsonMethod is a unary method whose request and response are JSON in a BytesValue.
func jsonMethod[Req, Resp any](name, fullMethod string, serve func(context.Context, Req) (Resp, error)) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			handle := func(ctx context.Context, req any) (any, error) {
				var r Req
				if err := json.Unmarshal(req.(*wrapperspb.BytesValue).GetValue(), &r); err != nil {
					return nil, status.Errorf(codes.InvalidArgument, "%s request is not JSON: %v", name, err)
				}
				resp, err := serve(ctx, r)
				if err != nil {
					return nil, err
				}
				body, err := json.Marshal(resp)
				if err != nil {
					return nil, err
				}
				return wrapperspb.Bytes(body), nil
			}
			if interceptor == nil {
				return handle(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{FullMethod: fullMethod}, handle)
		},
	}
}

// ReportHealthMethod is the gateway's gRPC method by which an enrolled guest reports its
// health on its own schedule (no workflow asks for it). It carries the guest's credential
// as every call but Enroll does; its request and response are JSON (HealthReport,
// HealthAck) in a google.protobuf.BytesValue.
const ReportHealthMethod = "/coffer.guest.v1.Gateway/ReportHealth"

// HealthReport is what a guest reports: its engine's status and, when known, its data
// volume and replication role and lag. The instance is the one the credential names.
type HealthReport struct {
	// Status is the engine's service status (HEALTHY, SHUTDOWN, ...).
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	// At is when the guest took the report.
	At time.Time `json:"at"`
	// VolumeSizeGB and VolumeUsedGB are the data volume's filesystem, when the guest
	// could read it (VolumeSizeGB 0: unknown).
	VolumeSizeGB int     `json:"volume_size_gb,omitempty"`
	VolumeUsedGB float64 `json:"volume_used_gb,omitempty"`
	// Role is the engine's replication role (primary or replica), empty when unknown;
	// LagBytes and LagSeconds are a replica's lag behind its primary.
	Role       string  `json:"role,omitempty"`
	LagBytes   int64   `json:"lag_bytes,omitempty"`
	LagSeconds float64 `json:"lag_seconds,omitempty"`
}

// HealthAck is the gateway's answer to a report: when the guest should report next.
type HealthAck struct {
	Interval time.Duration `json:"interval"`
}

// ReportHealthFunc serves ReportHealth for the instance the call's credential names
// (the gateway's interceptor checked it).
type ReportHealthFunc func(ctx context.Context, r HealthReport) (HealthAck, error)

// ReportHealth calls the gateway's ReportHealth over conn; the connection's per-call
// credentials (PerRPC) must carry the guest's API key.
func ReportHealth(ctx context.Context, conn grpc.ClientConnInterface, r HealthReport, opts ...grpc.CallOption) (HealthAck, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return HealthAck{}, fmt.Errorf("report health: %w", err)
	}
	out := new(wrapperspb.BytesValue)
	if err := conn.Invoke(ctx, ReportHealthMethod, wrapperspb.Bytes(body), out, opts...); err != nil {
		return HealthAck{}, fmt.Errorf("report health to the guest gateway: %w", err)
	}
	var ack HealthAck
	if err := json.Unmarshal(out.GetValue(), &ack); err != nil {
		return HealthAck{}, fmt.Errorf("report health: the gateway's answer: %w", err)
	}
	return ack, nil
}

// BearerCredentials are per-call gRPC credentials carrying a guest's API key as
// "authorization: Bearer <id>.<credential>".
type BearerCredentials struct {
	APIKey string
	// Insecure allows the key over a connection without TLS (dev only).
	Insecure bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b BearerCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.APIKey}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (b BearerCredentials) RequireTransportSecurity() bool { return !b.Insecure }
