package devcloud

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Swift's tempurl middleware: a request that carries no token but temp_url_sig and
// temp_url_expires (and, for a signature over a prefix, temp_url_prefix) is allowed when
// the signature is the HMAC, under one of the account's or the container's temp URL keys
// (X-Account-Meta-Temp-URL-Key[-2], X-Container-Meta-Temp-URL-Key[-2]), of
//
//	METHOD\nEXPIRES\nPATH
//
// where PATH is /v1/<account>/<container>/<object>, or prefix:/v1/<account>/<container>/<prefix>
// for a prefix-based one; the signature is hex SHA-1 or SHA-256, or "<digest>:" and base64
// (sha1, sha256, sha512). Only objects are reached this way (never an account or a container
// listing), only until expires, only with the method signed (HEAD also with a GET or PUT
// signature), and only objects whose name starts with the prefix. A static large object's
// manifest PUT through a temp URL may name segments under the same prefix only, so that a
// temp URL never reads, through a manifest, what it could not read directly.

// tempURLMethods are the methods a temp URL may be signed for (tempurl's default methods).
var tempURLMethods = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete}

// tempURLScope is what a request authorized by a temp URL may reach.
type tempURLScope struct {
	container, prefix string
}

type tempURLScopeKey struct{}

// tempURLScopeOf returns the scope of a request a temp URL authorized.
func tempURLScopeOf(r *http.Request) (tempURLScope, bool) {
	s, ok := r.Context().Value(tempURLScopeKey{}).(tempURLScope)
	return s, ok
}

// allows reports whether the scope reaches object "/container/object" of a manifest.
func (s tempURLScope) allows(container, object string) bool {
	return container == s.container && strings.HasPrefix(object, s.prefix)
}

// authorizeTempURL checks a request's temp URL and returns it with its scope, or answers
// 401 as Swift does and returns nil.
func (s *swift) authorizeTempURL(w http.ResponseWriter, r *http.Request) *http.Request {
	deny := func() *http.Request {
		s.c.fail(w, "object-store", http.StatusUnauthorized, "Unauthorized. This server could not verify that you are authorized to access the document you requested.")
		return nil
	}
	q := r.URL.Query()
	sig, expiresText := q.Get("temp_url_sig"), q.Get("temp_url_expires")
	prefix, hasPrefix := q.Get("temp_url_prefix"), q.Has("temp_url_prefix")
	account, container, object := r.PathValue("account"), r.PathValue("container"), r.PathValue("object")
	expires, err := strconv.ParseInt(expiresText, 10, 64)
	switch {
	case sig == "" || err != nil, container == "" || object == "",
		s.c.now().Unix() >= expires,
		hasPrefix && !strings.HasPrefix(object, prefix),
		r.Header.Get("X-Object-Manifest") != "": // a dynamic manifest could name anything
		return deny()
	}
	path := "/v1/" + account + "/" + container + "/" + object
	if hasPrefix {
		path = "prefix:/v1/" + account + "/" + container + "/" + prefix
	}
	methods := []string{r.Method}
	if r.Method == http.MethodHead {
		methods = append(methods, http.MethodGet, http.MethodPut)
	}
	keys := s.tempURLKeys(account, container)
	for _, m := range methods {
		if !slices.Contains(tempURLMethods, m) {
			continue
		}
		for _, key := range keys {
			if validTempURLSignature(sig, key, fmt.Sprintf("%s\n%d\n%s", m, expires, path)) {
				scope := tempURLScope{container: container, prefix: prefix}
				if !hasPrefix {
					scope.prefix = object
				}
				return r.WithContext(context.WithValue(r.Context(), tempURLScopeKey{}, scope))
			}
		}
	}
	return deny()
}

// tempURLKeys are the account's and the container's temp URL keys.
func (s *swift) tempURLKeys(account, container string) []string {
	var keys []string
	add := func(meta map[string]string) {
		for k, v := range meta {
			if (strings.EqualFold(k, "Temp-Url-Key") || strings.EqualFold(k, "Temp-Url-Key-2")) && v != "" {
				keys = append(keys, v)
			}
		}
	}
	if a, err := s.store.account(account); err == nil {
		add(a.Meta)
	}
	if c, err := s.store.container(account, container); err == nil {
		add(c.Meta)
	}
	return keys
}

// validTempURLSignature reports whether sig is the HMAC of body under key, in one of the
// forms Swift takes.
func validTempURLSignature(sig, key, body string) bool {
	var (
		digest func() hash.Hash
		want   []byte
		err    error
	)
	if alg, b64, ok := strings.Cut(sig, ":"); ok {
		switch alg {
		case "sha1":
			digest = sha1.New
		case "sha256":
			digest = sha256.New
		case "sha512":
			digest = sha512.New
		default:
			return false
		}
		want, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(b64, "="))
	} else {
		switch len(sig) {
		case 2 * sha1.Size:
			digest = sha1.New
		case 2 * sha256.Size:
			digest = sha256.New
		default:
			return false
		}
		want, err = hex.DecodeString(sig)
	}
	if err != nil {
		return false
	}
	mac := hmac.New(digest, []byte(key))
	mac.Write([]byte(body))
	return hmac.Equal(mac.Sum(nil), want)
}
