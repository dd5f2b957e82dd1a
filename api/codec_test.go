package api_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/coffer-dbaas/coffer/codec"
	"github.com/coffer-dbaas/coffer/config"
)

// secretInput is a workflow input with a secret in it, as a create's users are.
type secretInput struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// remoteCodec is the SDK's client of Temporal's remote codec protocol, the one the Temporal
// CLI uses for --codec-endpoint, sending authorization as --codec-auth does.
func (h *harness) remoteCodec(authorization string) converter.PayloadCodec {
	return converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
		Endpoint: h.url + "/codec",
		ModifyRequest: func(r *http.Request) error {
			if authorization != "" {
				r.Header.Set("Authorization", authorization)
			}
			return nil
		},
	})
}

// encrypted is a payload as Temporal's histories hold it: encrypted with the API's codec key.
func (h *harness) encrypted(v any) *commonpb.Payload {
	h.t.Helper()
	dc, err := codec.DataConverter(h.codecKey)
	if err != nil {
		h.t.Fatal(err)
	}
	p, err := dc.ToPayload(v)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func TestCodecDecodesForAnAdminAndAuditsIt(t *testing.T) {
	h := newHarness(t)
	admin := h.login("admin")
	in := secretInput{Name: "opsdemo", Password: "s3cret-pw"}
	plain, err := converter.GetDefaultDataConverter().ToPayload("not encrypted")
	if err != nil {
		t.Fatal(err)
	}

	out, err := h.remoteCodec("Bearer " + admin.token).Decode([]*commonpb.Payload{h.encrypted(in), plain})
	if err != nil {
		t.Fatalf("decode as admin: %v", err)
	}
	if len(out) != 2 {
		t.Fatalf("decode as admin: got %d payloads, want 2", len(out))
	}
	var got secretInput
	if err := converter.GetDefaultDataConverter().FromPayload(out[0], &got); err != nil || got != in {
		t.Errorf("decoded input: got %+v (%v), want %+v", got, err, in)
	}
	if enc := string(out[0].GetMetadata()[converter.MetadataEncoding]); enc != converter.MetadataEncodingJSON {
		t.Errorf("decoded encoding: got %q, want %q", enc, converter.MetadataEncodingJSON)
	}
	if string(out[1].GetData()) != string(plain.GetData()) {
		t.Errorf("a payload the codec did not encrypt: got %q back, want it as it was, %q", out[1].GetData(), plain.GetData())
	}

	log := h.log.String()
	if !strings.Contains(log, "codec decode for an operator") || !strings.Contains(log, "user=admin") {
		t.Errorf("audit log: got %q, want the decode and who asked", log)
	}
	if strings.Contains(log, "s3cret-pw") {
		t.Errorf("audit log: got %q, want no payload's content", log)
	}
}

func TestCodecEncodesForAnAdminWhatItDecodes(t *testing.T) {
	h := newHarness(t)
	c := h.remoteCodec("Bearer " + h.login("admin").token)
	p, err := converter.GetDefaultDataConverter().ToPayload(secretInput{Name: "a", Password: "b"})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if !codec.Encrypted(enc[0]) || strings.Contains(string(enc[0].GetData()), `"b"`) {
		t.Fatalf("encoded payload: got %v, want it encrypted", enc[0])
	}
	dec, err := c.Decode(enc)
	if err != nil || string(dec[0].GetData()) != string(p.GetData()) {
		t.Errorf("decode of the encoded payload: got %v (%v), want %q", dec, err, p.GetData())
	}
}

func TestCodecRefusesTenantsAndStrangers(t *testing.T) {
	h := newHarness(t)
	demo := h.login("demo")
	payload := []*commonpb.Payload{h.encrypted(secretInput{Name: "x", Password: "hidden"})}
	for _, tc := range []struct {
		name, authorization, want string
	}{
		{"no token", "", "Unauthorized"},
		{"a token Keystone does not know", "Bearer not-a-token", "Unauthorized"},
		{"a tenant's token", "Bearer " + demo.token, "Forbidden"},
		{"a tenant's bare token", demo.token, "Forbidden"},
	} {
		out, err := h.remoteCodec(tc.authorization).Decode(payload)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("decode with %s: got %v, want %s", tc.name, err, tc.want)
		}
		if len(out) > 0 && !codec.Encrypted(out[0]) {
			t.Errorf("decode with %s: got a decrypted payload", tc.name)
		}
	}
	if log := h.log.String(); !strings.Contains(log, "codec refused: not an admin") || !strings.Contains(log, "user=demo") {
		t.Errorf("log: got %q, want the tenant's refusal with their name", log)
	}
}

func TestCodecAllowsTheWebUIsOriginOnly(t *testing.T) {
	const ui = "http://127.0.0.1:8233"
	h := newHarness(t, func(c *config.Config) { c.API.CodecOrigins = ui })
	preflight := func(origin string) *http.Response {
		req, err := http.NewRequest(http.MethodOptions, h.url+"/codec/decode", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-namespace")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	resp := preflight(ui)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != ui ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight from the Web UI: got %d %v, want 204 allowing its origin and Authorization", resp.StatusCode, resp.Header)
	}
	resp = preflight("https://evil.example.com")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: got %d %v, want 403 allowing nothing", resp.StatusCode, resp.Header)
	}

	req, err := http.NewRequest(http.MethodPost, h.url+"/codec/decode", strings.NewReader(`{"payloads":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", ui)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.login("admin").token)
	post, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusOK || post.Header.Get("Access-Control-Allow-Origin") != ui {
		t.Errorf("decode from the Web UI: got %d %v, want 200 readable by its origin", post.StatusCode, post.Header)
	}
}

func TestCodecSignInKeepsAnAdminsTokenForTheWebUI(t *testing.T) {
	h := newHarness(t)
	signIn := func(token string) *http.Response {
		resp, err := http.PostForm(h.url+"/codec/login", url.Values{"token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := signIn(h.login("demo").token); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("a tenant's sign-in: got %d with cookies %v, want 403 and none", resp.StatusCode, resp.Cookies())
	}
	resp := signIn(h.login("admin").token)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "coffer_codec_token" {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusOK || cookie == nil || !cookie.Secure || !cookie.HttpOnly || cookie.Path != "/codec" {
		t.Fatalf("an admin's sign-in: got %d with cookie %+v, want 200 and a Secure, HttpOnly cookie for /codec", resp.StatusCode, cookie)
	}

	// The Web UI sends the cookie with X-Namespace; without that header (a form another site
	// could post) the cookie counts for nothing.
	decode := func(namespace string) int {
		req, err := http.NewRequest(http.MethodPost, h.url+"/codec/decode", strings.NewReader(`{"payloads":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if namespace != "" {
			req.Header.Set("X-Namespace", namespace)
		}
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := decode("default"); got != http.StatusOK {
		t.Errorf("decode with the cookie and X-Namespace: got %d, want 200", got)
	}
	if got := decode(""); got != http.StatusUnauthorized {
		t.Errorf("decode with the cookie alone: got %d, want 401", got)
	}
}

func TestCodecTakesTheEmptyListProtobufLeavesOut(t *testing.T) {
	h := newHarness(t)
	req, err := http.NewRequest(http.MethodPost, h.url+"/codec/encode", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.login("admin").token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != `{"payloads":[]}` {
		t.Errorf("encode of no payloads (a query without arguments): got %d %s, want 200 and none", resp.StatusCode, b)
	}
}
