package gateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// tokenSealer seals the task tokens the gateway hands a guest and opens the ones it gets
// back. Temporal does not sign its task tokens (they name a workflow, run and activity), so
// without this a guest could write a token for any activity in the namespace and answer
// it. The key is derived from the master key and the instance ID is the additional data:
// a token opens only for the instance it was handed to, on any gateway replica.
type tokenSealer struct{ aead cipher.AEAD }

// tokenPrefix versions the sealed format.
const tokenPrefix = "ct1"

func newTokenSealer(master []byte) (*tokenSealer, error) {
	key, err := hkdf.Key(sha256.New, master, nil, "coffer gateway task token", 32)
	if err != nil {
		return nil, fmt.Errorf("task token key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("task token key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("task token key: %w", err)
	}
	return &tokenSealer{aead: aead}, nil
}

func additionalData(instanceID string) []byte {
	return []byte("coffer task token for instance " + instanceID)
}

// seal is prefix || nonce || AES-GCM(token).
func (s *tokenSealer) seal(instanceID string, token []byte) ([]byte, error) {
	out := make([]byte, len(tokenPrefix)+s.aead.NonceSize(), len(tokenPrefix)+s.aead.NonceSize()+len(token)+s.aead.Overhead())
	copy(out, tokenPrefix)
	nonce := out[len(tokenPrefix):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal task token: %w", err)
	}
	return s.aead.Seal(out, nonce, token, additionalData(instanceID)), nil
}

var errBadToken = errors.New("task token was not handed to this instance")

// open returns the token Temporal made, or errBadToken for one the gateway did not seal
// for instanceID.
func (s *tokenSealer) open(instanceID string, sealed []byte) ([]byte, error) {
	if len(sealed) < len(tokenPrefix)+s.aead.NonceSize() || string(sealed[:len(tokenPrefix)]) != tokenPrefix {
		return nil, errBadToken
	}
	rest := sealed[len(tokenPrefix):]
	token, err := s.aead.Open(nil, rest[:s.aead.NonceSize()], rest[s.aead.NonceSize():], additionalData(instanceID))
	if err != nil {
		return nil, errBadToken
	}
	return token, nil
}
