package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dbaas/coffer/config"
)

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "temporal.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		DNSNames: []string{"temporal.example"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTemporalOptionsAuthenticateAsConfigured(t *testing.T) {
	certFile, keyFile := writeCert(t)
	base := config.Defaults()
	base.Temporal = config.Temporal{HostPort: "temporal.example:7233", Namespace: "coffer"}
	base.CodecKey = base64.StdEncoding.EncodeToString(make([]byte, 32))
	log := slog.New(slog.DiscardHandler)

	plain, err := temporalOptions(base, log)
	if err != nil {
		t.Fatal(err)
	}
	if plain.ConnectionOptions.TLS != nil || plain.Credentials != nil {
		t.Errorf("no auth configured: got TLS %v and credentials %v, want plain gRPC", plain.ConnectionOptions.TLS, plain.Credentials)
	}
	if plain.DataConverter == nil || plain.FailureConverter == nil || plain.HostPort != "temporal.example:7233" || plain.Namespace != "coffer" {
		t.Errorf("got %+v, want the codec's data and failure converters, the host and the namespace", plain)
	}

	withKey := base
	withKey.Temporal.APIKey = "the-api-key"
	opts, err := temporalOptions(withKey, log)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Credentials == nil || opts.ConnectionOptions.TLS == nil || opts.ConnectionOptions.TLS.MinVersion != tls.VersionTLS12 {
		t.Errorf("API key: got credentials %v and TLS %+v, want API key credentials over TLS 1.2+", opts.Credentials, opts.ConnectionOptions.TLS)
	}

	mtls := base
	mtls.Temporal.TLSCAFile, mtls.Temporal.TLSCertFile, mtls.Temporal.TLSKeyFile = certFile, certFile, keyFile
	mtls.Temporal.TLSServerName = "temporal.example"
	opts, err = temporalOptions(mtls, log)
	if err != nil {
		t.Fatal(err)
	}
	c := opts.ConnectionOptions.TLS
	if c == nil || c.RootCAs == nil || len(c.Certificates) != 1 || c.ServerName != "temporal.example" || opts.Credentials != nil {
		t.Errorf("mTLS: got %+v, want the CA, one client certificate and the server name", c)
	}

	for name, mutate := range map[string]func(*config.Config){
		"temporal.tls_ca_file":       func(c *config.Config) { c.Temporal.TLSCAFile = filepath.Join(t.TempDir(), "missing.pem") },
		"temporal.tls_cert_file":     func(c *config.Config) { c.Temporal.TLSCertFile, c.Temporal.TLSKeyFile = keyFile, certFile },
		"temporal.tls_ca_file holds": func(c *config.Config) { c.Temporal.TLSCAFile = keyFile },
	} {
		bad := base
		mutate(&bad)
		_, err := temporalOptions(bad, log)
		if err == nil || !strings.Contains(err.Error(), strings.Fields(name)[0]) {
			t.Errorf("%s: got %v, want an error naming the key", name, err)
		}
	}
}
