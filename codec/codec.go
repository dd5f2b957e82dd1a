// Package codec encrypts Temporal payloads with AES-256-GCM, so that passwords and other
// secrets in workflow inputs, results and activity arguments are never stored in plain text
// in Temporal's histories (nor shown by the Web UI or `temporal workflow show`). The control
// plane (api, worker, guest gateway) holds the master key; each guest holds only its own
// instance's key (guestauth.InstanceKey), and the gateway re-keys what passes between them.
//
// Decode refuses a payload this codec did not encrypt: a forged input needs the key.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// encoding marks payloads this codec encrypted.
const encoding = "binary/coffer-aes256gcm"

// AESGCM is a converter.PayloadCodec that encrypts each payload whole (data and metadata).
type AESGCM struct{ aead cipher.AEAD }

var _ converter.PayloadCodec = (*AESGCM)(nil)

// New returns a codec for a 32-byte key.
func New(key []byte) (*AESGCM, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("codec key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	return &AESGCM{aead: aead}, nil
}

// DataConverter is Temporal's default converter with this codec on top; give it to
// client.Options.DataConverter.
func DataConverter(key []byte) (converter.DataConverter, error) {
	c, err := New(key)
	if err != nil {
		return nil, err
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c), nil
}

// Encode encrypts each payload into one whose data is nonce || ciphertext.
func (c *AESGCM) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return nil, fmt.Errorf("codec encode: %w", err)
		}
		nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plain)+c.aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("codec nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(encoding)},
			Data:     c.aead.Seal(nonce, nonce, plain, nil),
		}
	}
	return out, nil
}

// Encrypted reports whether p was encrypted by this codec (with whichever key).
func Encrypted(p *commonpb.Payload) bool {
	return string(p.GetMetadata()[converter.MetadataEncoding]) == encoding
}

// ErrNotEncrypted is Decode's error for a payload that was not encrypted by the codec.
var ErrNotEncrypted = errors.New("codec decode: payload is not encrypted")

// Decode reverses Encode. A payload not made by this codec is refused (ErrNotEncrypted), and
// one that fails authentication (wrong key, tampered) is an error.
func (c *AESGCM) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if !Encrypted(p) {
			return nil, ErrNotEncrypted
		}
		data := p.GetData()
		if len(data) < c.aead.NonceSize() {
			return nil, fmt.Errorf("codec decode: payload too short")
		}
		plain, err := c.aead.Open(nil, data[:c.aead.NonceSize()], data[c.aead.NonceSize():], nil)
		if err != nil {
			return nil, fmt.Errorf("codec decode: %w (is the codec key the same everywhere?)", err)
		}
		var decoded commonpb.Payload
		if err := decoded.Unmarshal(plain); err != nil {
			return nil, fmt.Errorf("codec decode: %w", err)
		}
		out[i] = &decoded
	}
	return out, nil
}

// FailureConverter is Temporal's default failure converter over dc (from DataConverter):
// the SDK's own default converts failure details (an ApplicationError's details, a
// cancellation's) without the codec, so they would be stored in clear, and the guest
// gateway refuses a guest's unencrypted payload. Give it to client.Options.FailureConverter
// beside DataConverter.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc})
}
