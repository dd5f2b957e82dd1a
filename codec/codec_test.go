package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"go.temporal.io/sdk/converter"

	"github.com/coffer-dbaas/coffer/codec"
)

func TestPayloadsAreEncryptedAndRoundTrip(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	dc, err := codec.DataConverter(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := map[string]string{"password": "hunter2-very-secret"}
	p, err := dc.ToPayload(secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.GetData(), []byte("hunter2")) {
		t.Fatalf("payload data %q holds the password in plain text", p.GetData())
	}
	var back map[string]string
	if err := dc.FromPayload(p, &back); err != nil || back["password"] != secret["password"] {
		t.Fatalf("got %v (err %v), want the secret back", back, err)
	}

	other, _ := codec.DataConverter(bytes.Repeat([]byte{8}, 32))
	if err := other.FromPayload(p, &back); err == nil {
		t.Fatal("decoded with the wrong key, want an error")
	}
	// A payload written without the codec is refused: a forged input needs the key.
	plain, _ := converter.GetDefaultDataConverter().ToPayload("hello")
	var s string
	if err := dc.FromPayload(plain, &s); !errors.Is(err, codec.ErrNotEncrypted) {
		t.Fatalf("got %q (err %v), want ErrNotEncrypted for a plain payload", s, err)
	}
}

func TestKeyMustBe32Bytes(t *testing.T) {
	if _, err := codec.New([]byte("short")); err == nil {
		t.Fatal("got no error for a 5-byte key")
	}
}
