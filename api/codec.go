package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"html"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/coffer-dbaas/coffer/codec"
)

// The codec server: Temporal's remote codec protocol (POST <endpoint>/encode and
// <endpoint>/decode, a JSON body {"payloads": [...]} each way), so that the Web UI (its
// codec endpoint) and the Temporal CLI (--codec-endpoint) show Coffer's encrypted payloads
// in clear text. It decodes with the key every role encrypts Temporal's payloads with, so
// it answers admins only: a Keystone token with the admin role, which the Web UI passes as
// "Authorization: Bearer <token>" (its codec's pass-access-token option) and the CLI as
// --codec-auth. Every answer is written to the log with who asked and what it held.

// CodecPath is where the codec server's endpoint is: give the Web UI and the CLI
// <api URL>/codec.
const CodecPath = "/codec"

// codecPayload is a Temporal payload as the codec protocol carries it (protobuf's JSON: the
// bytes in base64).
type codecPayload struct {
	Metadata map[string][]byte `json:"metadata,omitempty"`
	Data     []byte            `json:"data,omitempty"`
}

// CodecBody is what the codec endpoints read and answer.
type CodecBody struct {
	// Not required: protobuf's JSON leaves out an empty list, as the CLI sends a query's
	// (empty) arguments.
	Payloads []codecPayload `json:"payloads" required:"false" doc:"Temporal payloads in protobuf's JSON form: metadata values and data in base64." nullable:"false"`
}

// CodecRequest is a request of the codec protocol.
type CodecRequest struct {
	Authorization string `header:"Authorization" doc:"Bearer <Keystone token> (the Web UI's access token, the CLI's --codec-auth); a bare token is accepted too."`
	AuthToken     string `header:"X-Auth-Token" doc:"A Keystone token, as the rest of the API takes it."`
	Namespace     string `header:"X-Namespace" doc:"The Temporal namespace the payloads are from (the Web UI sends it); logged, and required with the sign-in cookie."`
	Cookie        string `cookie:"coffer_codec_token" doc:"The token an operator signed in with at /codec/login, which the Web UI sends with its include-credentials option; only with X-Namespace, which no other site can send without the CORS preflight."`
	Body          CodecBody
}

// codecCookie holds the token of an operator who signed in at /codec/login.
const codecCookie = "coffer_codec_token"

// CodecResponse holds the payloads encoded or decoded.
type CodecResponse struct {
	Body CodecBody
}

func (s *Server) registerCodec() {
	tags := []string{"Codec"}
	for _, op := range []struct{ name, summary string }{
		{"decode", "Decode Temporal payloads for an operator"},
		{"encode", "Encode Temporal payloads for an operator"},
	} {
		huma.Register(s.api, huma.Operation{
			OperationID: "codec" + strings.ToUpper(op.name[:1]) + op.name[1:],
			Method:      http.MethodPost,
			Path:        CodecPath + "/" + op.name,
			Summary:     op.summary,
			Description: "Temporal's remote codec protocol, for the Web UI's codec endpoint and the CLI's --codec-endpoint (both given " + CodecPath + "). " +
				"Admins only: a Keystone token with the admin role in Authorization (Bearer) or X-Auth-Token; 401 without a valid token, 403 without the role. " +
				"Every call is audit-logged with the caller. Browsers may call it from the origins api.codec_origins lists.",
			Tags:     tags,
			Security: []map[string][]string{{"keystone": {}}},
			Errors:   []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusServiceUnavailable},
		}, func(ctx context.Context, in *CodecRequest) (*CodecResponse, error) {
			return s.codecCall(ctx, op.name, in)
		})
	}
}

// codecCall authenticates an admin and encodes or decodes the payloads.
func (s *Server) codecCall(ctx context.Context, op string, in *CodecRequest) (*CodecResponse, error) {
	log := s.log.With("codec", op, "namespace", in.Namespace, "payloads", len(in.Body.Payloads))
	token := in.AuthToken
	if token == "" && in.Cookie != "" && in.Namespace != "" {
		token = in.Cookie
	}
	if auth := strings.TrimSpace(in.Authorization); auth != "" {
		token = auth
		if scheme, rest, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
			token = strings.TrimSpace(rest)
		}
	}
	if token == "" {
		log.WarnContext(ctx, "codec refused: no token")
		return nil, unauthorized("The codec needs a Keystone token with the admin role (Authorization: Bearer <token>).")
	}
	p, err := s.keystone.validate(ctx, token)
	switch {
	case errors.Is(err, errInvalidToken):
		log.WarnContext(ctx, "codec refused: invalid token")
		return nil, unauthorized("The request you have made requires authentication.")
	case err != nil:
		return nil, faultFor(ctx, s.log, err, "token")
	}
	log = log.With("user", p.UserName, "user_id", p.UserID, "project_id", p.ProjectID)
	if !p.IsAdmin() {
		log.WarnContext(ctx, "codec refused: not an admin")
		return nil, forbidden("User does not have admin privileges: only admins may decode Temporal payloads.")
	}

	payloads := make([]*commonpb.Payload, len(in.Body.Payloads))
	for i, cp := range in.Body.Payloads {
		payloads[i] = &commonpb.Payload{Metadata: cp.Metadata, Data: cp.Data}
	}
	var out []*commonpb.Payload
	if op == "encode" {
		out, err = s.codec.Encode(payloads)
	} else {
		out, err = decodeEach(s.codec, payloads)
	}
	if err != nil {
		log.WarnContext(ctx, "codec failed", "error", err)
		return nil, badRequest("The payloads could not be %sd: %v.", op, err)
	}
	resp := &CodecResponse{}
	resp.Body.Payloads = make([]codecPayload, len(out))
	for i, p := range out {
		resp.Body.Payloads[i] = codecPayload{Metadata: p.GetMetadata(), Data: p.GetData()}
	}
	// The audit trail: who, and which payloads (by the digest of what they sent, which an
	// auditor can match against the history), never their content.
	log.InfoContext(ctx, "codec "+op+" for an operator", "digests", payloadDigests(payloads), "encodings", payloadEncodings(out))
	return resp, nil
}

// decodeEach decodes the payloads one by one: a payload that is not the codec's (the Web UI
// sends every payload of a history, plain ones included) comes back as it is.
func decodeEach(c converter.PayloadCodec, payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if !codec.Encrypted(p) {
			out[i] = p
			continue
		}
		d, err := c.Decode([]*commonpb.Payload{p})
		if err != nil {
			return nil, err
		}
		out[i] = d[0]
	}
	return out, nil
}

// payloadDigests are the first bytes of each payload's SHA-256, in hex.
func payloadDigests(payloads []*commonpb.Payload) []string {
	out := make([]string, len(payloads))
	for i, p := range payloads {
		sum := sha256.Sum256(p.GetData())
		out[i] = hex.EncodeToString(sum[:8])
	}
	return out
}

// payloadEncodings are the encodings of the payloads (json/plain, binary/null, ...).
func payloadEncodings(payloads []*commonpb.Payload) []string {
	out := make([]string, len(payloads))
	for i, p := range payloads {
		out[i] = string(p.GetMetadata()[converter.MetadataEncoding])
	}
	return out
}

// registerCodecLogin serves /codec/login: a page where an operator signs the browser in to
// the codec server with a Keystone token, which it keeps in a cookie for the Web UI's
// include-credentials option. The Web UI passes its own access token only when it has an
// OIDC login of its own, and forgets any other; this is the way for a Web UI without one
// (coffer-dev's). The token must be an admin's; it is checked at once.
func (s *Server) registerCodecLogin() {
	s.mux.HandleFunc("GET "+CodecPath+"/login", func(w http.ResponseWriter, r *http.Request) {
		writeLoginPage(w, http.StatusOK, "")
	})
	s.mux.HandleFunc("POST "+CodecPath+"/login", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		token := strings.TrimSpace(r.PostFormValue("token"))
		p, err := s.keystone.validate(ctx, token)
		switch {
		case token == "" || errors.Is(err, errInvalidToken):
			s.log.WarnContext(ctx, "codec sign-in refused: invalid token")
			writeLoginPage(w, http.StatusUnauthorized, "Keystone does not know this token.")
			return
		case err != nil:
			s.log.WarnContext(ctx, "codec sign-in: validate token", "error", err)
			writeLoginPage(w, http.StatusServiceUnavailable, "Keystone did not answer; try again.")
			return
		case !p.IsAdmin():
			s.log.WarnContext(ctx, "codec sign-in refused: not an admin", "user", p.UserName, "user_id", p.UserID)
			writeLoginPage(w, http.StatusForbidden, "Only admins may decode Temporal payloads.")
			return
		}
		// Secure and SameSite=None: the Web UI is another site (another scheme or port) and
		// sends it only to an https codec endpoint; HttpOnly: no page's script reads it.
		http.SetCookie(w, &http.Cookie{
			Name: codecCookie, Value: token, Path: CodecPath, Expires: p.ExpiresAt,
			Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode,
		})
		s.log.InfoContext(ctx, "codec sign-in", "user", p.UserName, "user_id", p.UserID, "project_id", p.ProjectID)
		writeLoginPage(w, http.StatusOK, "Signed in as "+p.UserName+": the Web UI shows Temporal payloads decoded until the token expires.")
	})
}

// writeLoginPage writes the codec server's sign-in page with a message.
func writeLoginPage(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `<!doctype html><html><head><title>Coffer codec server</title></head><body>
<h1>Coffer codec server</h1>
<p id="message">`+html.EscapeString(message)+`</p>
<form method="post" action="login">
<p>An admin's Keystone token (<code>openstack token issue -f value -c id</code>), for the Temporal Web UI to decode payloads with:</p>
<input type="password" name="token" id="token" size="60" autocomplete="off">
<button type="submit" id="sign-in">Sign in</button>
</form></body></html>
`)
}

// serveCodecCORS answers the browser's preflight of a codec call, and allows the origins
// api.codec_origins lists (the Web UI's) to read the answers. It reports whether it
// answered the request itself.
func (s *Server) serveCodecCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	allowed := origin != "" && slices.Contains(s.codecOrigins, origin)
	if allowed {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
	}
	if r.Method != http.MethodOptions {
		return false
	}
	if !allowed {
		s.log.WarnContext(r.Context(), "codec preflight from an origin not in api.codec_origins", "origin", origin)
		w.WriteHeader(http.StatusForbidden)
		return true
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Authorization-Extras, X-Namespace, X-Auth-Token")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}
