package guest_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestContractImportsNothingOfEitherSide keeps the contract a leaf that both sides and
// the gateway can import: the standard library, Coffer's domain types, Temporal's SDK.
func TestContractImportsNothingOfEitherSide(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			switch {
			case !strings.Contains(first, "."): // the standard library
			case path == "github.com/coffer-dbaas/coffer":
			case strings.HasPrefix(path, "go.temporal.io/sdk/"), path == "go.temporal.io/api/enums/v1":
			default:
				t.Errorf("%s imports %s: the contract depends only on the standard library, package coffer and Temporal's SDK", name, path)
			}
		}
	}
}
