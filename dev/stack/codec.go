package stack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coffer-dbaas/coffer/api"
)

// The Web UI passes credentials to a codec server only over HTTPS: its access token (its
// pass-access-token option refuses an http:// endpoint), and the sign-in cookie of
// /codec/login (Secure, SameSite=None: the UI is another site). The API listens on plain
// HTTP in the dev stack, so the stack serves the API's codec endpoint over TLS too, with a
// certificate of its own that it keeps in the data folder: a browser that accepted it once
// (at the sign-in page) keeps trusting it across runs.

// The front serves the Web UI too, so that the UI and its codec endpoint are one origin:
// the sign-in cookie is then the page's own, which a browser sends whatever its policy on
// other sites' cookies.

// codecFront serves api.CodecPath of apiURL, and everything else of uiURL, over TLS on addr.
func (s *Stack) codecFront(addr, apiURL, uiURL, certDir string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("codec front %s: %w", addr, err)
	}
	cert, err := selfSignedCert(certDir, host)
	if err != nil {
		return err
	}
	proxyTo := func(raw string) (*httputil.ReverseProxy, error) {
		target, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("codec front: %w", err)
		}
		return &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		}}, nil
	}
	toAPI, err := proxyTo(apiURL)
	if err != nil {
		return err
	}
	toUI, err := proxyTo(uiURL)
	if err != nil {
		return err
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, api.CodecPath+"/") {
			toAPI.ServeHTTP(w, r)
			return
		}
		toUI.ServeHTTP(w, r)
	})
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return fmt.Errorf("codec front: listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve the codec front", "addr", addr, "error", err)
		}
	}()
	return nil
}

// selfSignedCert loads the codec front's certificate from dir, or makes one for host (and
// localhost) valid for ten years.
func selfSignedCert(dir, host string) (tls.Certificate, error) {
	certFile, keyFile := filepath.Join(dir, "codec-tls.crt"), filepath.Join(dir, "codec-tls.key")
	if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil && leaf.VerifyHostname(host) == nil {
			return cert, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("codec front key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "coffer-dev codec server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("codec front certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certFile, keyFile)
}
