package backupstream

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// Swift temporary URLs (the tempurl middleware) let a guest write or read one backup's
// objects without any credential of the project: the control plane, which holds the key
// (X-Container-Meta-Temp-URL-Key of the backup container), signs each HTTP method the guest
// needs over the backup's object-name prefix, until an expiry; Swift checks the signature,
// the expiry, the method and the prefix, and nothing else is allowed (no listing, no other
// object, no container or account call).
//
// A prefix-scoped signature is the hex HMAC-SHA256, keyed by the temp URL key, of
//
//	METHOD + "\n" + expires + "\n" + "prefix:" + "/v1/<account>/<container>/<prefix>"
//
// sent as the query parameters temp_url_sig, temp_url_expires and temp_url_prefix on every
// request for an object whose name starts with the prefix. HEAD is allowed with a GET or
// PUT signature.

// TempURLKeyHeader sets a container's temp URL key.
const TempURLKeyHeader = "X-Container-Meta-Temp-URL-Key"

// TempURL is what a guest holds to reach one backup's objects: the account's endpoint, the
// container, the object-name prefix the signatures cover, their expiry, and a signature per
// HTTP method it may use.
type TempURL struct {
	Endpoint   string            `json:"endpoint"`
	Container  string            `json:"container"`
	Prefix     string            `json:"prefix"`
	Expires    int64             `json:"expires"` // Unix seconds
	Signatures map[string]string `json:"signatures"`
}

// String keeps the signatures out of logs.
func (t TempURL) String() string {
	return fmt.Sprintf("temp URL for %s/%s* until %s", t.Container, t.Prefix, time.Unix(t.Expires, 0).UTC().Format(time.RFC3339))
}

// SignTempURL signs method for every object under prefix of container in the account that
// endpoint (Swift's object-store endpoint, ending in /v1/<account>) names, until expires.
func SignTempURL(key, endpoint, container, prefix, method string, expires time.Time) (string, error) {
	account, err := accountPath(endpoint)
	if err != nil {
		return "", err
	}
	return tempURLSignature(key, method, expires.Unix(), "prefix:"+account+"/"+container+"/"+prefix), nil
}

// NewTempURL signs each of methods over prefix of container until expires.
func NewTempURL(key, endpoint, container, prefix string, expires time.Time, methods ...string) (TempURL, error) {
	if key == "" || container == "" || prefix == "" {
		return TempURL{}, errors.New("temp URL: key, container and prefix are required")
	}
	t := TempURL{Endpoint: endpoint, Container: container, Prefix: prefix, Expires: expires.Unix(), Signatures: map[string]string{}}
	for _, m := range methods {
		sig, err := SignTempURL(key, endpoint, container, prefix, m, expires)
		if err != nil {
			return TempURL{}, err
		}
		t.Signatures[m] = sig
	}
	return t, nil
}

func tempURLSignature(key, method string, expires int64, path string) string {
	mac := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(mac, "%s\n%d\n%s", method, expires, path)
	return hex.EncodeToString(mac.Sum(nil))
}

// accountPath is the path Swift signs from: "/v1/<account>" of an endpoint such as
// https://swift.example.com/v1/AUTH_x or http://devcloud/object-store/v1/AUTH_x.
func accountPath(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("temp URL: object-store endpoint %q: %w", endpoint, err)
	}
	p := strings.TrimSuffix(u.Path, "/")
	i := strings.LastIndex(p, "/v1/")
	if i < 0 || strings.Contains(p[i+len("/v1/"):], "/") || len(p) == i+len("/v1/") {
		return "", fmt.Errorf("temp URL: object-store endpoint %q does not end in /v1/<account>", endpoint)
	}
	return p[i:], nil
}

// Client is an object-storage client that sends every request with t's signature for its
// method and no token. Calls outside t's container and prefix, or with a method t has no
// signature for, are refused by Swift.
func (t TempURL) Client() *gophercloud.ServiceClient {
	endpoint := t.Endpoint
	if !strings.HasSuffix(endpoint, "/") {
		endpoint += "/"
	}
	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Transport: &tempURLTransport{t: t, next: http.DefaultTransport}}}
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: endpoint, Type: "object-store"}
}

// tempURLTransport adds the temp URL's query parameters to each request.
type tempURLTransport struct {
	t    TempURL
	next http.RoundTripper
}

func (tr *tempURLTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	sig, ok := tr.t.Signatures[r.Method]
	if !ok && r.Method == http.MethodHead {
		if sig, ok = tr.t.Signatures[http.MethodGet]; !ok {
			sig, ok = tr.t.Signatures[http.MethodPut]
		}
	}
	if !ok {
		return nil, fmt.Errorf("%s %s: the temp URL allows no %s", r.Method, r.URL.Path, r.Method)
	}
	r = r.Clone(r.Context())
	r.Header.Del("X-Auth-Token")
	q := r.URL.Query()
	q.Set("temp_url_sig", sig)
	q.Set("temp_url_expires", strconv.FormatInt(tr.t.Expires, 10))
	q.Set("temp_url_prefix", tr.t.Prefix)
	r.URL.RawQuery = q.Encode()
	return tr.next.RoundTrip(r)
}
