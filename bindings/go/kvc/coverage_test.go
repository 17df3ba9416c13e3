// coverage_test.go: every function kvc.h and kvc_tools.h declare is called by this package.
package kvc

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestEveryFunctionOfTheHeaderIsBound(t *testing.T) {
	var declared [][]string
	for _, name := range includedHeaders {
		header, err := os.ReadFile(repoPath("include", filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		found := regexp.MustCompile(`KVC_API[^;(]*?\b(kvc_\w+)\(`).FindAllStringSubmatch(string(header), -1)
		if len(found) < 20 {
			t.Fatalf("only %d functions found in %s", len(found), name)
		}
		declared = append(declared, found...)
	}
	var source strings.Builder
	files, _ := filepath.Glob("*.go")
	cFiles, _ := filepath.Glob("*.c")
	for _, f := range append(files, cFiles...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		source.Write(b)
	}
	for _, d := range declared {
		name := d[1]
		called := strings.Contains(source.String(), "C."+name+"(") ||
			strings.Contains(source.String(), "return "+name+"(")
		if !called && !notYetBound[name] {
			t.Errorf("%s is not bound", name)
		}
	}
}
