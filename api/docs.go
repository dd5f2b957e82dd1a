package api

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io"
	"net/http"
	"strings"
)

// docsFiles is the /docs page: Coffer's own page and init script, and Swagger UI's assets
// stored gzipped (docs/README.md says where they come from). Nothing is fetched from
// elsewhere when the page loads.
//
//go:embed docs/index.html docs/init.js docs/swagger-ui-bundle.js.gz docs/swagger-ui.css.gz
var docsFiles embed.FS

// docsCSP allows the page only what Coffer serves. Swagger UI sets inline styles.
const docsCSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'"

func (s *Server) registerDocs() {
	s.mux.HandleFunc("GET /docs", serveDocsFile("docs/index.html", "text/html; charset=utf-8"))
	s.mux.HandleFunc("GET /docs/{$}", serveDocsFile("docs/index.html", "text/html; charset=utf-8"))
	s.mux.HandleFunc("GET /docs/init.js", serveDocsFile("docs/init.js", "text/javascript; charset=utf-8"))
	s.mux.HandleFunc("GET /docs/swagger-ui-bundle.js", serveDocsFile("docs/swagger-ui-bundle.js.gz", "text/javascript; charset=utf-8"))
	s.mux.HandleFunc("GET /docs/swagger-ui.css", serveDocsFile("docs/swagger-ui.css.gz", "text/css; charset=utf-8"))
}

// serveDocsFile serves one embedded file. A gzipped file goes as it is to clients that accept
// gzip, and is unpacked for the others.
func serveDocsFile(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := docsFiles.ReadFile(name)
		if err != nil { // cannot happen: the names are embedded
			writeFault(w, internalFault())
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Content-Security-Policy", docsCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "public, max-age=3600")
		if !strings.HasSuffix(name, ".gz") {
			_, _ = w.Write(b)
			return
		}
		h.Add("Vary", "Accept-Encoding")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			h.Set("Content-Encoding", "gzip")
			_, _ = w.Write(b)
			return
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			writeFault(w, internalFault())
			return
		}
		_, _ = io.Copy(w, zr)
	}
}
