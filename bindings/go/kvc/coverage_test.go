// coverage_test.go: every function kvc.h declares is called by this package.
package kvc

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestEveryFunctionOfTheHeaderIsBound(t *testing.T) {
	header, err := os.ReadFile(repoPath("include", "kvc", "kvc.h"))
	if err != nil {
		t.Fatal(err)
	}
	declared := regexp.MustCompile(`KVC_API[^;(]*?\b(kvc_\w+)\(`).FindAllStringSubmatch(string(header), -1)
	if len(declared) < 40 {
		t.Fatalf("only %d functions found in kvc.h", len(declared))
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
