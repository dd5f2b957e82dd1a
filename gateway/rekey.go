package gateway

import (
	"context"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/proxy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/guestauth"
)

// callerKey carries the authenticated instance ID from the gateway's server side to its
// connection to Temporal, where the payloads are re-keyed.
type callerKey struct{}

func withCaller(ctx context.Context, instanceID string) context.Context {
	return context.WithValue(ctx, callerKey{}, instanceID)
}

func callerOf(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(callerKey{}).(string)
	return id, ok && id != ""
}

// errPayloadRefused answers a guest's call that carries a payload its instance key did not
// encrypt.
var errPayloadRefused = status.Error(codes.PermissionDenied, "payload refused: not encrypted with this instance's key")

// DialOptions are the gRPC options of the gateway's connection to Temporal
// (client.Options.ConnectionOptions.DialOptions): they re-key every payload of a guest's
// call. Towards Temporal a payload must be encrypted with the caller's instance key and is
// re-encrypted with the master key; towards the guest the other way. A call that carries
// payloads but no authenticated caller fails.
func DialOptions(master []byte) ([]grpc.DialOption, error) {
	masterCodec, err := codec.New(master)
	if err != nil {
		return nil, fmt.Errorf("guest gateway re-keying: %w", err)
	}
	instanceCodec := func(ctx context.Context) (*codec.AESGCM, error) {
		id, ok := callerOf(ctx)
		if !ok {
			return nil, errors.New("guest gateway re-keying: a payload in a call with no guest")
		}
		key, err := guestauth.InstanceKey(master, id)
		if err != nil {
			return nil, err
		}
		return codec.New(key)
	}
	visitor, err := proxy.NewPayloadVisitorInterceptor(proxy.PayloadVisitorInterceptorOptions{
		Outbound: &proxy.VisitPayloadsOptions{
			SkipSearchAttributes: true,
			Visitor: func(vc *proxy.VisitPayloadsContext, payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
				guest, err := instanceCodec(vc)
				if err != nil {
					return nil, err
				}
				plain, err := guest.Decode(payloads)
				if err != nil {
					return nil, errPayloadRefused
				}
				return masterCodec.Encode(plain)
			},
		},
		Inbound: &proxy.VisitPayloadsOptions{
			SkipSearchAttributes: true,
			Visitor: func(vc *proxy.VisitPayloadsContext, payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
				guest, err := instanceCodec(vc)
				if err != nil {
					return nil, err
				}
				out := make([]*commonpb.Payload, len(payloads))
				for i, p := range payloads {
					// Headers are written by the SDK's context propagators, without the
					// codec: they hold no secret and pass in clear.
					if _, header := vc.Parent.(*commonpb.Header); header && !codec.Encrypted(p) {
						out[i] = p
						continue
					}
					plain, err := masterCodec.Decode([]*commonpb.Payload{p})
					if err != nil {
						return nil, fmt.Errorf("guest gateway re-keying a payload for the guest: %w", err)
					}
					rekeyed, err := guest.Encode(plain)
					if err != nil {
						return nil, err
					}
					out[i] = rekeyed[0]
				}
				return out, nil
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("guest gateway re-keying: %w", err)
	}
	// The visitor re-keys the request in place, and the SDK's interceptors before it retry
	// a failed attempt with the same request: each attempt re-keys a copy of the guest's.
	rekey := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if m, ok := req.(proto.Message); ok {
			req = proto.Clone(m)
		}
		return visitor(ctx, method, req, reply, cc, invoker, opts...)
	}
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(rekey)}, nil
}
